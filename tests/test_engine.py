"""The inference engine on the real embedded model: streaming, structure, cancellation, errors."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from engine_support import GREEDY, TEXT, embedded_config
from process_support import wait_for

from voiced.inference.engine import (
    EmptyText,
    Engine,
    GenerationCancelled,
    GenerationParams,
    ModelLoadError,
    UnknownVoice,
)


@pytest.fixture(scope="module")
def engine():
    config = embedded_config()
    config.inference.guard = (
        False  # token by token, as the model writes; the guard holds a paragraph (test_rewrite_guard_engine.py)
    )
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        engine.load("default")
        yield engine


def test_stream_yields_pieces_that_join_into_the_rewrite(engine: Engine) -> None:
    pieces = list(engine.stream_rewrite("default", TEXT, GREEDY))
    assert len(pieces) >= 4
    joined = "".join(pieces)
    assert joined.strip()
    assert joined == engine.rewrite("default", TEXT, GREEDY)


def test_rewrite_keeps_markdown_structure(engine: Engine) -> None:
    text = "---\ntitle: x\n---\n\n# Harbour\n\n- " + TEXT + "\n\n```\nkeep = 1\n```\n"
    out = engine.rewrite("default", text, replace(GREEDY, max_tokens=6))
    assert out.startswith("---\ntitle: x\n---\n\n# Harbour\n\n- ")
    assert out.endswith("\n\n```\nkeep = 1\n```\n")
    assert TEXT not in out or out.count("\n") == text.count("\n")


def test_length_is_derived_from_the_input(engine: Engine) -> None:
    backend = engine._workers["default"].backend
    params = replace(GREEDY, max_tokens=None, max_tokens_factor=0.5, max_tokens_extra=1)
    budget = params.resolved(engine.settings).rewrite_budget(backend.count_tokens("One two three four."), 1000)
    assert budget == int(0.5 * backend.count_tokens("One two three four.")) + 1
    out = engine.rewrite("default", "One two three four.", params)
    assert 0 < backend.count_tokens(out) <= budget + 1


def test_a_rewrite_ends_where_the_model_leaves_the_paragraph(engine: Engine) -> None:
    """Greedy, the base model rewrites TEXT and then starts over under a "Rewrite:" label without
    ending its turn; the paragraph's rewrite is what it wrote before the blank line."""
    from voiced.prompts import rewrite_messages

    params = replace(GREEDY, max_tokens=None)
    backend = engine._workers["default"].backend
    messages = rewrite_messages(engine.config.voices["default"].system_prompt, TEXT)
    raw = "".join(backend.stream_chat(messages, params.resolved(engine.settings), 120, threading.Event()))
    before, blank, after = raw.partition("\n\n")
    assert blank and after.strip(), f"the model no longer runs on past the paragraph: {raw!r}"
    assert engine.rewrite("default", TEXT, params) == before.strip()


def test_cancel_stops_within_one_token(engine: Engine) -> None:
    backend = engine._workers["default"].backend
    produced_after_cancel = []
    cancel = threading.Event()
    original = backend.stream_chat

    def observed(*args, **kwargs):  # the real stream, with each token's timing noted
        for piece in original(*args, **kwargs):
            if cancel.is_set():
                produced_after_cancel.append(piece)
            yield piece

    backend.stream_chat = observed
    try:
        received = 0
        with pytest.raises(GenerationCancelled):
            for _ in engine.stream_rewrite("default", TEXT, replace(GREEDY, max_tokens=300), cancel):
                received += 1
                if received == 3:
                    cancel.set()
    finally:
        del backend.stream_chat
    assert received == 3
    assert len(produced_after_cancel) <= 1
    # the worker is free again at once
    assert engine.rewrite("default", TEXT, replace(GREEDY, max_tokens=2))


def test_cancel_before_start_and_abandoned_stream(engine: Engine) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        engine.rewrite("default", TEXT, GREEDY, cancel)
    stream = engine.stream_rewrite("default", TEXT, replace(GREEDY, max_tokens=300))
    next(stream)
    stream.close()  # walking away cancels the request; the next one runs normally
    assert engine.rewrite("default", TEXT, GREEDY) == engine.rewrite("default", TEXT, GREEDY)


def test_continue_and_chat_stream_text(engine: Engine) -> None:
    cont = list(engine.stream_continue("default", "It was a quiet morning in the village.", GREEDY))
    assert "".join(cont).strip()
    chat = list(engine.stream_chat("default", [{"role": "user", "content": "Say hello."}], GREEDY))
    assert "".join(chat).strip()


def test_sampling_is_reproducible_with_a_seed(engine: Engine) -> None:
    sampled = GenerationParams(temperature=1.0, seed=11, max_tokens=10)
    assert engine.rewrite("default", TEXT, sampled) == engine.rewrite("default", TEXT, sampled)


