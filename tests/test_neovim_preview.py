"""The Neovim plugin's preview and ghost text, end to end: headless Neovim with the
plugin, the real `voiced lsp`, the real daemon and the embedded model. A previewed
rewrite is accepted (the text replaced; one `u` brings the original back and the
server records "undone"), rejected (nothing changes; recorded "rejected") or
accepted for editing (the cursor goes to it; a saved change is recorded "edited");
a ghost-text continuation is asked for with the trigger key, taken a word with
Alt-Right and the rest with Tab; another is dismissed with Ctrl-].

Neovim runs while the test reads the corpus database: its script drives the keys
from timers (so Insert mode and mappings work as typed), writes what it saw, then
waits for the test's word to quit."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from lsp_support import configure_voice
from process_support import run_voiced, wait_for
from test_neovim import INIT, PLUGIN, VOICED, nvim_binary

# The server side of issue #14: voiced/preview for clients that show it, textDocument/inlineCompletion.
pytest.importorskip("voiced.lsp.preview", reason="the server's voiced/preview request (voiced.lsp.preview) is missing")
pytest.importorskip("voiced.lsp.inline", reason="the server's inline completion (voiced.lsp.inline) is missing")

# The embedded model at temperature 0 rewrites this one (some sentences come back unchanged).
PARAGRAPH = "I went to the market this morning and bought some apples, but they were not very good."
SECOND = "However little known the feelings or views of such a man may be on his first entering a neighbourhood."
DOC = f"# Chapter 1\n\n{PARAGRAPH}\n\n{SECOND}\n\nThe end.\n"
ORIGINAL = DOC.rstrip("\n").split("\n")

# Steps run in a coroutine resumed by timers: the main loop keeps reading keys
# (fed as if typed) and the LSP messages while a step waits.
DRIVER = """
local out = { messages = {} }
local notify = vim.notify
vim.notify = function(msg, level) table.insert(out.messages, msg); notify(msg, level) end
local doc
local function lines() return vim.api.nvim_buf_get_lines(doc or 0, 0, -1, true) end
local function now() return vim.uv.hrtime() / 1e6 end
local function wait(condition, ms)
  local me, deadline = coroutine.running(), now() + ms
  local timer = vim.uv.new_timer()
  timer:start(20, 50, vim.schedule_wrap(function()
    if timer:is_closing() then return end
    local ok, value = pcall(condition)
    if not ok then out.error = value; value = nil end
    if value or not ok or now() > deadline then
      timer:stop(); timer:close()
      coroutine.resume(me, value)
    end
  end))
  return coroutine.yield()
end
local function keys(text)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(text, true, false, true), 'mt', false)
end
local function report()
  local file = assert(io.open(os.getenv('VOICED_RESULT') .. '.part', 'w'))
  file:write(vim.json.encode(out))
  file:close()
  os.rename(os.getenv('VOICED_RESULT') .. '.part', os.getenv('VOICED_RESULT'))
  -- The test reads the corpus database meanwhile; the server stays up until it is done.
  wait(function() return vim.uv.fs_stat(os.getenv('VOICED_QUIT')) ~= nil end, 180000)
  vim.cmd('qall!')
end
local function preview()
  local win = next(require('voiced.preview').open)
  return win and require('voiced.preview').open[win]
end
local function run(steps)
  coroutine.wrap(function()
    local ok, err = xpcall(steps, debug.traceback)
    if not ok then out.error = err end
    report()
  end)()
end
"""

# One paragraph with singleParagraph on (so it is previewed), accepted with `a`,
# then undone with `u`.
ACCEPT = (
    DRIVER
    + """
