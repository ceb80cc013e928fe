"""Golden extraction of Word (.docx) and OpenDocument (.odt) files built in the test.

The .docx comes from python-docx (styles, header, footer, table, caption) with
the parts python-docx cannot write (tracked changes, comments, footnotes)
added as raw WordprocessingML; the .odt is written with zipfile.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from extract_support import austen, settings, write_zip

from voiced.extract import extract_file

docx = pytest.importorskip("docx")
from docx.oxml import parse_xml  # noqa: E402
from docx.oxml.ns import nsdecls  # noqa: E402

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DELETED = "WORDS THE WRITER DELETED WITH TRACK CHANGES ON"
COMMENT = "A reviewer's comment that must never be taken for the writer's prose."
FOOTNOTE = "A footnote body, with many words, that is not the running text of the book."


def _tracked_paragraph(before: str, inserted: str, after: str) -> object:
    """A paragraph with a tracked insertion, a tracked deletion, a comment anchor and a footnote reference."""
    before, inserted, after = escape(before), escape(inserted), escape(after)
    return parse_xml(
        f"<w:p {nsdecls('w')}>"
        f'<w:r><w:t xml:space="preserve">{before} </w:t></w:r>'
        f'<w:ins w:id="1" w:author="Editor" w:date="2024-01-01T00:00:00Z">'
        f'<w:r><w:t xml:space="preserve">{inserted} </w:t></w:r></w:ins>'
        f'<w:del w:id="2" w:author="Editor" w:date="2024-01-01T00:00:00Z">'
        f'<w:r><w:delText xml:space="preserve">{DELETED} </w:delText></w:r></w:del>'
        f'<w:commentRangeStart w:id="0"/>'
        f"<w:r><w:t>{after}</w:t></w:r>"
        f'<w:commentRangeEnd w:id="0"/><w:r><w:commentReference w:id="0"/></w:r>'
        f'<w:r><w:footnoteReference w:id="1"/></w:r>'
        f'<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        f'<w:r><w:instrText xml:space="preserve"> PAGEREF _Toc123 \\h </w:instrText></w:r>'
        f'<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        f"</w:p>"
    )


def _add_parts(path: Path) -> None:
    """Add comments and footnotes parts, as Word writes them beside document.xml."""
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(
            "word/comments.xml",
            f'<w:comments xmlns:w="{W_NS}"><w:comment w:id="0" w:author="R">'
            f"<w:p><w:r><w:t>{COMMENT}</w:t></w:r></w:p></w:comment></w:comments>",
        )
        archive.writestr(
            "word/footnotes.xml",
            f'<w:footnotes xmlns:w="{W_NS}"><w:footnote w:id="1">'
            f"<w:p><w:r><w:t>{FOOTNOTE}</w:t></w:r></w:p></w:footnote></w:footnotes>",
        )


def test_docx_keeps_the_current_text_under_its_headings(tmp_path: Path) -> None:
    p = austen(5, start=60)
    words = p[1].split()
    before, inserted, after = " ".join(words[:8]), " ".join(words[8:12]), " ".join(words[12:])
    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "Persuasion, a running header repeated on every single page"
    section.footer.paragraphs[0].text = "Page footer text that is repeated on every page of the book"
    document.add_paragraph("Persuasion", style="Title")
    document.add_paragraph("The Elliots", style="Heading 1")
    document.add_paragraph(p[0])
    document.add_paragraph("Kellynch Hall", style="Heading 2")
    anchor = document.add_paragraph("placeholder")
    anchor._p.addnext(_tracked_paragraph(before, inserted, after))
    anchor._p.getparent().remove(anchor._p)
    document.add_paragraph().add_run("The Family").bold = True
    document.add_paragraph(p[2])
    table = document.add_table(rows=1, cols=1)
    table.rows[0].cells[0].text = "A table cell holding a sentence of many words that is not prose."
    document.add_paragraph("Figure 1: Kellynch Hall as drawn in a caption with many words.", style="Caption")
    document.add_paragraph("References", style="Heading 1")
    document.add_paragraph("Austen, J. (1818). Persuasion. London: John Murray, a publisher of many books.")
    document.add_paragraph("Lady Russell", style="Heading 1")
    document.add_paragraph(p[3])
    document.add_paragraph("")
    document.add_paragraph(p[4], style="Body Text")
    path = tmp_path / "persuasion.docx"
    document.save(path)
    _add_parts(path)

    result = extract_file(path, settings())
    assert [(x.section, x.text) for x in result.passages] == [
        (("Persuasion", "The Elliots"), p[0]),
        (("Persuasion", "The Elliots", "Kellynch Hall"), f"{before} {inserted} {after}"),
        (("Persuasion", "The Elliots", "Kellynch Hall", "The Family"), p[2]),
        (("Persuasion", "Lady Russell"), p[3]),
        (("Persuasion", "Lady Russell"), p[4]),
    ]
    everything = " ".join(x.text for x in result.passages)
    for absent in (DELETED, COMMENT, FOOTNOTE, "header", "footer", "table cell", "caption", "PAGEREF", "Murray"):
        assert absent not in everything


def test_docx_heading_styles_resolve_through_style_names(tmp_path: Path) -> None:
    """Localised Word files name the style id differently ("berschrift1"); styles.xml maps it to "heading 1"."""
    [para] = austen(1, start=70)
    body = (
        f'<w:document xmlns:w="{W_NS}"><w:body>'
        f'<w:p><w:pPr><w:pStyle w:val="berschrift1"/></w:pPr><w:r><w:t>Erstes Kapitel</w:t></w:r></w:p>'
        f"<w:p><w:r><w:t>{para}</w:t></w:r></w:p></w:body></w:document>"
    )
    styles = (
        f'<w:styles xmlns:w="{W_NS}"><w:style w:type="paragraph" w:styleId="berschrift1">'
        f'<w:name w:val="heading 1"/></w:style></w:styles>'
    )
    path = write_zip(tmp_path / "kapitel.docx", {"word/document.xml": body, "word/styles.xml": styles})
    [passage] = extract_file(path, settings()).passages
    assert (passage.section, passage.text) == (("Erstes Kapitel",), para)


def test_odt_headings_paragraphs_lists_and_skipped_parts(tmp_path: Path) -> None:
    p = austen(4, start=80)
    x = [escape(para) for para in p]
    content = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.3">
<office:body><office:text>
<text:tracked-changes><text:changed-region text:id="c1"><text:deletion>
  <text:p>{DELETED}</text:p></text:deletion></text:changed-region></text:tracked-changes>
<text:h text:outline-level="1">Kellynch Hall</text:h>
<text:p text:style-name="Text_20_body">{escape(p[0][:40])}<text:note text:note-class="footnote">\
<text:note-citation>1</text:note-citation>
<text:note-body><text:p>{FOOTNOTE}</text:p></text:note-body></text:note>{escape(p[0][40:])}</text:p>
<text:p><office:annotation><dc:creator>R</dc:creator><text:p>{COMMENT}</text:p></office:annotation>{x[1]}</text:p>
<text:h text:outline-level="2">The <text:span>family</text:span></text:h>
<text:list><text:list-item><text:p>{x[2].replace(" ", "<text:s/>", 1)}</text:p></text:list-item></text:list>
<table:table><table:table-row><table:table-cell><text:p>A table cell holding a sentence of many words.</text:p>
</table:table-cell></table:table-row></table:table>
<text:p>{x[3]}</text:p>
</office:text></office:body></office:document-content>"""
    path = write_zip(
        tmp_path / "persuasion.odt", {"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": content}
    )
    result = extract_file(path, settings())
    assert [(x.section, x.text) for x in result.passages] == [
        (("Kellynch Hall",), p[0]),
        (("Kellynch Hall",), p[1]),
        (("Kellynch Hall", "The family"), p[2]),
        (("Kellynch Hall", "The family"), p[3]),
    ]


def test_docx_hidden_text_is_not_prose(tmp_path: Path) -> None:
    [para] = austen(1, start=75)
    body = (
        f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t xml:space="preserve">{escape(para)} </w:t></w:r>'
        f"<w:r><w:rPr><w:vanish/></w:rPr><w:t>hidden words the writer switched off</w:t></w:r></w:p>"
        f"</w:body></w:document>"
    )
    path = write_zip(tmp_path / "hidden.docx", {"word/document.xml": body})
    assert [x.text for x in extract_file(path, settings()).passages] == [para]