def test_errors_are_clear(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(UnknownVoice, match="no voice named 'nobody'"):
        engine.rewrite("nobody", TEXT)
    with pytest.raises(EmptyText):
        engine.rewrite("default", "  \n\n ")
    with pytest.raises(EmptyText):
        list(engine.stream_chat("default", [{"role": "user", "content": ""}]))
    with pytest.raises(Exception, match="top_p"):
        engine.rewrite("default", TEXT, GenerationParams(top_p=0))


def test_a_model_that_fails_to_load_gives_an_engine_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with Engine(embedded_config(broken=str(broken)), adapter_resolver=lambda voice: None) as engine:
        with pytest.raises(ModelLoadError) as info:
            engine.load("broken")
        assert "broken.gguf" in str(info.value) and info.value.fix
        with pytest.raises(ModelLoadError):  # a request reports it too, instead of hanging
            engine.rewrite("broken", TEXT, GREEDY)
        assert engine.status()["broken"].loaded is False


def test_long_paragraphs_are_rewritten_in_sentence_pieces(engine: Engine) -> None:
    backend = engine._workers["default"].backend
    prompts: list[str] = []
    original = backend.stream_chat

    def observed(messages, *args, **kwargs):  # the real stream; the prompt it was given is noted
        prompts.append(messages[-1]["content"])
        return original(messages, *args, **kwargs)

    backend.stream_chat = observed
    engine.settings.max_chunk_chars = 60
    try:
        paragraph = "The boats came in at dusk. The men were tired and cold. Nobody spoke on the quay."
        out = engine.rewrite("default", f"# Title\n\n{paragraph}\n\nShort one.\n", replace(GREEDY, max_tokens=4))
    finally:
        engine.settings.max_chunk_chars = type(engine.settings)().max_chunk_chars
        del backend.stream_chat
    assert [p.split("\n\n", 1)[1] for p in prompts] == [
        "The boats came in at dusk. The men were tired and cold.",
        "Nobody spoke on the quay.",
        "Short one.",
    ]
    assert out.startswith("# Title\n\n") and out.endswith("\n")
    assert out.count("\n\n") == 2


def test_a_damaged_or_wrong_active_pointer_never_stops_the_voice(tmp_path: Path) -> None:
    """A damaged active.json: the registry recovers the active version from its manifests and the engine
    serves it; a pointer naming a version that is gone: the base model serves, with a notice saying so."""
    from engine_support import write_lora_gguf

    from voiced.registry import Registry

    lora = write_lora_gguf(tmp_path / "adapter.gguf")
    with Engine(embedded_config(), adapter_resolver=lambda voice: lora) as engine:
        adapted = engine.rewrite("default", TEXT, GREEDY)
    registry = Registry.open("default")
    peft = tmp_path / "peft"
    peft.mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (peft / name).write_bytes(b"{}")
    version = registry.begin_version({"base_model": {"kind": "gguf"}})
    registry.finish_version(version, peft, lora, {"status": "candidate"})
    registry.activate(version.number)
    registry.pointer_path.write_text("{ half a pointer")
    with Engine(embedded_config()) as engine:
        assert engine.rewrite("default", TEXT, GREEDY) == adapted
        assert engine.status()["default"].adapter_version == version.number
        registry.pointer_path.write_text('{"version": 7, "history": []}')
        stream = engine.stream_rewrite("default", TEXT, GREEDY)
        base = "".join(stream)
        assert base != adapted and "Cannot tell which adapter" in stream.notice and "7" in stream.notice
        assert engine.status()["default"].adapter_version is None


def test_a_removed_rebased_or_resized_voice_lets_its_model_go() -> None:
    from voiced.inference.engine import _WorkerClosed
    from voiced.models import embedded_model_path

    config = embedded_config()
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        engine.load("default")
        first = engine._workers["default"]
        # The same model named by its path: a different base_model setting, so a new model is loaded.
        config.voices["default"] = replace(config.voices["default"], base_model=str(embedded_model_path()))
        assert engine.release_stale() == ["default"]
        assert engine.status()["default"].loaded is False
        wait_for(lambda: first.backend is None, "the old worker to close", timeout=30)  # on a thread of its own
        assert not first._thread.is_alive() and first.backend is None
        with pytest.raises(_WorkerClosed):  # a closed worker refuses work rather than queueing it forever
            first.submit(lambda backend, stop: iter(()), None)
        assert engine.rewrite("default", TEXT, GREEDY).strip()
        assert engine.status()["default"].base_model == str(embedded_model_path())
        assert engine.release_stale() == []  # nothing changed: the loaded model stays

        # Sampling settings apply to the next request; the ones a model is opened with reload it.
        config.inference = replace(config.inference, temperature=0.9)
        assert engine.settings.temperature == 0.9 and engine.release_stale() == []
        config.inference = replace(config.inference, n_ctx=2048)
        assert engine.release_stale() == ["default"]
        assert engine.rewrite("default", TEXT, GREEDY).strip()
        assert engine._workers["default"].backend.n_ctx == 2048

        config.voices = {}
        assert engine.release_stale() == ["default"]
        with pytest.raises(UnknownVoice):
            engine.rewrite("default", TEXT, GREEDY)
