"""Continuous batching on the real embedded model: requests decoded together give each the tokens it gets
alone (and that llama-cpp-python's create_chat_completion gave before), leave the batch when done or
cancelled, wait for an adapter swap, and stream UTF-8-safe pieces."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from engine_support import GREEDY, TEXT, embedded_config, write_lora_gguf
from process_support import wait_for

from voiced.inference.engine import Engine, EngineError, GenerationCancelled
from voiced.inference.generation import GenerationParams
from voiced.prompts import rewrite_messages

TEXTS = [
    TEXT,
    "My aunt kept bees behind the orchard wall, and every summer she sold the honey at the church fair.",
    "The train was late again, so we waited under the clock and watched the pigeons quarrel over crumbs.",
    "He wrote to her every week from the lighthouse, though the letters only left the island once a month.",
]
WORDS = replace(GREEDY, max_tokens=24)


@pytest.fixture(scope="module")
def engine():
    config = embedded_config()
    config.inference.guard = False  # the model's own tokens, as the batch decodes them
    config.inference.n_parallel = 4
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        engine.load("default")
        yield engine


@pytest.fixture(scope="module")
def alone(engine: Engine) -> dict[str, str]:
    """Each text's greedy rewrite with nothing else in the batch."""
    return {text: engine.rewrite("default", text, WORDS) for text in TEXTS}


def _backend(engine: Engine):
    return engine._workers["default"].backend


def _messages(engine: Engine, text: str) -> list[dict[str, str]]:
    return rewrite_messages(engine.config.voices["default"].system_prompt, text)


def _reference(llm, messages, params: GenerationParams, max_tokens: int, anchor_text: str | None = None) -> str:
    """What LlamaBackend.stream_chat returned before batching: llama-cpp-python's create_chat_completion,
    the draft anchor applied by a logits processor that reads the decoded tokens from the Llama object."""
    from voiced.inference.draft_anchor import DraftAnchor

    processors = None
    if anchor_text and params.draft_anchor:
        ends = {llm.token_eos(), *llm.tokenize(b"<|im_end|>", add_bos=False, special=True)[:1]}
        tokens = llm.tokenize(anchor_text.encode("utf-8"), add_bos=False, special=False)
        anchor = DraftAnchor(tokens, params.draft_anchor, sorted(ends))
        seen: list[int] = []

        def apply(_ids, logits):
            if not seen:
                seen[:] = [llm.n_tokens, 0]
            start, observed = seen
            anchor.observe_all([int(t) for t in llm.input_ids[start + observed : llm.n_tokens]])
            seen[1] = llm.n_tokens - start
            for token, bonus in anchor.bonuses().items():
                logits[token] += bonus
            return logits

        processors = [apply]
    llm.reset()  # decode the whole prompt: a prefix kept from the last call is decoded in other chunks, which
    # changes the floats a little (and, sometimes, a greedy token); the batch decodes every prompt whole
    stream = llm.create_chat_completion(
        messages=messages,
        stream=True,
        logits_processor=processors,
        max_tokens=max_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k,
        repeat_penalty=params.repeat_penalty,
        seed=params.seed,
    )
    return "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in stream)


def test_a_single_greedy_request_decodes_what_create_chat_completion_decoded(engine: Engine) -> None:
    from voiced.inference.llama_runtime import open_llama
    from voiced.models import embedded_model_path

    backend = _backend(engine)
    messages = _messages(engine, TEXT)
    greedy = replace(GREEDY, max_tokens=None).resolved(engine.settings)
    llm = open_llama(embedded_model_path(), n_ctx=engine.settings.n_ctx, n_threads=1)
    try:
        for params, anchor in ((greedy, None), (replace(greedy, draft_anchor=4.0), TEXT)):
            expected = _reference(llm, messages, params, 60, anchor)
            got = "".join(backend.stream_chat(messages, params, 60, threading.Event(), anchor_text=anchor))
            assert got == expected and got.strip()
    finally:
        llm.close()