require('voiced').setup({ preview = { singleParagraph = true } })
run(function()
  vim.cmd.edit(os.getenv('VOICED_NOTE'))
  doc = vim.api.nvim_get_current_buf()
  out.attached = wait(function() return require('voiced').client() ~= nil end, 30000)
  vim.cmd('3VoicedRewrite')
  local shown = wait(preview, 300000)
  if not shown then return end
  out.id = shown.params.id
  out.proposal = shown.params.proposal
  out.label = shown.params.label
  out.diff = vim.api.nvim_buf_get_lines(shown.buf, 0, -1, true)
  out.groups = vim.tbl_map(function(mark) return mark[4].hl_group end,
    vim.api.nvim_buf_get_extmarks(shown.buf, require('voiced.preview').namespace, 0, -1, { details = true }))
  out.while_shown = lines()
  keys('a')
  out.changed = wait(function() return vim.bo[doc].modified end, 60000)
  out.after = lines()
  out.preview_closed = preview() == nil
  keys('u')
  out.undone = wait(function() return not vim.bo[doc].modified end, 10000) and lines()
end)
"""
)

# A rewrite of both paragraphs (more than one: previewed by default), rejected with `r`.
REJECT = (
    DRIVER
    + """
run(function()
  vim.cmd.edit(os.getenv('VOICED_NOTE'))
  doc = vim.api.nvim_get_current_buf()
  out.attached = wait(function() return require('voiced').client() ~= nil end, 30000)
  vim.cmd('3,5VoicedRewrite')
  local shown = wait(preview, 300000)
  if not shown then return end
  out.id = shown.params.id
  keys('r')
  out.preview_closed = wait(function() return preview() == nil end, 5000)
  -- Give a (wrong) edit time to arrive: the server answers the action after the preview.
  wait(function() return false end, 3000)
  out.after = lines()
  out.modified = vim.bo[doc].modified
end)
"""
)

# `e`: the rewrite lands and the cursor goes to it; the writer then changes a word
# and saves, which settles the proposal as "edited".
EDIT = (
    DRIVER
    + """
require('voiced').setup({ preview = { singleParagraph = true } })
run(function()
  vim.cmd.edit(os.getenv('VOICED_NOTE'))
  doc = vim.api.nvim_get_current_buf()
  out.attached = wait(function() return require('voiced').client() ~= nil end, 30000)
  vim.cmd('normal! G')
  vim.cmd('3VoicedRewrite')
  local shown = wait(preview, 300000)
  if not shown then return end
  out.id = shown.params.id
  out.proposal = shown.params.proposal
  keys('e')
  out.changed = wait(function() return vim.bo[doc].modified end, 60000)
  wait(function() return false end, 500) -- the jump follows the edit
  out.in_doc = vim.api.nvim_get_current_buf() == doc
  out.cursor = vim.api.nvim_win_get_cursor(0)
  out.selection = { vim.api.nvim_buf_get_mark(doc, '<'), vim.api.nvim_buf_get_mark(doc, '>') }
  out.line = lines()[3]
  keys('$i, honestly<Esc>:w<CR>')
  out.saved = wait(function() return not vim.bo[doc].modified end, 10000)
  out.after = lines()
end)
"""
)

# Ghost text: Insert mode at the end of the paragraph, nothing offered on a pause
# (autoTrigger is off by default), the trigger key asks, Tab accepts.
GHOST = (
    DRIVER
    + """
