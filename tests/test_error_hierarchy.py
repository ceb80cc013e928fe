"""One error hierarchy: every error a user can meet is a VoicedError, and the daemon answers each by its type.

The HTTP answers go through the real FastAPI app with a real registry, a real
corpus file and a real training lock on disk; only the engine is a small double
(the model is not what these tests are about).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from voiced.config import Config, VoiceConfig
from voiced.daemon.api import DaemonContext, create_app
from voiced.daemon.error_status import UNLISTED, status_of
from voiced.errors import VoicedError
from voiced.inference.voice_status import VoiceStatus
from voiced.paths import Paths

TOKEN = "hierarchy-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

LAYERS = (
    "voiced",
    "voiced.inference",
    "voiced.trainer",
    "voiced.evaluation",
    "voiced.daemon",
    "voiced.lsp",
    "voiced.cli",
)
# Optional dependencies a module may need that this machine may lack (Apple's MLX): such a module is skipped.
OPTIONAL = {"mlx", "mlx_lm"}
# Exceptions that never reach a user as such: control flow inside one module, or turned into a VoicedError
# (or another answer) by the code that catches them. Each says why; anything new must derive from VoicedError.
NOT_USER_FACING = {
    "voiced.inference.engine._WorkerClosed",  # the engine's worker thread is gone; the engine restarts it
    "voiced.trainer.mlx_backend._Stop",  # ends MLX's training loop early from its callback
    "voiced.inference.generation.GenerationCancelled",  # a cancelled generation: finish_reason "cancelled"
    "voiced.lsp.rewriting.RewriteCancelled",  # the editor cancelled the request: no answer is wanted
    "voiced.lsp.tcp_gate.Refused",  # the TCP gate's refusal carries its own LSP error frame (``reply``)
    "voiced.daemon.limits.BodyTooLarge",  # Starlette's HTTPException: the app answers it 413
    "voiced.adapter_check.AdapterDamaged",  # always caught: the registry and the job raise CorruptAdapter/JobError
    "voiced.lsp.server.UserMessage",  # the LSP's showMessage with a level; lsp/server.py is not yet converted
}


def _product_modules():
    for layer in LAYERS:
        package = importlib.import_module(layer)
        yield package
        for info in pkgutil.walk_packages(package.__path__, layer + "."):
            try:
                yield importlib.import_module(info.name)
            except ModuleNotFoundError as exc:
                if exc.name is None or exc.name.split(".")[0] not in OPTIONAL:
                    raise


def test_every_product_exception_is_a_voiced_error():
    seen, outside = set(), []
    for module in _product_modules():
        for _name, kind in inspect.getmembers(module, inspect.isclass):
            if not issubclass(kind, BaseException) or kind.__module__ != module.__name__:
                continue
            qualified = f"{kind.__module__}.{kind.__qualname__}"
            seen.add(qualified)
            if not issubclass(kind, VoicedError) and qualified not in NOT_USER_FACING:
                outside.append(qualified)
    assert outside == [], "derive these from voiced.errors.VoicedError (message, fix):\n" + "\n".join(outside)
    for expected in ("voiced.daemon.training_job.JobError", "voiced.trainer.results.TrainingError"):
        assert expected in seen  # the walk reached every layer
    stale = {name for name in NOT_USER_FACING if name not in seen and not name.startswith("voiced.trainer.mlx")}
    assert stale == set(), "the allow-list names classes that no longer exist"


def test_a_raise_without_a_fix_gets_the_class_default_and_str_shows_it_once():
    class NeedsRestart(VoicedError):
        default_fix = "Run `voiced daemon restart`."

    plain = NeedsRestart("The daemon is stale.")
    assert (plain.message, plain.fix) == ("The daemon is stale.", "Run `voiced daemon restart`.")
    assert str(plain) == "The daemon is stale.\nRun `voiced daemon restart`."
    own = NeedsRestart("The daemon is stale.", "Stop it first.")
    assert str(own) == "The daemon is stale.\nStop it first."
    assert str(VoicedError("Only a message; it says what to do.")) == "Only a message; it says what to do."


def test_one_string_constructors_still_work_and_keep_their_attributes():
    from voiced.daemon.client import DaemonError
    from voiced.extract.reading import ExtractionError, FileVanishedError
    from voiced.trainer.dataset import CorpusTooSmall

    vanished = FileVanishedError("The file disappeared while it was being read.")
    assert isinstance(vanished, FileNotFoundError) and isinstance(vanished, VoicedError)
    assert vanished.reason == str(vanished) == "The file disappeared while it was being read."
    assert isinstance(ExtractionError("x"), VoicedError)
    small = CorpusTooSmall(120, 300)
    assert (small.words, small.needed) == (120, 300) and "180 more" in str(small)
    answered = DaemonError("the daemon refused", 409, "training_running")
    assert (answered.status, answered.code, str(answered)) == (409, "training_running", "the daemon refused")


def test_the_status_is_found_along_the_mro():
    from voiced.registry import NotFound, RegistryError

    class RenamedNotFound(NotFound):
        pass

    class SomeNewRegistryError(RegistryError):
        pass

    assert status_of(RenamedNotFound("gone")).status == 404
    assert (status_of(SomeNewRegistryError("odd")).status, status_of(SomeNewRegistryError("odd")).code) == (
        409,
        "registry_error",
    )
    assert status_of(VoicedError("anything else")) == UNLISTED


# --- through the real app ---------------------------------------------------------------------


class RefusingEngine:
    """Raises what the real engine raises for a voice it does not serve, or an error nobody listed."""

    def stream_rewrite(self, voice, text, params=None, cancel=None, on_guard=None):
        from voiced.inference.generation import UnknownVoice

        raise UnknownVoice(f"The engine serves no voice named {voice!r}.", "Restart the daemon after `voiced init`.")

    def status(self) -> dict[str, VoiceStatus]:
        return {"double": VoiceStatus.not_loaded("echo")}

    def refresh(self, voice) -> VoiceStatus:
        return VoiceStatus.not_loaded("echo")


@pytest.fixture
def app(tmp_path: Path):
    root = tmp_path / "home"
    paths = Paths(root / "config", root / "data", root / "state", root / "cache")
    ctx = DaemonContext(
        config=Config(voices={"me": VoiceConfig(name="me")}), token=TOKEN, engine=RefusingEngine(), paths=paths
    )
    return TestClient(create_app(ctx), base_url="http://127.0.0.1"), ctx


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_an_unknown_voice_in_the_engine_is_404_with_its_fix(app):
    client, _ctx = app
    error = _error(client.post("/v1/rewrite", headers=AUTH, json={"text": "hello", "voice": "me"}), 404)
    assert error["code"] == "voice_not_found" and error["type"] == "not_found_error"
    assert error["message"] == "The engine serves no voice named 'me'.\nRestart the daemon after `voiced init`."


def test_a_voice_the_configuration_lacks_is_404(app):
    client, _ctx = app
    error = _error(client.post("/v1/rewrite", headers=AUTH, json={"text": "hello", "voice": "nobody"}), 404)
    assert error["code"] == "voice_not_found" and "nobody" in error["message"]


def test_registry_errors_answer_by_type(app):
    from voiced.registry import Registry

    client, ctx = app
    missing = _error(client.post("/v1/adapters/me/activate", headers=AUTH, json={"version": 9}), 404)
    assert missing["code"] == "not_found" and missing["type"] == "registry_error"
    assert "no adapter version 9" in missing["message"] and "voiced adapters list" in missing["message"]
    nothing_before = _error(client.post("/v1/adapters/me/rollback", headers=AUTH), 404)
    assert nothing_before["code"] == "not_found" and "roll back" in nothing_before["message"]
    registry = Registry.open("me", ctx.paths)
    failed = registry.begin_version({})
    registry.mark_failed(failed.number, "the test failed it")
    # llama.cpp serves "me" (the embedded GGUF) and the failed version holds nothing it can load
    corrupt = _error(client.post("/v1/adapters/me/activate", headers=AUTH, json={"version": failed.number}), 422)
    assert corrupt["code"] == "corrupt_adapter" and "llama.cpp" in corrupt["message"]
    # a voice whose base model is not on this machine: no runtime to check for, the registry itself refuses
    ctx.config.voices["elsewhere"] = VoiceConfig(name="elsewhere", base_model=str(ctx.paths.cache_dir / "gone.gguf"))
    elsewhere = Registry.open("elsewhere", ctx.paths)
    number = elsewhere.begin_version({}).number
    elsewhere.mark_failed(number, "the test failed it")
    unusable = _error(client.post("/v1/adapters/elsewhere/activate", headers=AUTH, json={"version": number}), 409)
    assert unusable["code"] == "not_usable" and "the test failed it" in unusable["message"]
    assert elsewhere.active_version() is None
    assert registry.active_version() is None  # nothing changed


def test_a_damaged_corpus_database_is_503(app):
    client, ctx = app
    ctx.paths.data_dir.mkdir(parents=True)
    ctx.paths.corpus_db.write_bytes(b"this is not an SQLite database, only some words " * 200)
    error = _error(client.get("/v1/corpus", headers=AUTH), 503)
    assert error["code"] == "corpus_unusable" and error["type"] == "corpus_error"


def test_training_a_voice_another_run_trains_is_409(app):
    from voiced.daemon.training import TrainingJobs
    from voiced.trainer.voice_lock import training_lock

    client, ctx = app
    ctx.training = TrainingJobs(ctx.paths, runner=lambda *args, **kwargs: pytest.fail("no run may start"))
    with training_lock("me", ctx.paths):  # what a `voiced train` in a terminal holds
        error = _error(client.post("/v1/train", headers=AUTH, json={"voice": "me"}), 409)
    assert error["code"] == "training_running" and error["type"] == "conflict"
    assert "already running" in error["message"]


def test_an_expected_error_nobody_listed_is_a_4xx_not_a_500(app):
    class BrandNewProblem(VoicedError):
        default_fix = "Do the new thing."

    client, _ctx = app

    def refuse() -> dict:
        raise BrandNewProblem("A new kind of refusal.")

    client.app.add_api_route("/v1/brand-new", refuse)  # a route of tomorrow, answered by today's handler
    error = _error(client.get("/v1/brand-new", headers=AUTH), UNLISTED.status)
    assert error == {
        "message": "A new kind of refusal.\nDo the new thing.",
        "type": "conflict",
        "code": "expected_error",
    }
