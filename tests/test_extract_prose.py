"""What counts as prose: filters, reference sections, boilerplate and splitting of long paragraphs."""

from __future__ import annotations

import re

from extract_support import austen, settings, wrap

from voiced.extract import extract_text
from voiced.extract.prose import is_prose, sentences, split_long


def texts(text: str, fmt: str = "markdown", **changes: int) -> list[str]:
    return [p.text for p in extract_text(text, fmt, settings(**changes)).passages]


def test_long_paragraph_splits_at_sentence_ends_near_the_limit() -> None:
    long = " ".join(austen(6, words=(60, 120)))
    pieces = texts(long, "text", max_passage_words=120)
    assert " ".join(pieces) == long
    assert len(pieces) >= len(long.split()) // 120 + 1
    for piece in pieces:
        assert 40 <= len(piece.split()) <= 120
        assert re.search(r"[.!?;:][\"'”’)]*$", piece) or piece.endswith("--"), piece[-40:]


def test_sentences_do_not_end_at_titles_or_initials() -> None:
    text = "Mr. Elliot called on Mrs. Clay at St. Ives. J. Austen wrote it. Did he? Yes!"
    assert sentences(text) == ["Mr. Elliot called on Mrs. Clay at St. Ives.", "J. Austen wrote it.", "Did he?", "Yes!"]


def test_a_sentence_longer_than_the_limit_is_cut_between_words() -> None:
    sentence = " ".join(["word"] * 25) + "."
    assert [len(piece.split()) for piece in split_long(sentence, 10)] == [10, 10, 5]


def test_reference_sections_are_skipped_until_the_next_section_of_their_level() -> None:
    p = austen(3, start=110)
    note = f"""# Essay

{p[0]}

## References

Austen, J. (1818). Persuasion. London: John Murray, 4 vols, a long citation line.

Some unstructured remark the writer put into the references section by hand.

### Primary sources

A nested subsection of the reference list, still not the writer's own prose.

## Afterword

{p[1]}

# Next part

{p[2]}
"""
    assert texts(note) == p


def test_citation_shaped_lines_are_not_prose_even_outside_a_reference_section() -> None:
    [para] = austen(1, start=120)
    lines = [
        para,
        "Smith, J. A., & Jones, B. (2019). The novel and its readers. Journal of Fiction, 12(3), 45-67.",
        "[3] Butler, M. Jane Austen and the War of Ideas. Oxford: Clarendon Press, 1975, pp. 12-40.",
        "Tanner, Tony. Jane Austen. Cambridge: Harvard University Press, 1986. doi:10.1000/xyz123",
    ]
    assert texts("\n\n".join(lines), "text") == [para]


def test_links_numbers_and_code_lines_are_not_prose() -> None:
    [para] = austen(1, start=130)
    noise = [
        "See https://example.org/a and https://example.org/b and www.example.com/c for links.",
        "12 34 56 78 90 11 22 33 44 55 66 77 88 99 2024 1818",
        "for (int i = 0; i < n; i++) { total += values[i]; } // loop",
        "CHAPTER XXIV",
        "Chapter the Twelfth",
    ]
    assert texts("\n\n".join([para, *noise]), "text", min_passage_words=1) == [para]


def test_min_passage_words_decides_short_fragments() -> None:
    text = "She smiled at him.\n\nAnne walked down to the Cobb with Captain Wentworth and Louisa."
    assert texts(text, "text") == ["Anne walked down to the Cobb with Captain Wentworth and Louisa."]
    assert texts(text, "text", min_passage_words=3) == [
        "She smiled at him.",
        "Anne walked down to the Cobb with Captain Wentworth and Louisa.",
    ]


def test_austen_dialogue_and_dates_still_count_as_prose() -> None:
    for para in austen(40):
        assert is_prose(para, settings()), para


def test_whole_novel_keeps_nearly_every_paragraph(austen_dir) -> None:
    """Persuasion's real paragraphs (not headings or the title page) all survive, each in its chapter."""
    text = (austen_dir / "persuasion.txt").read_text(encoding="utf-8")
    passages = extract_text(text, "text", settings()).passages
    long_paragraphs = [" ".join(b.split()) for b in text.split("\n\n") if len(b.split()) >= 12]
    kept = {p.text for p in passages}
    missing = [p for p in long_paragraphs if p not in kept and len(p.split()) <= settings().max_passage_words]
    assert len(missing) <= len(long_paragraphs) // 100, missing[:3]
    assert passages[0].section == ("Chapter 1",) and passages[-1].section[0].startswith("Chapter")
    assert wrap(passages[0].text)  # whitespace-normalised: one line, no double spaces
    assert all("  " not in p.text and "\n" not in p.text for p in passages)


def test_volume_lines_hold_the_chapter_lines_of_a_plain_text_novel(austen_dir) -> None:
    """Emma restarts its chapter numbers in each volume; the section path keeps them apart."""
    passages = extract_text((austen_dir / "emma.txt").read_text(encoding="utf-8"), "text", settings()).passages
    sections = list(dict.fromkeys(p.section for p in passages))
    assert sections[0] == ("VOLUME I", "CHAPTER I") and sections[-1] == ("VOLUME III", "CHAPTER XIX")
    assert len(sections) == 55 and ("VOLUME II", "CHAPTER I") in sections


def test_a_writers_own_start_of_line_is_not_a_licence_marker() -> None:
    p = austen(2, start=160)
    text = f"{p[0]}\n\n*** Start of part two ***\n\n{p[1]}\n\n*** End of part two ***\n"
    kept = texts(text, "text")
    assert p[0] in kept and p[1] in kept


def test_short_prose_with_semicolons_prices_and_numbers_is_kept() -> None:
    lines = [
        "Yes; no; perhaps so, she said at last.",
        "It cost $5 at first and $10 by #3 of the series.",
        "She read 5 * 3 = 15 aloud, laughing.",
    ]
    assert texts("\n\n".join(lines), "markdown") == lines


def test_markdown_paragraphs_made_mostly_of_links_are_navigation() -> None:
    [para] = austen(1, start=180)
    moc = (
        "See also [[Persuasion notes]], [[Emma characters and settings]], "
        "[the Mansfield Park timeline](mansfield.md) and [[Northanger Abbey]]."
    )
    assert texts(f"{moc}\n\n{para.replace('Anne', '[[Anne Elliot|Anne]]')}\n", "markdown") == [para]
