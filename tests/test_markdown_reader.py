"""The one Markdown reader: extraction and the rewrite's chunking agree on what is prose, and no stray
delimiter swallows the prose that follows it."""

from __future__ import annotations

import random

import pytest
from extract_support import austen, settings

from voiced.extract import extract_text
from voiced.inference.markdown_chunks import reassemble, split_markdown
from voiced.markdown_reader import HEADING, PARAGRAPH, read, split_lines, words


def extracted(text: str) -> list[str]:
    return [p.text for p in extract_text(text, "markdown", settings()).passages]


def rewritten(text: str) -> list[str]:
    return [s.text for s in split_markdown(text) if s.is_prose]


@pytest.mark.parametrize(
    "stray",
    [
        "The bill came to $$ more than she had thought, and she said so.",  # inline $$, never closed
        "Prices rose by 50%% that winter, and nobody in the house spoke of it.",  # inline %%, never closed
        "$$ was all the note said, with nothing after it to close the sum.",  # a $$ line opening no block
        "%% a thought the writer began to hide and never closed again",  # a %% line opening no comment
    ],
)
def test_a_stray_delimiter_does_not_swallow_the_prose_up_to_the_next_one(stray: str) -> None:
    p = austen(4, start=40)
    note = f"{p[0]}\n\n{stray}\n\n{p[1]}\n\n{p[2]}\n\n{stray}\n\n{p[3]}\n"
    kept = extracted(note)
    assert all(para in kept for para in p), kept
    assert all(para in rewritten(note) for para in p)


def test_a_dollar_block_with_a_blank_line_is_not_math() -> None:
    p = austen(2, start=50)
    note = f"$$\n{p[0]}\n\n{p[1]}\n$$\n"
    assert extracted(note) == [f"$$ {p[0]}", p[1] + " $$"]


def test_comments_math_and_callout_titles_are_structure_for_both_readers() -> None:
    p = austen(4, start=60)
    hidden = "a note the writer hid from every reader, long enough to pass for a paragraph of prose"
    note = f"""{p[0]}

%%
{hidden}

{hidden}
%%

%% {hidden}
over two lines %%

$$
\\int_0^1 x\\,dx = \\frac{{1}}{{2}} \\quad \\text{{{hidden}}}
$$

> [!note] A callout title that is not running prose
> {p[1]}

{p[2]} %%{hidden}%% \\(x^2\\)

[^1]: {hidden}

{p[3]}
"""
    assert extracted(note) == p
    assert rewritten(note) == [p[0], p[1], f"{p[2]} %%{hidden}%% \\(x^2\\)", p[3]]
    assert reassemble(split_markdown(note), lambda prose: prose) == note


def test_a_comment_opened_by_text_closes_before_the_blank_line() -> None:
    """Only a %% line alone may open a comment over several paragraphs."""
    p = austen(2, start=70)
    note = f"%% a hidden line\n\n{p[0]}\n\n{p[1]} %%\n"
    assert p[0] in extracted(note)


def test_paragraph_lines_know_where_their_text_starts() -> None:
    text = "> - [ ] a task\n>   wrapped\n\n    code\n\n1. numbered\n\n  # Title {#id}\n"
    note = read(text)
    paragraphs = [b for b in note.blocks if b.kind == PARAGRAPH]
    assert [(b.start, b.end, b.starts, b.task) for b in paragraphs] == [(0, 2, (8, 4), True), (5, 6, (3,), False)]
    assert [words(b)[0] for b in paragraphs] == ["a task wrapped", "numbered"]
    [heading] = [b for b in note.blocks if b.kind == HEADING]
    assert (heading.level, words(heading)[0]) == (1, "Title")


def test_lines_are_counted_as_the_parser_counts_them() -> None:
    """A lone carriage return ends a line for CommonMark; a form feed does not."""
    lines = split_lines("one\rtwo\r\nthree\x0cstill three\nfour")
    assert [(line.text, line.end) for line in lines] == [
        ("one", "\r"),
        ("two", "\r\n"),
        ("three\x0cstill three", "\n"),
        ("four", ""),
    ]
    text = "First para.\rsame para\r\rSecond para.\x0c\n"
    assert rewritten(text) == ["First para.\nsame para", "Second para."]
    assert reassemble(split_markdown(text), lambda prose: prose) == text


def test_a_novel_as_a_note_reassembles_byte_for_byte_and_extracts_its_paragraphs() -> None:
    p = austen(200, book="emma")
    note = "---\ntitle: Emma\n---\n" + "\n\n".join(p) + "\n"
    assert reassemble(split_markdown(note), lambda prose: prose) == note
    assert extracted(note) == p
    assert rewritten(note) == p


def test_toml_front_matter_and_a_footnote_over_two_paragraphs_are_not_prose() -> None:
    [para] = austen(1, start=80)
    hidden = "a footnote paragraph long enough to pass for the writer's own running prose"
    note = f'+++\ntitle = "{hidden}"\n+++\n{para}[^1]\n\n[^1]: {hidden}\n\n    {hidden}, continued\n'
    assert extracted(note) == [para]
    assert rewritten(note) == [f"{para}[^1]"]
    assert reassemble(split_markdown(note), lambda prose: prose) == note


_PIECES = (
    *("- ", "* ", "1. ", "2) ", "> ", ">", "  ", "    ", "\t", "```", "~~~", "$$", "%%", "$", "[!note] ", "[ ] "),
    *("[^1]: ", "[^1]", "# ", "---", "+++", "===", "| a | b |", "|---|", "<div>", "<!--", "-->", "word "),
    *("Prose text here. ", "[[x|y]]", "![[e]]", "`c`", "\\(", "\\)", "\n", "\n", "\r\n", "\r", "\n\n"),
    *("\x0c", "\u2028", "\u00a0", "\u3000", "- [x] ", "> [!tip]- ", "  - ", "%% c %%", "$x$ ", "#tag ", "==h== "),
)


@pytest.mark.parametrize(
    "text",
    [
        "> [!tip]- [!note] x\n\u00a0- [x] \r==h== \n",  # a lazy line after a callout, starting with a no-break space
        ">\u2028> ---* |---|$$\n\n",  # text that starts with its own quote marker after Unicode whitespace
        "2) [ ] \n\\)\n",  # a task box with nothing after it on its line
        "|\n\x0c\n]",  # a line of only a form feed, which CommonMark does not count as blank
        ">[!p]\n\x0c\n[",
    ],
)
def test_odd_whitespace_and_markers_reassemble_byte_for_byte(text: str) -> None:
    assert reassemble(split_markdown(text), lambda prose: prose) == text


def test_random_markdown_reassembles_byte_for_byte_and_extracts_without_error() -> None:
    rng = random.Random(5)
    for _ in range(400):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 40)))
        assert reassemble(split_markdown(text), lambda prose: prose) == text, repr(text)
        extracted(text)


def test_words_keep_the_text_of_links_highlights_and_undefined_references() -> None:
    text = "She read [the novel][1], [[Lyme|the Cobb]] and ==twice== [a book][gone] #tag at [[#Uppercross]] ^id1\n\n"
    [block] = read(text + "[1]: https://example.org/novel\n").blocks
    assert words(block) == ("She read the novel, the Cobb and twice a book   at Uppercross", 5)
