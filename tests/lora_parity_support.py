"""Helpers for comparing what PEFT and llama.cpp compute with the same adapter: logits and held-out NLL."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voiced.inference.llama_runtime import open_llama


def corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x.ravel(), y.ravel())[0, 1])


def llama_logits(model: Path, ids: list[int], lora: Path | None = None) -> np.ndarray:
    """llama.cpp's next-token logits at every position of ``ids`` (float64, one row per token)."""
    llm = open_llama(model, lora_path=lora, n_ctx=max(64, len(ids)), logits_all=True)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float64)
    finally:
        llm.close()


def token_nll(logits: np.ndarray, ids: list[int], labels: list[int]) -> tuple[float, int]:
    """Summed negative log-likelihood of the labelled tokens (labels -100 are left out), and their count.

    ``logits[i]`` predicts token ``i + 1``, as both runtimes lay them out."""
    shifted = logits[:-1] - logits[:-1].max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    targets = np.array(labels[1:])
    keep = targets != -100
    picked = log_probs[np.arange(len(targets))[keep], np.array(ids[1:])[keep]]
    return float(-picked.sum()), int(keep.sum())


def llama_nll(model: Path, sequences: list[tuple[list[int], list[int]]], lora: Path | None = None) -> float:
    """Mean NLL per labelled token over ``(ids, labels)`` sequences, through llama.cpp (one context, reset)."""
    llm = open_llama(model, lora_path=lora, n_ctx=max(64, *(len(ids) for ids, _ in sequences)), logits_all=True)
    total = count = 0.0
    try:
        for ids, labels in sequences:
            llm.reset()
            llm.eval(ids)
            nll, n = token_nll(np.array(llm.scores[: len(ids)], dtype=np.float64), ids, labels)
            total, count = total + nll, count + n
    finally:
        llm.close()
    return total / count
