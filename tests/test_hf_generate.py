"""The transformers backend generates with transformers' own ``generate``: parity with the library, seeds,
stop strings, cancellation that leaves no thread behind, and no warnings per request.

On a real Hugging Face folder: the embedded model de-quantised and saved as safetensors."""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from engine_support import embedded_config

from voiced.inference.engine import Engine, GenerationCancelled
from voiced.inference.generation import GenerationParams
from voiced.inference.hf_generate import THREAD_NAME, until_stop_string

MESSAGES = [
    {"role": "system", "content": "You are a helpful writer."},
    {"role": "user", "content": "Describe a harbour town in the rain, with boats and fishermen."},
]
GREEDY = GenerationParams(temperature=0.0, top_p=1.0, top_k=0, repeat_penalty=1.0, seed=1)
SAMPLED = GenerationParams(temperature=1.0, top_p=1.0, top_k=0, repeat_penalty=1.0, seed=5)


@pytest.fixture(scope="module")
def hf_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from voiced.config import EMBEDDED_MODEL
    from voiced.trainer.base_model import load_base_model

    folder = tmp_path_factory.mktemp("hf") / "base"
    model, tokenizer = load_base_model(EMBEDDED_MODEL)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def backend(hf_base: Path):
    from voiced.inference.hf_backend import TransformersBackend

    backend = TransformersBackend(str(hf_base), n_ctx=2048, n_threads=1)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def greedy_reply(backend) -> str:
    return reply(backend, GREEDY, 24)


def reply(backend, params: GenerationParams, max_tokens: int, **kwargs) -> str:
    return "".join(backend.stream_chat(MESSAGES, params, max_tokens, threading.Event(), **kwargs))


def generate_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD_NAME]


@pytest.mark.slow
def test_greedy_output_is_what_generate_gives_on_the_same_prompt(backend, greedy_reply: str) -> None:
    import torch

    tokenizer = backend.tokenizer
    ids = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=True, return_dict=True)
    inputs = torch.tensor([ids["input_ids"]])
    with torch.no_grad():
        out = backend.model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            do_sample=False,
            max_new_tokens=24,
            eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")],
            pad_token_id=tokenizer.eos_token_id,
        )
    expected = tokenizer.decode(out[0, inputs.shape[1] :], skip_special_tokens=True)
    assert len(expected.split()) >= 8
    assert greedy_reply == expected


@pytest.mark.slow
def test_a_seed_makes_sampling_reproducible(backend) -> None:
    first = reply(backend, SAMPLED, 16)
    assert reply(backend, SAMPLED, 16) == first
    others = {reply(backend, replace(SAMPLED, seed=seed), 16) for seed in (6, 7)}
    assert others != {first}  # the seed is what chose the tokens


@pytest.mark.slow
def test_a_stop_string_ends_the_output_before_it(backend, greedy_reply: str) -> None:
    words = greedy_reply.split()
    stop = words[len(words) // 2]
    expected = greedy_reply[: greedy_reply.index(stop)]
    assert expected.strip()
    out = reply(backend, GREEDY, 24, stop=[stop])
    assert out == expected and stop not in out


def test_stop_strings_split_across_pieces_are_found_and_held_back() -> None:
    pieces = ["The end", " is ne", "ar. ST", "OP and more"]
    assert "".join(until_stop_string(pieces, ["STOP"])) == "The end is near. "
    held = list(until_stop_string(["a S", "Tx", ""], ["STOP"]))
    assert held == ["a ", "STx"]  # "S" waited for the next piece, which showed it was no stop
    assert list(until_stop_string(["STOP now"], ["STOP"])) == []
    assert list(until_stop_string(["one ", "", "two"], [])) == ["one ", "two"]


@pytest.mark.slow
def test_cancelling_mid_stream_stops_generation_at_once_and_leaves_no_thread(backend) -> None:
    cancel = threading.Event()
    stream = backend.stream_chat(MESSAGES, GREEDY, 400, cancel)
    first = next(stream)
    assert first and len(generate_threads()) == 1
    cancel.set()
    started = time.perf_counter()
    after = list(stream)
    assert after == []  # nothing after the cancel
    assert time.perf_counter() - started < 10  # 400 tokens take minutes here; one step is well under a second
    assert generate_threads() == []


@pytest.mark.slow
def test_a_reader_that_walks_away_stops_the_generation(backend) -> None:
    stream: Iterator[str] = backend.stream_chat(MESSAGES, GREEDY, 400, threading.Event())
    next(stream)
    started = time.perf_counter()
    stream.close()  # what the engine does when its client goes away
    assert time.perf_counter() - started < 10
    assert generate_threads() == []


@pytest.mark.slow
def test_a_cancelled_engine_request_raises_and_its_generation_ends(hf_base: Path) -> None:
    config = embedded_config(hf=str(hf_base))
    with Engine(config, adapter_resolver=lambda voice: None) as engine:
        cancel = threading.Event()
        stream = engine.stream_chat("hf", MESSAGES, GenerationParams(max_tokens=300, seed=3), cancel)
        assert next(stream)
        cancel.set()
        with pytest.raises(GenerationCancelled):
            list(stream)
        # the worker runs requests in order: once the next one is done, the cancelled one has ended
        assert engine.rewrite("hf", "The boats came in.", GenerationParams(max_tokens=4, seed=3)).strip()
        assert generate_threads() == []


@pytest.mark.slow
def test_generate_logs_no_warnings_per_request(backend) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.warning_once.cache_clear()  # warnings transformers logs once per process count too
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    hf_logger = logging.getLogger("transformers")
    hf_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            penalised = replace(SAMPLED, repeat_penalty=1.2, top_k=40, top_p=0.9)
            for params in (GREEDY, penalised):
                assert reply(backend, params, 6, stop=["zebra"]).strip()
    finally:
        hf_logger.removeHandler(handler)
    assert [str(w.message) for w in caught] == []
    assert [record.getMessage() for record in records] == []
