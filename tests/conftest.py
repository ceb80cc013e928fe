"""Fixtures shared by the test modules; pytest finds them here without imports.

Helpers are plain functions in the ``*_support.py`` modules (import those, never this file):
``data_support`` says where data lives, ``process_support`` runs the CLI and waits for conditions.

Tests never touch the user's home: VOICED_HOME points every directory voiced uses at a fresh
temporary folder, or at the module's daemon home for modules that declare
``pytestmark = pytest.mark.usefixtures("daemon_home")``. The only data read from outside the
repository is the team's shared folder ``../shared`` (``data_support.SHARED``: the novels and the
design notes); CI always has it, so when it is missing the tests that read it fail and say so.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import pytest_lsp
from data_support import REPO, SHARED, shared  # noqa: F401 - REPO for modules still importing it from here
from lsp_support import DOC, configure_voice
from lsprotocol import types
from process_support import run_voiced  # also for modules still importing it from here
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from voiced.config import Config, load_config, save_config
from voiced.corpus import CorpusStore


def pytest_report_header(config: pytest.Config) -> str:
    state = "present" if SHARED.is_dir() else "MISSING: tests that read it will fail"
    return f"shared data: {SHARED} ({state})"


@pytest.fixture(autouse=True)
def voiced_home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Relocate all of voiced's config and state into the test's temp dir, or the module's daemon home."""
    if "daemon_home" in request.fixturenames:
        home = request.getfixturevalue("daemon_home")[0]
    else:
        home = tmp_path / "voiced-home"
    monkeypatch.setenv("VOICED_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def austen_dir() -> Path:
    """The public-domain Austen novels (plain text, paragraphs separated by blank lines)."""
    return shared("corpora", "austen")


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """An empty writing folder."""
    folder = tmp_path / "notes"
    folder.mkdir()
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CorpusStore]:
    """A real corpus database in the test's temp dir."""
    with CorpusStore(tmp_path / "corpus.sqlite3") as opened:
        yield opened


@pytest.fixture(scope="module")
def daemon_settings() -> Callable[[Config], None]:
    """What a module changes in its daemon's config beyond :func:`configure_voice`; a module overrides it."""
    return lambda config: None


@pytest.fixture(scope="module")
def daemon_home(tmp_path_factory, daemon_settings) -> Iterator[tuple[Path, Path]]:
    """One running daemon for the module (the model loads once) in its own VOICED_HOME: (home, notes).

    The voice "mine" writes in ``notes``, greedy; the daemon is stopped when the module ends.
    """
    root = tmp_path_factory.mktemp("daemon")
    patch = pytest.MonkeyPatch()
    patch.setenv("VOICED_HOME", str(root / "voiced-home"))
    notes = configure_voice(root)
    config = load_config()
    daemon_settings(config)
    save_config(config)
    run_voiced("daemon", "start")
    yield root / "voiced-home", notes
    run_voiced("daemon", "stop", check=False)
    patch.undo()


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "voiced", "lsp"]),
    params=["visual-studio-code", "neovim"],
)
async def client(request, lsp_client: LanguageClient, daemon_home):
    """`voiced lsp` on the module's daemon, as VS Code and as Neovim, with chapter.md (lsp_support.DOC) open.

    Edits the server asks the client to apply are recorded in ``client.applied``.
    """
    notes = daemon_home[1]
    lsp_client.applied = []

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        lsp_client.applied.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    lsp_client.client_name = request.param
    await lsp_client.initialize_session(types.InitializeParams(capabilities=client_capabilities(request.param)))
    lsp_client.uri = (notes / "chapter.md").as_uri()
    lsp_client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=lsp_client.uri, language_id="markdown", version=1, text=DOC)
        )
    )
    yield
    await lsp_client.shutdown_session()
