"""Golden extraction of the text formats: real Austen prose wrapped in each format's markup and noise.

Each test asserts the exact passages (section path and text, in order), so any
markup that leaks into the prose, or prose that goes missing, fails it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from extract_support import austen, settings, wrap

from voiced.extract import Passage, extract_file, extract_text, is_supported


def golden(passages: list[Passage]) -> list[tuple[tuple[str, ...], str]]:
    assert [p.order for p in passages] == list(range(len(passages)))
    return [(p.section, p.text) for p in passages]


def test_obsidian_note_keeps_prose_and_drops_everything_else(tmp_path: Path) -> None:
    p = austen(6)
    note = f"""---
title: Kellynch notes
tags: [austen, persuasion]
aliases: ["This front matter is a long line that would pass as prose"]
---
# Kellynch Hall

{wrap(p[0]).replace("Kellynch Hall", "[[Kellynch Hall]]", 1).replace("Baronetage", "*Baronetage*", 1)}[^1]

```python
def baronetage(reader):  # a code fence with enough words to look like prose
    return "the favourite volume always opened at this page"
```

    indented code block that has quite a few words in it as well

| Name | Born | Note about the person in many words |
|------|------|-------------------------------------|
| Walter Elliot | 1760 | the baronet of Kellynch Hall, vain of his looks |

> [!quote] From the Baronetage
> {p[1]}

%% an Obsidian comment, which the writer hid on purpose from any reader %%
<!-- an HTML comment spanning
two lines, with plenty of words -->

![a picture of the hall with a long alt text](hall.png) ![[kellynch-hall.jpg]]

## The family

{p[2].replace("Sir Walter", "[Sir Walter](https://example.org/sir-walter)", 1)}

- {p[3].replace("Elliot", "**Elliot**", 1)}
- a short list item

{p[4].replace("Sir Walter", "[[Walter Elliot|Sir Walter]]", 1)} `code span`

[^1]: Debrett's Baronetage of England, a footnote that is not the writer's running prose.

Setext heading
--------------

{p[5]} $e^{{i\\pi}} + 1 = 0$ $$\\int_0^1 x\\,dx$$
"""
    path = tmp_path / "Kellynch.md"
    path.write_text(note, encoding="utf-8")
    result = extract_file(path, settings())
    assert result.notes == []
    assert golden(result.passages) == [
        (("Kellynch Hall",), p[0]),
        (("Kellynch Hall",), p[1]),
        (("Kellynch Hall", "The family"), p[2]),
        (("Kellynch Hall", "The family"), p[3]),
        (("Kellynch Hall", "The family"), p[4]),
        (("Kellynch Hall", "Setext heading"), p[5]),
    ]


def test_markdown_inline_markup_reduces_to_the_words() -> None:
    text = (
        "She said *quietly* that **Anne** had ~~never~~ ==always== read [the novel](http://x.org/a_(b)) "
        "and [[Uppercross#Cottage]] with [[Lyme|the Cobb]] at &amp; near #tag her &lt;home&gt; <b>now</b>."
    )
    [passage] = extract_text(text, "markdown", settings()).passages
    assert passage.text == (
        "She said quietly that Anne had never always read the novel and Uppercross with "
        "the Cobb at & near her <home> now."
    )


def test_plain_text_joins_wrapped_lines_and_uses_chapter_lines_as_sections(tmp_path: Path) -> None:
    p = austen(4, start=10)
    text = (
        f"Persuasion\n\n\nby\n\nJane Austen\n\n(1818)\n\n\n\nCHAPTER I\n\n\n{wrap(p[0])}\n\n{wrap(p[1], 60)}\n\n"
        f"Chapter 2\n\n{wrap(p[2])}\n\n        THE END\n\n{p[3]}\n"
    )
    path = tmp_path / "persuasion.txt"
    path.write_text(text, encoding="utf-8")
    assert golden(extract_file(path, settings()).passages) == [
        (("CHAPTER I",), p[0]),
        (("CHAPTER I",), p[1]),
        (("Chapter 2",), p[2]),
        (("Chapter 2",), p[3]),
    ]


def test_gutenberg_licence_blocks_are_left_out() -> None:
    p = austen(2, start=20)
    licence = (
        "The Project Gutenberg eBook of Persuasion. This eBook is for the use of anyone anywhere in the "
        "United States and most other parts of the world at no cost and with almost no restrictions."
    )
    text = (
        f"{licence}\n\n*** START OF THE PROJECT GUTENBERG EBOOK PERSUASION ***\n\n{wrap(p[0])}\n\n{p[1]}\n\n"
        f"*** END OF THE PROJECT GUTENBERG EBOOK PERSUASION ***\n\n{licence} Updated editions will replace it.\n"
    )
    assert [x.text for x in extract_text(text, "text", settings()).passages] == p


def test_older_gutenberg_markers_are_recognised_too() -> None:
    [para] = austen(1, start=25)
    small_print = "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*"
    text = (
        f"Legal small print that runs to many words and is not the novel at all.\n\n{small_print}\n\n{para}\n\n"
        "End of the Project Gutenberg EBook of Persuasion, by Jane Austen\n\nMore licence words follow here.\n"
    )
    assert [x.text for x in extract_text(text, "text", settings()).passages] == [para]


def test_restructuredtext(tmp_path: Path) -> None:
    p = austen(4, start=30)
    text = f"""
