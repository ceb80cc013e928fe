"""The Markdown chunker: structure kept byte for byte, only prose handed to the model."""

from __future__ import annotations

import pytest

from voiced.inference.markdown_chunks import reassemble, render, split_long, split_markdown, until_blank_line

DOCUMENT = """\
---
title: Notes on Persuasion
tags: [austen, draft]
---

  # A heading that stays

Anne walked down to the shore
and watched the grey water.  
She did not speak for a long while.

- first item of a list
  wrapped onto a second line
- [ ] a task item
   1. a nested numbered item

> A quotation that should be rewritten,
> over two lines.
>
> > And a nested quotation.

```python
def untouched():
    return "code"
```

    indented code stays as it is
    on every line

Setext heading
==============

| a | b |
|---|---|

***

~~~
tilde fence
~~~
Last paragraph without a newline at the end.   """  # noqa: W291 - two trailing spaces are a hard line break


def _prose_texts(text: str) -> list[str]:
    return [s.text for s in split_markdown(text) if s.is_prose]


@pytest.mark.parametrize(
    "text",
    [
        DOCUMENT,
        DOCUMENT.replace("\n", "\r\n"),
        "",
        "\n\n  \n",
        "Just one line.",
        "  leading spaces and trailing newlines\n\n\n",
        "\tTabbed first line.\n",
        "---\nnot closed front matter\n",
        "* a\n* b\n\n  continuation paragraph of b\n",
    ],
)
def test_identity_rewrite_returns_the_input_byte_for_byte(text: str) -> None:
    assert reassemble(split_markdown(text), lambda prose: prose) == text


def test_only_prose_reaches_the_model() -> None:
    texts = _prose_texts(DOCUMENT)
    assert texts == [
        "Anne walked down to the shore\nand watched the grey water.  \nShe did not speak for a long while.",
        "first item of a list\nwrapped onto a second line",
        "a task item",
        "a nested numbered item",
        "A quotation that should be rewritten,\nover two lines.",
        "And a nested quotation.",
        "Last paragraph without a newline at the end.",
    ]
    joined = "\n".join(texts)
    for kept in ("title:", "heading", "def untouched", "indented code", "Setext", "| a |", "tilde", "***"):
        assert kept not in joined


def test_rewrite_keeps_markers_indentation_and_whitespace() -> None:
    text = "  Intro line.\n\n- item one\n   2. nested item\n> quoted text\n\n"
    out = reassemble(split_markdown(text), lambda prose: prose.upper())
    assert out == "  INTRO LINE.\n\n- ITEM ONE\n   2. NESTED ITEM\n> QUOTED TEXT\n\n"


def test_extra_lines_in_a_rewrite_get_the_continuation_prefix() -> None:
    (item,) = [s for s in split_markdown("> - one line item\n") if s.is_prose]
    assert render(item, "first\nsecond") == "> - first\n>   second\n"
    (para,) = split_markdown("Plain.\r\n")
    assert render(para, "  a\nb  \n") == "a\r\nb\r\n"


def test_streamed_pieces_render_like_the_joined_text() -> None:
    from voiced.inference.markdown_chunks import render_stream

    (item,) = [s for s in split_markdown("- an item\n") if s.is_prose]
    pieces = ["  ", "\n", " New", " words", "\n", "and", " more", "\n\n"]
    assert "".join(render_stream(item, pieces)) == render(item, "".join(pieces)) == "- New words\n  and more\n"


def test_front_matter_only_at_the_start() -> None:
    segments = split_markdown("Text first.\n---\nkey: value\n---\n")
    # a --- after a paragraph is a setext heading underline, not front matter: kept verbatim
    assert _prose_texts("Text first.\n\n---\n\nAfter the rule.\n") == ["Text first.", "After the rule."]
    assert all(not s.is_prose or "key" not in s.text for s in segments)


def test_long_paragraphs_split_at_sentence_ends() -> None:
    text = "One sentence here. Another one follows! A third? " * 5 + "Last."
    pieces = split_long(text, 60)
    assert "".join(pieces) == text
    assert len(pieces) > 3
    assert all(len(p) <= 60 for p in pieces)
    assert split_long("Short.", 60) == ["Short."]


def test_a_marker_the_model_repeats_is_not_doubled() -> None:
    from voiced.inference.markdown_chunks import render_stream

    (item,) = [s for s in split_markdown("- an item\n") if s.is_prose]
    assert "".join(render_stream(item, ["-", " New", " words"])) == "- New words\n"
    assert render(item, "-5 degrees outside") == "- -5 degrees outside\n"
    (quote,) = [s for s in split_markdown("> > deep quote\n") if s.is_prose]
    assert render(quote, "> > Quoted again") == "> > Quoted again\n"
    (numbered,) = [s for s in split_markdown("3. third\n") if s.is_prose]
    assert render(numbered, " 3. Third, rewritten") == "3. Third, rewritten\n"


class _Tokens:
    """A generation stream that records how far it was read and whether it was closed."""

    def __init__(self, pieces):
        self.pieces, self.read, self.closed = list(pieces), 0, False

    def __iter__(self):
        return self

    def __next__(self):
        if self.read == len(self.pieces):
            raise StopIteration
        self.read += 1
        return self.pieces[self.read - 1]

    def close(self):
        self.closed = True


@pytest.mark.parametrize(
    "pieces, kept",
    [
        # the paragraph, then the model starts another version: cut at the blank line, at any split
        (["The meeting went on.", "\n", "\n", "Rewrite:", '\n"So the'], "The meeting went on."),
        (["The meeting went on.\n", " \t", "\nRewrite: again"], "The meeting went on."),
        (["The meeting", " went on.\n\nRewrite:"], "The meeting went on."),
        (["The meeting went on.\r\n", "\r\n", "Rewrite:"], "The meeting went on."),
        # whitespace around the text goes, blank lines before it included
        (["\n\n", "  The meeting", " went on."], "The meeting went on."),
        (["The end.", "\n", "  "], "The end."),
        # single newlines inside the paragraph (a list item's lines, a poem) are kept
        (["One line\n", "and the next\n", "and the last."], "One line\nand the next\nand the last."),
        # an introduction is not the paragraph: the rewrite goes on to the next blank line
        (
            ["Here is the rewrite:", "\n\n", "The meeting went on.", "\n\nMore"],
            "Here is the rewrite:\n\nThe meeting went on.",
        ),
    ],
)
def test_a_paragraphs_rewrite_ends_at_the_first_blank_line_after_its_text(pieces, kept):
    stream = _Tokens(pieces)
    assert "".join(until_blank_line(stream)) == kept
    assert stream.closed  # generation stops there too


def test_a_blank_line_after_too_little_text_is_not_the_end():
    pieces = ["Anne.", "\n\n", "Anne walked down to the shore.", "\n\nNotes:"]
    assert "".join(until_blank_line(_Tokens(pieces), min_chars=20)) == "Anne.\n\nAnne walked down to the shore."
    assert "".join(until_blank_line(_Tokens(pieces), min_chars=5)) == "Anne."


def test_nothing_after_the_blank_line_is_read_and_closing_early_closes_the_stream():
    stream = _Tokens(["A paragraph.", "\n\n", "never read"])
    assert list(until_blank_line(stream)) == ["A paragraph."]
    assert stream.read == 2 and stream.closed

    stream = _Tokens(["First ", "piece ", "third"])
    rewrite = until_blank_line(stream)
    assert next(rewrite) == "First"  # its trailing space waits for what follows
    rewrite.close()  # the client went away
    assert stream.closed and stream.read == 1
