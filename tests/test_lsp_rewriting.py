"""The LSP's Markdown-aware rewrite loop, as pure functions (the model is a plain function here)."""

from __future__ import annotations

import threading

import pytest

from voiced.lsp.rewriting import RewriteCancelled, prose_count, rewrite_markdown

SELECTION = """\
## A heading stays

- first item in a list
- second item

> A quoted line of prose.

```
code = "untouched"
```

Closing paragraph.
"""


def shout(text: str):
    for word in text.upper().split(" "):
        yield word + " "


def test_structure_kept_prose_rewritten():
    progress = []
    out = rewrite_markdown(SELECTION, shout, progress=lambda done, total: progress.append((done, total)))
    assert "## A heading stays" in out
    assert "- FIRST ITEM IN A LIST\n- SECOND ITEM" in out
    assert "> A QUOTED LINE OF PROSE." in out
    assert 'code = "untouched"' in out
    assert out.endswith("CLOSING PARAGRAPH.\n")
    assert progress[0] == (0, prose_count(SELECTION)) and progress[-1] == (prose_count(SELECTION),) * 2
    assert prose_count(SELECTION) == 4


def test_identity_rewrite_is_byte_exact():
    assert rewrite_markdown(SELECTION, lambda text: iter([text])) == SELECTION


def test_cancel_stops_between_pieces():
    cancel = threading.Event()
    produced = []

    def slow(text: str):
        for word in text.split():
            produced.append(word)
            if len(produced) == 2:
                cancel.set()
            yield word + " "

    with pytest.raises(RewriteCancelled):
        rewrite_markdown(SELECTION, slow, cancel=cancel)
    assert len(produced) == 2