def test_four_concurrent_requests_each_get_their_single_request_output(engine: Engine, alone: dict[str, str]) -> None:
    batcher = _backend(engine).batcher
    results: dict[str, str] = {}
    widest = []
    done = threading.Event()

    def watch() -> None:  # how many sequences the batch held at once
        while not done.is_set():
            widest.append(batcher.active)
            time.sleep(0.002)

    def client(text: str) -> None:
        results[text] = engine.rewrite("default", text, WORDS)

    watcher = threading.Thread(target=watch)
    watcher.start()
    clients = [threading.Thread(target=client, args=(text,)) for text in TEXTS]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    done.set()
    watcher.join()
    assert results == alone  # token for token: each sequence has its own cells, laid out as if alone
    assert max(widest) >= 3, "the requests were not decoded together"


def test_a_cancelled_request_leaves_the_batch_and_frees_its_sequence(engine: Engine, alone: dict[str, str]) -> None:
    batcher = _backend(engine).batcher
    results: dict[str, str] = {}
    cancel = threading.Event()
    outcome: list[BaseException] = []

    def client(text: str) -> None:
        results[text] = engine.rewrite("default", text, WORDS)

    def cancelled() -> None:
        try:
            for _ in engine.stream_rewrite("default", TEXTS[3], replace(WORDS, max_tokens=200), cancel):
                cancel.set()  # after its first piece
        except GenerationCancelled as exc:
            outcome.append(exc)

    threads = [threading.Thread(target=cancelled)] + [
        threading.Thread(target=client, args=(text,)) for text in TEXTS[:2]
    ]
    for thread in threads:
        thread.start()
    threads[0].join()
    # A new request joins while the others may still run, in the place the cancelled one left.
    joined = engine.rewrite("default", TEXTS[2], WORDS)
    for thread in threads[1:]:
        thread.join()
    assert outcome and isinstance(outcome[0], GenerationCancelled)
    assert results == {text: alone[text] for text in TEXTS[:2]}
    assert joined == alone[TEXTS[2]]
    wait_for(lambda: batcher.active == 0, "the batch to empty", timeout=10)
    assert sorted(batcher._free_ids) == list(range(batcher.n_parallel))  # every sequence id is free again


def test_a_reader_that_stops_reading_never_holds_up_the_others(engine: Engine, alone: dict[str, str]) -> None:
    slow = engine.stream_rewrite("default", TEXTS[0], WORDS)
    first = next(slow)  # then nobody reads it for a while
    assert engine.rewrite("default", TEXTS[1], WORDS) == alone[TEXTS[1]]  # decoded to the end meanwhile
    assert first + "".join(slow) == alone[TEXTS[0]]  # its pieces waited on its own queue


def test_an_abandoned_stream_leaves_the_batch(engine: Engine, alone: dict[str, str]) -> None:
    batcher = _backend(engine).batcher
    stream = engine.stream_rewrite("default", TEXTS[1], replace(WORDS, max_tokens=200))
    next(stream)
    stream.close()
    wait_for(lambda: batcher.active == 0 and not engine.status()["default"].busy, "the request to leave", timeout=10)
    assert engine.rewrite("default", TEXTS[1], WORDS) == alone[TEXTS[1]]


def test_a_request_for_another_adapter_waits_for_the_swap(
    engine: Engine, alone: dict[str, str], tmp_path: Path
) -> None:
    lora = write_lora_gguf(tmp_path / "adapter.gguf")
    worker = engine._workers["default"]
    with Engine(engine.config, adapter_resolver=lambda voice: lora) as adapted_engine:
        adapted = adapted_engine.rewrite("default", TEXT, GREEDY)  # the adapter's output, alone
    assert adapted != engine.rewrite("default", TEXT, GREEDY)

    long = replace(WORDS, max_tokens=60)
    base = {i: engine.rewrite("default", TEXTS[i], long) for i in (1, 2)}
    ended: dict[str, float] = {}
    results: dict[str, str] = {}
    first_piece: list[float] = []

    def client(name: str, text: str, params: GenerationParams) -> None:
        results[name] = engine.rewrite("default", text, params)
        ended[name] = time.perf_counter()

    def later_client() -> None:
        pieces = []
        for piece in engine.stream_rewrite("default", TEXT, GREEDY):
            first_piece.append(time.perf_counter())
            pieces.append(piece)
        results["later"] = "".join(pieces)

    running = [threading.Thread(target=client, args=(f"base{i}", TEXTS[i], long)) for i in (1, 2)]
    for thread in running:
        thread.start()
    wait_for(lambda: _backend(engine).batcher.active == 2, "both base requests to run", timeout=10)
    swap = threading.Thread(target=engine.set_adapter, args=("default", lora))
    swap.start()
    wait_for(lambda: worker._pending_swap == lora, "the swap to be asked for", timeout=10)
    later = threading.Thread(target=later_client)
    later.start()
    for thread in [*running, swap, later]:
        thread.join()
    try:
        assert results["base1"] == base[1] and results["base2"] == base[2]  # finished on the base model
        assert results["later"] == adapted  # ran after the swap, on the adapter
        assert first_piece[0] > max(ended["base1"], ended["base2"])  # it waited for the batch to drain
    finally:
        engine.set_adapter("default", None)
    assert engine.rewrite("default", TEXTS[1], WORDS) == alone[TEXTS[1]]


