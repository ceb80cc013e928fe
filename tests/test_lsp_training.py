"""`voiced.train`, `voiced.activate`, `voiced.rollback` and `voiced.status` executed by the language
server against the real daemon."""

from __future__ import annotations

import pytest
from job_support import fake_adapter
from lsprotocol import types
from process_support import wait_for
from pytest_lsp import LanguageClient

from voiced.daemon.client import DaemonClient
from voiced.registry import Registry

# Every test talks to the module's daemon (conftest's daemon_home), through the VOICED_HOME it sets.
pytestmark = pytest.mark.usefixtures("daemon_home")


@pytest.mark.asyncio
async def test_train_command_starts_training_in_the_daemon(client: LanguageClient):
    started = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.train", arguments=[{"voice": "mine"}])
    )
    assert started is not None and started["voice"] == "mine" and started["trigger"] == "api"
    assert any("training mine started" in m.message for m in client.messages)
    with DaemonClient.connect(start_if_needed=False) as daemon:
        done = wait_for(
            lambda: (lambda p: p if p["state"] != "running" else None)(daemon.train_progress()),
            "the training to end",
            timeout=120,
        )
    # the module's notes folder is empty: the job refuses with how many words it needs
    assert done["state"] == "failed" and "words" in done["reason"]


@pytest.mark.asyncio
async def test_activate_command_reports_a_missing_version(client: LanguageClient):
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.activate", arguments=[{"voice": "mine", "version": 9}])
    )
    assert result is None
    assert any("has no adapter version 9" in m.message for m in client.messages if m.type == types.MessageType.Error)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.activate", arguments=[{"voice": "mine"}])
    )
    assert result is None and any("needs" in m.message for m in client.messages)


@pytest.mark.asyncio
async def test_quiet_status_lists_the_versions_and_tells_the_user_nothing(client: LanguageClient, tmp_path):
    registry = Registry.open("mine")
    kept = registry.finish_version(
        registry.begin_version({"corpus": {"words": 1234}}),
        fake_adapter(tmp_path / "a"),
        None,
        {"status": "candidate", "scores": {"test_nll": {"base": 2.5, "candidate": 2.25}}},
    )
    shown, logged = len(client.messages), len(client.log_messages)
    quiet = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.status", arguments=[{"quiet": True}])
    )
    assert (len(client.messages), len(client.log_messages)) == (shown, logged)  # no window/showMessage, no log
    assert quiet["voices"] == ["mine"]
    entry = next(v for v in quiet["adapters"]["mine"] if v["version"] == kept.number)
    assert entry == {
        "version": kept.number,
        "status": "candidate",
        "active": False,
        "reason": "",
        "created": kept.manifest.created,
        "finished": kept.manifest.finished,
        "scores": {"test_nll": {"base": 2.5, "candidate": 2.25}},
        "words": 1234,
    }
    loud = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="voiced.status"))
    assert loud["adapters"] == quiet["adapters"]
    assert any(f"v{kept.number} candidate" in m.message for m in client.messages[shown:])


@pytest.mark.asyncio
async def test_rollback_command_explains_that_there_is_nothing_to_go_back_to(client: LanguageClient):
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.rollback", arguments=[{"voice": "mine"}])
    )
    assert result is None
    assert any("no earlier active adapter" in m.message for m in client.messages if m.type == types.MessageType.Error)
