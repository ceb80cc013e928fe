"""Transformers backend benchmark: tokens per second of the backend's stream against a bare ``model.generate``.

The embedded model is de-quantised once and saved as a safetensors folder (what a Hugging Face base is),
then served by ``TransformersBackend`` on one torch thread. On the same chat prompt, greedy, up to
``--tokens`` new tokens, ``--repeats`` times each, it prints the tokens per second of

* the backend: ``stream_chat`` read to the end, as the engine reads it;
* the reference: ``model.generate(do_sample=False)`` on the same prompt ids, same end-of-turn tokens;

and their ratio (backend / reference; 1.0 means the backend adds nothing to the library's own loop).
Tokens of the backend's output are counted by re-tokenising the text it streamed.

    .venv/bin/python bench/bench_hf_backend.py [--tokens 64] [--repeats 3] [--threads 1] [--backend FILE]

``--backend FILE`` times the ``TransformersBackend`` of another copy of the module, e.g. the one before
the backend used ``generate`` (``git show 5aa696a:inference/hf_backend.py > /tmp/old_hf_backend.py``).

About two minutes on a busy 2-core machine (the model's conversion and load take 20 s of it).

Measured 2026-12-02 on 2 shared cores (load 2 to 7), defaults, two runs each, backend vs reference tokens/s:
before (the hand-written sampler of 5aa696a, ``--backend``): 4.2 vs 3.8 (1.11), 7.1 vs 6.5 (1.09);
after (``generate`` with a streamer on a thread): 2.9 vs 3.2 (0.93), 4.2 vs 4.8 (0.89). The streamer and
the thread cost nothing measurable here (generate alone, on a thread, with a streamer, both: 4.7 to
5.3 tokens/s, within the noise); the difference is generate's own per-token work against the old bare
forward pass. The old loop re-decoded its whole output per token, which at 64 tokens costs little.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import threading
import time
from pathlib import Path

from transformers.utils.logging import disable_progress_bar

from voiced.config import EMBEDDED_MODEL
from voiced.inference import hf_backend
from voiced.inference.generation import GenerationParams
from voiced.trainer.base_model import load_base_model

MESSAGES = [
    {"role": "system", "content": "You are a helpful writer."},
    {"role": "user", "content": "Write a long story about a harbour town in the rain, with boats and fishermen."},
]


def save_base(folder: Path) -> None:
    model, tokenizer = load_base_model(EMBEDDED_MODEL)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder, safe_serialization=True)


def backend_rate(backend: hf_backend.TransformersBackend, tokens: int) -> tuple[float, int]:
    params = GenerationParams(temperature=0.0, top_p=1.0, top_k=0, repeat_penalty=1.0, seed=1)
    started = time.perf_counter()
    text = "".join(backend.stream_chat(MESSAGES, params, tokens, threading.Event()))
    seconds = time.perf_counter() - started
    count = backend.count_tokens(text)
    return count / seconds, count


def reference_rate(
    backend: hf_backend.TransformersBackend, tokens: int, messages: list[dict] = MESSAGES
) -> tuple[float, int]:
    """Tokens/s (and count) of a bare greedy ``model.generate`` on the backend's model and prompt."""
    import torch

    tokenizer = backend.tokenizer
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    inputs = torch.tensor([ids["input_ids"]])
    end = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    started = time.perf_counter()
    with torch.no_grad():
        out = backend.model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            do_sample=False,
            max_new_tokens=tokens,
            eos_token_id=end,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )
    seconds = time.perf_counter() - started
    count = out.shape[1] - inputs.shape[1]
    return count / seconds, count


def backend_class(path: Path | None) -> type[hf_backend.TransformersBackend]:
    """The backend of this checkout, or of the module file at ``path``."""
    if path is None:
        return hf_backend.TransformersBackend
    spec = importlib.util.spec_from_file_location("bench_hf_backend_under_test", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TransformersBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one suits a shared machine)")
    parser.add_argument("--backend", type=Path, help="time the TransformersBackend of this module file instead")
    args = parser.parse_args()
    backend_type = backend_class(args.backend)
    disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        save_base(Path(tmp))
        backend = backend_type(tmp, n_ctx=2048, n_threads=args.threads)
        backend_rate(backend, 4)  # warm-up: first-call allocations are not the loop's cost
        rows = {"backend": [], "reference": []}
        for _ in range(args.repeats):  # interleaved, so a busy spell on the machine hits both alike
            rows["backend"].append(backend_rate(backend, args.tokens))
            rows["reference"].append(reference_rate(backend, args.tokens))
    medians = {}
    for name, runs in rows.items():
        medians[name] = statistics.median(rate for rate, _ in runs)
        counts = ", ".join(str(count) for _, count in runs)
        print(f"{name:9}  {medians[name]:6.1f} tokens/s (median of {len(runs)}; tokens per run: {counts})")
    print(f"ratio      {medians['backend'] / medians['reference']:.2f} (backend / reference)")


if __name__ == "__main__":
    main()