def test_streamed_pieces_are_whole_characters_and_join_to_the_text(engine: Engine) -> None:
    from voiced.inference.llama_sequence import Sequence, token_piece

    backend = _backend(engine)
    text = "Voilà: a café, naïve prose, “quotes”, 🦩鷗ꙮ — done."
    tokens = backend.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    pieces_of = [token_piece(backend.batcher._vocab, t) for t in tokens]
    assert any(len(p) and not _whole_utf8(p) for p in pieces_of), "no token splits a character here"
    sequence = Sequence(
        [1], GREEDY.resolved(engine.settings), len(tokens), threading.Event(), n_vocab=backend.batcher.n_vocab
    )
    for token, piece in zip(tokens, pieces_of, strict=True):
        sequence.emit(token, piece)
    sequence.finish()
    pieces = []
    while (item := sequence.out.get()) is not None and isinstance(item, str):
        pieces.append(item)
    assert "".join(pieces) == text and "\ufffd" not in "".join(pieces)

    # And through the engine: what streams is what the whole reply says.
    messages = [{"role": "user", "content": "Repeat exactly: " + text}]
    streamed = list(engine.stream_chat("default", messages, replace(GREEDY, max_tokens=40)))
    assert streamed and all("\ufffd" not in piece for piece in streamed)
    assert "".join(streamed) == "".join(engine.stream_chat("default", messages, replace(GREEDY, max_tokens=40)))


def test_a_reply_ends_at_the_end_of_turn_text_spelt_out(engine: Engine) -> None:
    """create_chat_completion stops at the chat format's EOS text even when the model writes it in
    ordinary tokens; the text is left out, and a piece that may start it waits for the next."""
    from voiced.inference.llama_sequence import FINISHED, Sequence, token_piece

    backend = _backend(engine)
    _, stop = backend._prompt.render(_messages(engine, TEXT))
    assert stop == ["<|im_end|>"]
    for text, expected in (("Quite so. <|im_end|> And more", "Quite so. "), ("a < b, and <|im", "a < b, and <|im")):
        tokens = backend.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        sequence = Sequence(
            [1], GREEDY.resolved(engine.settings), 100, threading.Event(), n_vocab=backend.batcher.n_vocab, stop=stop
        )
        ended = [sequence.emit(t, token_piece(backend.batcher._vocab, t)) for t in tokens]
        sequence.finish()
        pieces = []
        while (item := sequence.out.get()) is not FINISHED:
            pieces.append(item)
        assert "".join(pieces) == expected
        assert any(ended) == (expected != text)


def _whole_utf8(piece: bytes) -> bool:
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_a_request_that_does_not_fit_its_sequence_gets_the_context_error() -> None:
    config = embedded_config()
    config.inference.n_ctx = 256
    config.inference.n_parallel = 2
    long_text = " ".join([TEXT] * 20)
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        with pytest.raises(EngineError, match="too long for the model's context window"):
            list(engine.stream_chat("default", [{"role": "user", "content": long_text}], GREEDY))
        backend = engine._workers["default"].backend
        assert backend.n_ctx == 256 and backend.batcher.n_parallel == 2  # per request, not shared
        messages = [{"role": "user", "content": long_text}]
        with pytest.raises(EngineError, match="too long for the model's context window") as raised:
            list(backend.stream_chat(messages, GREEDY.resolved(engine.settings), 10, threading.Event()))
        assert "inference.n_ctx" in raised.value.fix
        assert engine.rewrite("default", TEXT, GREEDY).strip()  # the batch is fine afterwards