run(function()
  vim.cmd.edit(os.getenv('VOICED_NOTE'))
  doc = vim.api.nvim_get_current_buf()
  out.attached = wait(function() return require('voiced').client() ~= nil end, 30000)
  local client = require('voiced').client()
  out.provider = client and client.server_capabilities.inlineCompletionProvider ~= nil
  if not out.provider then return end
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  keys('A')
  wait(function() return vim.api.nvim_get_mode().mode == 'i' end, 5000)
  wait(function() return false end, 1500)
  out.ghost_on_pause = require('voiced.inline').shown(0)
  keys('<M-\\\\>')
  local function shown() return require('voiced.inline').shown(0) end
  out.ghost = wait(shown, 300000)
  if not out.ghost then return end
  local function line() return vim.api.nvim_buf_get_lines(doc, 2, 3, true)[1] end
  keys('<M-Right>') -- one word; the rest stays offered
  out.word_taken = wait(function() return line() ~= os.getenv('VOICED_LINE') end, 10000) and line()
  out.rest = wait(shown, 5000)
  keys('<Tab>')
  out.accepted = wait(function() return shown() == nil end, 10000)
  out.after = lines()
  out.cursor = vim.api.nvim_win_get_cursor(0)
  -- Again from Normal mode with :VoicedInline (Insert mode at the paragraph's end), then dismissed.
  keys('<Esc>3G0:VoicedInline<CR>')
  out.ghost_again = wait(shown, 300000)
  out.mode_again = vim.api.nvim_get_mode().mode
  out.cursor_again = vim.api.nvim_win_get_cursor(0)
  keys('<C-]>')
  out.dismissed = wait(function() return shown() == nil end, 5000)
  out.after_dismiss = lines()
  keys('<Esc>')
end)
"""
)


# autoTrigger on: a pause offers ghost text by itself; typing hides it, and typing
# while a request is pending cancels it at once ($/cancelRequest; the real cancel
# runs, the test only notes the call).
AUTO = (
    DRIVER
    + """
require('voiced').setup({ inline = { autoTrigger = true, debounceMs = 300 } })
run(function()
  vim.cmd.edit(os.getenv('VOICED_NOTE'))
  doc = vim.api.nvim_get_current_buf()
  out.attached = wait(function() return require('voiced').client() ~= nil end, 30000)
  local client = require('voiced').client()
  out.cancelled = {}
  local cancel = client.cancel_request
  client.cancel_request = function(self, id)
    table.insert(out.cancelled, self.requests[id] and self.requests[id].method or '?')
    return cancel(self, id)
  end
  local function shown() return require('voiced.inline').shown(0) end
  local function pending()
    for _, request in pairs(client.requests) do
      if request.type == 'pending' and request.method == 'textDocument/inlineCompletion' then return true end
    end
  end
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  keys('A')
  out.auto_ghost = wait(shown, 300000)
  keys(' I')
  out.hidden = wait(function() return shown() == nil end, 2000)
  out.pending = wait(pending, 5000) -- the pause after typing asks again
  local before = #out.cancelled
  keys('t')
  out.cancelled_at_once = wait(function() return #out.cancelled > before end, 2000)
  out.after = lines()
  keys('<Esc>')
end)
"""
)


@pytest.fixture(scope="module")
def voiced_env(tmp_path_factory):
    """A configured voice (temperature 0, fixed seed) in its own VOICED_HOME; the daemon stopped afterwards."""
    root = tmp_path_factory.mktemp("neovim-preview")
    home = root / "voiced-home"
    patch = pytest.MonkeyPatch()
    patch.setenv("VOICED_HOME", str(home))
    # Unanchored, the base model rewrites PARAGRAPH in its own words. Not EDITOR_PATH_ONLY: its half-length
    # cap makes a proposal the draft's first half, and an undo then only appends to the followed range.
    notes = configure_voice(root, draft_anchor_base=0.0)
    yield home, notes
    run_voiced("daemon", "stop", check=False)
    patch.undo()


def feedback(home: Path, proposal_id: str | None = None, kind: str | None = None) -> list[sqlite3.Row]:
    """Rows of the corpus database's `feedback` table (none while the migration has not run)."""
    from voiced.paths import HOME_ENV, get_paths

    with pytest.MonkeyPatch.context() as patch:  # the module's home, where its server writes
        patch.setenv(HOME_ENV, str(home))
        db_path = get_paths().corpus_db
    if not db_path.exists():
        return []
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute("SELECT * FROM feedback ORDER BY proposed_at").fetchall()
        except sqlite3.OperationalError:  # no feedback table yet
            return []
    return [r for r in rows if (proposal_id is None or r["proposal_id"] == proposal_id) and (kind in (None, r["kind"]))]


class Nvim:
    """Headless Neovim running ``script`` on ``note`` until :meth:`quit`; :meth:`result` is what it saw."""

    def __init__(self, env_paths, tmp_path: Path, script: str, note: Path) -> None:
        home, _notes = env_paths
        (tmp_path / "init.lua").write_text(INIT)
        (tmp_path / "test.lua").write_text(script)
        self.result_file = tmp_path / "result"
        self.quit_file = tmp_path / "quit"
        env = dict(
            os.environ,
            VOICED_HOME=str(home),
            VOICED_PLUGIN=str(PLUGIN),
            VOICED_BIN=str(VOICED),
            VOICED_NOTE=str(note),
            VOICED_LINE=PARAGRAPH,
            VOICED_RESULT=str(self.result_file),
            VOICED_QUIT=str(self.quit_file),
            XDG_STATE_HOME=str(tmp_path / "state"),
            XDG_DATA_HOME=str(tmp_path / "data"),
        )
        self.process = subprocess.Popen(
            [
                str(nvim_binary()),
                "--headless",
                "--clean",
                "-u",
                str(tmp_path / "init.lua"),
                "-c",
                f"luafile {tmp_path / 'test.lua'}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
        )

    def result(self) -> dict:
        wait_for(
            lambda: self.result_file.exists() or self.process.poll() is not None,
            "Neovim's script to report",
            timeout=420,
            interval=0.2,
        )
        assert self.result_file.exists(), f"nvim exited {self.process.returncode}:\n{self.process.stdout.read()}"
        out = json.loads(self.result_file.read_text())
        assert "error" not in out, out["error"]
        assert out["attached"], out
        return out

    def quit(self) -> None:
        self.quit_file.touch()
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Nvim:
        return self

    def __exit__(self, *exc) -> None:
        self.quit()


def test_accepting_a_preview_replaces_the_text_and_one_undo_is_recorded_as_undone(voiced_env, tmp_path):
    note = voiced_env[1] / "accept.md"
    note.write_text(DOC)
    with Nvim(voiced_env, tmp_path, ACCEPT, note) as nvim:
        out = nvim.result()
        assert out.get("id"), f"singleParagraph = true did not preview a one-paragraph rewrite: {out}"
        assert out["while_shown"] == ORIGINAL  # nothing lands while the writer looks at the diff
        assert out["label"].startswith("Rewrite in my voice (mine, ")
        proposal = out["proposal"]
        assert proposal.split() != PARAGRAPH.split(), out["messages"]
        # The diff window holds the words of both sides, the changed ones marked.
        diff_words = " ".join(out["diff"]).split()
        assert set(PARAGRAPH.split()) | set(proposal.split()) == set(diff_words)
        assert out["groups"] and set(out["groups"]) <= {"VoicedPreviewDelete", "VoicedPreviewAdd"}
        assert out["changed"] and out["preview_closed"], out
        after = out["after"]
        assert after[:2] == ORIGINAL[:2] and after[-4:] == ORIGINAL[-4:]
        assert "\n".join(after[2:-4]).split() == proposal.split()
        assert out["undone"] == ORIGINAL  # one `u`
        rows = wait_for(
            lambda: [r for r in feedback(voiced_env[0], out["id"]) if r["outcome"] == "undone"],
            "the server to record the undo as 'undone' in the feedback table",
            timeout=60,
            interval=0.3,
        )
        assert rows[0]["kind"] == "rewrite" and rows[0]["voice"] == "mine"
        assert rows[0]["proposal"] == out["proposal"]
    assert note.read_text() == DOC  # nothing was written to disk


def test_rejecting_a_preview_changes_nothing_and_is_recorded(voiced_env, tmp_path):
    note = voiced_env[1] / "reject.md"
    note.write_text(DOC)
    with Nvim(voiced_env, tmp_path, REJECT, note) as nvim:
        out = nvim.result()
        assert out.get("id"), f"no voiced/preview request came for a two-paragraph rewrite: {out}"
        assert out["preview_closed"]
        assert out["after"] == ORIGINAL and not out["modified"]
        rows = wait_for(
            lambda: feedback(voiced_env[0], out["id"]),
            "the server to record the rejection in the feedback table",
            timeout=60,
            interval=0.3,
        )
        assert rows[0]["outcome"] == "rejected"
    assert note.read_text() == DOC


def test_accept_and_edit_goes_to_the_rewrite_and_a_later_change_is_recorded_as_edited(voiced_env, tmp_path):
    note = voiced_env[1] / "edit.md"
    note.write_text(DOC)
    with Nvim(voiced_env, tmp_path, EDIT, note) as nvim:
        out = nvim.result()
        assert out.get("id"), out
        assert out["changed"] and out["in_doc"], out
        line = out["line"]
        assert line.split() == out["proposal"].split()
        # The cursor was at the end of the note; `e` takes it to the rewrite, which `gv` selects.
        assert out["cursor"] == [3, 0], out
        assert out["selection"] == [[3, 0], [3, len(line) - 1]], out
        assert out["saved"] and out["after"][2] == line[:-1] + ", honestly" + line[-1:], out
        rows = wait_for(
            lambda: [r for r in feedback(voiced_env[0], out["id"]) if r["outcome"] == "edited"],
            "the server to record the saved change as 'edited'",
            timeout=60,
            interval=0.3,
        )
        assert rows[0]["final_text"].endswith(", honestly" + line[-1:]), dict(rows[0])
    assert note.read_text().split("\n")[2] == out["after"][2]  # saved by the writer


def test_ghost_text_on_the_trigger_key_one_word_then_the_rest_accepted_and_one_dismissed(voiced_env, tmp_path):
    note = voiced_env[1] / "ghost.md"
    note.write_text(DOC)
    with Nvim(voiced_env, tmp_path, GHOST, note) as nvim:
        out = nvim.result()
        assert out["provider"], "the voiced server does not offer textDocument/inlineCompletion"
        assert out.get("ghost_on_pause") is None  # autoTrigger is off: a pause offers nothing
        ghost = out.get("ghost")
        assert ghost and ghost.strip(), out
        word = re.match(r"\s*\S+", ghost).group(0)
        assert out["word_taken"] == PARAGRAPH + word, out
        assert out["rest"] == ghost[len(word) :], out
        assert out["accepted"], out
        text = "\n".join(out["after"])
        # The ghost text is inserted at the cursor (the end of the paragraph); the rest stays.
        assert text == DOC.rstrip("\n").replace(PARAGRAPH, PARAGRAPH + ghost, 1), out
        assert out["cursor"][0] == 3 + ghost.count("\n")
        rows = wait_for(
            lambda: [r for r in feedback(voiced_env[0], kind="continue") if r["outcome"] == "accepted"],
            "the server to record the accepted continuation",
            timeout=60,
            interval=0.3,
        )
        assert rows[-1]["proposal"].strip() == ghost.strip()
        assert out["ghost_again"] and out["dismissed"], out
        assert out["mode_again"] == "i" and out["cursor_again"] == out["cursor"], out
        assert out["after_dismiss"] == out["after"]
    assert note.read_text() == DOC


def test_auto_trigger_offers_ghost_text_on_a_pause_and_typing_cancels_it(voiced_env, tmp_path):
    note = voiced_env[1] / "auto.md"
    note.write_text(DOC)
    with Nvim(voiced_env, tmp_path, AUTO, note) as nvim:
        out = nvim.result()
        assert out.get("auto_ghost", "").strip(), f"no ghost text on a pause with autoTrigger on: {out}"
        assert out["hidden"], out  # typing something else hides it
        assert out["pending"] and out["cancelled_at_once"], out
        assert "textDocument/inlineCompletion" in out["cancelled"], out
        assert out["after"][2] == PARAGRAPH + " It", out  # only what was typed