==========
Persuasion
==========

:Author: Jane Austen, whose docinfo field list is not prose either
:Date: 1818

Chapter One
===========

{wrap(p[0]).replace("Anne", "*Anne*", 1)} [#]_

.. note::

   An admonition directive whose body has enough words to be a passage.

.. This is a comment that the writer left for themselves, many words long.

{p[1]} :ref:`see-the-family` and `Lyme <https://example.org/lyme>`_ here::

    print("a literal block after a double colon, not prose at all")

Lady Russell
------------

{wrap(p[2])}

=====  =====================================
Name   Description of the person in words
=====  =====================================
Anne   the second daughter of Sir Walter
=====  =====================================

- {p[3]}

.. [#] A footnote body with many words that is not running prose.
"""
    path = tmp_path / "persuasion.rst"
    path.write_text(text, encoding="utf-8")
    assert golden(extract_file(path, settings()).passages) == [
        (("Persuasion", "Chapter One"), p[0]),
        (("Persuasion", "Chapter One"), f"{p[1]} and Lyme here:"),
        (("Persuasion", "Chapter One", "Lady Russell"), p[2]),
        (("Persuasion", "Chapter One", "Lady Russell"), p[3]),
    ]


def test_org_mode(tmp_path: Path) -> None:
    p = austen(4, start=40)
    text = f"""#+TITLE: Persuasion, with a title long enough to count as prose
#+STARTUP: overview
* TODO [#A] Kellynch Hall                                             :austen:novel:
:PROPERTIES:
:CUSTOM_ID: kellynch-hall-with-a-long-property-value that has words
:END:
SCHEDULED: <2024-03-01 Fri>
{wrap(p[0]).replace("Sir Walter", "[[https://example.org/walter][Sir Walter]]", 1)}[fn:1]

#+BEGIN_SRC python
print("a source block with enough words in it to look like a paragraph")
#+END_SRC

** The family
:LOGBOOK:
- State "DONE" from "TODO" [2024-03-02 Sat 10:00] with a long logbook note
:END:
#+begin_quote
{p[1]}
#+end_quote

| Name | Description of the person in a good many words |
|------+------------------------------------------------|
| Anne | the second daughter                            |

# A comment line the writer keeps for themselves, with many words in it.
: fixed width lines are examples, not prose, even with enough words

- {p[2].replace("Elliot", "/Elliot/", 1)}
* Lady Russell
{p[3]} ~code~ =verbatim=

[fn:1] A footnote definition that has enough words to be a passage.
"""
    path = tmp_path / "persuasion.org"
    path.write_text(text, encoding="utf-8")
    assert golden(extract_file(path, settings()).passages) == [
        (("Kellynch Hall",), p[0]),
        (("Kellynch Hall", "The family"), p[1]),
        (("Kellynch Hall", "The family"), p[2]),
        (("Lady Russell",), p[3]),
    ]


def test_latex(tmp_path: Path) -> None:
    p = austen(4, start=50)
    first = wrap(p[0]).replace("Sir Walter", r"\emph{Sir Walter}", 1)
    second = p[1].replace("Elliot", r"\textbf{Elliot}", 1)
    fourth = p[3].replace("Lady Russell", r"\textit{Lady Russell}", 1)
    text = rf"""\documentclass{{book}}
\usepackage{{amsmath}} % the preamble is not prose
\title{{Persuasion, a title long enough to be taken for a paragraph}}
\author{{Jane Austen}}
\begin{{document}}
\maketitle
\chapter{{Kellynch \emph{{Hall}}}}\label{{ch:kellynch}}
{first}~\cite[p.~4]{{austen1818}}% a comment
\begin{{figure}}[t]
  \includegraphics[width=\linewidth]{{kellynch.png}}
  \caption{{Kellynch Hall, in a caption with many words describing it.}}
\end{{figure}}

\section*{{The family}}
{second}\footnote{{A footnote, with {{nested}} braces and many words.}}
\begin{{equation}}
  \text{{vanity}} = \sum_{{i=1}}^{{n}} \text{{looks}}_i + \text{{situation in life}}
\end{{equation}}

{p[2]} Compare $x^2$ and \(y\), see Section~\ref{{ch:kellynch}}.

\subsection{{Lady Russell}}
\begin{{itemize}}
  \item {fourth}
\end{{itemize}}
\end{{document}}
Anything after the end of the document is ignored, however many words it has.
"""
    path = tmp_path / "persuasion.tex"
    path.write_text(text, encoding="utf-8")
    assert golden(extract_file(path, settings()).passages) == [
        (("Kellynch Hall",), p[0]),
        (("Kellynch Hall", "The family"), p[1]),
        (("Kellynch Hall", "The family"), f"{p[2]} Compare and, see Section."),
        (("Kellynch Hall", "The family", "Lady Russell"), p[3]),
    ]


def test_latex_accents_quotes_and_dashes() -> None:
    text = r"She said ``na\"ive caf\'{e} folk''---or so Anne thought -- at 5\% of the time~\ldots"
    [passage] = extract_text(text, "latex", settings(min_passage_words=3)).passages
    assert passage.text == "She said “naïve café folk”—or so Anne thought – at 5% of the time …"


@pytest.mark.parametrize(
    "name, supported",
    [
        ("a.md", True),
        ("a.MARKDOWN", True),
        ("a.txt", True),
        ("a.text", True),
        ("a.rst", True),
        ("a.org", True),
        ("a.tex", True),
        ("a.docx", True),
        ("a.odt", True),
        ("a.pdf", False),
        ("a.doc", False),
        ("Makefile", False),
    ],
)
def test_is_supported(name: str, supported: bool) -> None:
    assert is_supported(Path(name)) is supported


def test_unknown_text_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="markdown"):
        extract_text("Some words here", "pdf", settings())


def test_plain_text_contents_chapter_lines_atop_blocks_and_indented_paragraphs() -> None:
    p = austen(4, start=140)
    contents = "CONTENTS\n\nCHAPTER I. The Elliots of Kellynch\nCHAPTER II. Mr Shepherd\nCHAPTER III. The Navy\n"
    indented = "\n".join(f"    {wrap(x, 60)}" for x in p[2:])  # first lines indented, no blank lines
    text = f"{contents}\nCHAPTER I.\n{wrap(p[0])}\n\n{wrap(p[1])}\n\nCHAPTER II\n{indented}\n"
    assert golden(extract_text(text, "text", settings()).passages) == [
        (("CHAPTER I.",), p[0]),
        (("CHAPTER I.",), p[1]),
        (("CHAPTER II",), p[2]),
        (("CHAPTER II",), p[3]),
    ]


def test_embedded_code_is_dropped_in_markdown_and_latex() -> None:
    [para] = austen(1, start=150)
    markdown = f"<script>\nvar prose = 'a script with enough words to look like a paragraph';\n</script>\n\n{para}\n"
    assert [x.text for x in extract_text(markdown, "markdown", settings()).passages] == [para]
    latex = f"{para} \\verb|x = a % b| and \\verb+y+"
    assert [x.text for x in extract_text(latex, "latex", settings()).passages] == [f"{para} and"]


def test_org_list_item_ends_where_a_line_is_outdented() -> None:
    p = austen(3, start=170)
    head, tail = " ".join(p[0].split()[:10]), " ".join(p[0].split()[10:])
    text = f"* Notes\n- {head}\n  {tail}\n1. {p[1]}\n{p[2]}\n"
    assert [x.text for x in extract_text(text, "org", settings()).passages] == p


def test_markdown_stray_dollar_and_percent_signs_keep_the_prose_between_them() -> None:
    """A `$$` or `%%` pairs only within its paragraph (or closes a block before a blank line)."""
    p = austen(4, start=190)
    note = (
        f"{p[0]}\n\nThe bill came to $$ more than she thought.\n\n{p[1]}\n\n$$\n{p[2]}\n\n"
        f"Prices rose by 50%% that winter.\n\n> [!tip]- A folded callout\n> {p[3]} %%hidden%%\n\n"
        "Then $$ and %% once more, at the end.\n"
    )
    assert golden(extract_text(note, "markdown", settings(min_passage_words=3)).passages) == [
        ((), p[0]),
        ((), "The bill came to $$ more than she thought."),
        ((), p[1]),
        ((), f"$$ {p[2]}"),
        ((), "Prices rose by 50%% that winter."),
        ((), p[3]),
        ((), "Then $$ and %% once more, at the end."),
    ]
