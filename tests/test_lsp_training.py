"""`voiced.train` and `voiced.activate` executed by the language server against the real daemon."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from test_daemon_process import wait_for
from test_lsp_daemon import client, daemon_home, voiced_home  # noqa: F401 - the shared daemon and clients
from voiced.client import DaemonClient


@pytest.mark.asyncio
async def test_train_command_starts_training_in_the_daemon(client: LanguageClient):  # noqa: F811
    started = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.train", arguments=[{"voice": "mine"}]))
    assert started is not None and started["voice"] == "mine" and started["trigger"] == "api"
    assert any("training mine started" in m.message for m in client.messages)
    with DaemonClient.connect(start_if_needed=False) as daemon:
        done = wait_for(lambda: (lambda p: p if p["state"] != "running" else None)(daemon.train_progress()),
                        120, "the training to end")
    # the module's notes folder is empty: the job refuses with how many words it needs
    assert done["state"] == "failed" and "words" in done["reason"]


@pytest.mark.asyncio
async def test_activate_command_reports_a_missing_version(client: LanguageClient):  # noqa: F811
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.activate", arguments=[{"voice": "mine", "version": 9}]))
    assert result is None
    assert any("has no adapter version 9" in m.message for m in client.messages
               if m.type == types.MessageType.Error)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="voiced.activate", arguments=[{"voice": "mine"}]))
    assert result is None and any("needs" in m.message for m in client.messages)
