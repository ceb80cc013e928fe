"""The evaluation gate: a candidate adapter is kept only if it models the writer's held-out prose better.

The score is the mean negative log-likelihood per response token (nats) of
the voice's fixed test split (rewrite examples: the writer's own text is the
response). The base model is loaded once; the candidate and the active
adapter are attached to it by name and switched, and the base is scored with
the adapters disabled, so all three see exactly the same tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiced.config import AdapterSettings
from voiced.trainer.peft_backend import IGNORE_INDEX, pad_batch, to_tensors

CANDIDATE = "candidate"
ACTIVE = "active"


@dataclass(frozen=True)
class NllScore:
    """Mean NLL per scored token over a set of examples."""

    nll: float
    tokens: int
    examples: int


def response_nll(model: Any, examples: Sequence[Any], *, batch_size: int | None = None) -> NllScore:
    """Mean NLL per response token (labels != -100) of ``model`` on tokenized examples.

    Pure over (model, examples): no state is kept and the model is only read,
    so the metrics code can call it for any model and example set. ``batch_size``
    is ``[adapters] gate_batch_size`` unless given.
    """
    import torch
    import torch.nn.functional as F

    batch_size = AdapterSettings().gate_batch_size if batch_size is None else batch_size

    device = next(model.parameters()).device
    ordered = sorted(examples, key=lambda ex: len(ex["input_ids"] if isinstance(ex, dict) else ex.input_ids))
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(ordered), batch_size):
                batch = to_tensors(pad_batch(ordered[start : start + batch_size]), str(device))
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                targets = batch["labels"][:, 1:]
                logits = logits[:, :-1].float()
                total += float(
                    F.cross_entropy(
                        logits.reshape(-1, logits.size(-1)),
                        targets.reshape(-1),
                        ignore_index=IGNORE_INDEX,
                        reduction="sum",
                    )
                )
                count += int((targets != IGNORE_INDEX).sum())
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("The test examples have no response tokens to score.")
    return NllScore(total / count, count, len(ordered))


@dataclass
class GateResult:
    """Scores of base, active and candidate on the same test tokens, and the decision."""

    promote: bool
    reason: str
    scores: dict[str, float] = field(default_factory=dict)  # "base", "active" (if any), "candidate"
    active_version: int | None = None
    margin: float = 0.0
    test_examples: int = 0
    test_tokens: int = 0
    towards_writer: dict[str, float] = field(default_factory=dict)  # the "nll+voice" check, when it ran
    voice: dict[str, Any] = field(default_factory=dict)  # the "voice" gate's figures and decision, when it ran
    base_source: str = ""  # where the base model's score came from: "cache" or "computed ..." (trainer.nll_cache)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "test_nll": {k: round(v, 5) for k, v in self.scores.items()},
            "active_version": self.active_version,
            "min_margin": self.margin,
            "test_examples": self.test_examples,
            "test_tokens": self.test_tokens,
            "promoted": self.promote,
            "reason": self.reason,
        }
        if self.towards_writer:
            out["towards_writer"] = {k: round(v, 5) for k, v in self.towards_writer.items()}
        if self.voice:
            out["voice_gate"] = self.voice
        if self.base_source:
            out["base_nll_source"] = self.base_source
        return out


def decide(candidate: float, reference: float, reference_label: str, margin: float) -> tuple[bool, str]:
    """Promote only if the candidate's NLL is below the reference's by at least ``margin``."""
    if candidate <= reference - margin:
        return True, f"test NLL {candidate:.3f} beats {reference_label}'s {reference:.3f}"
    needed = f" by the required margin {margin:g}" if margin > 0 and candidate < reference else ""
    return False, f"test NLL {candidate:.3f} is not better than {reference_label}'s {reference:.3f}{needed}"


def score_adapters(
    base_model: Any,
    examples: Sequence[Any],
    candidate_dir: Path,
    active_dir: Path | None = None,
    *,
    batch_size: int | None = None,
    base: NllScore | None = None,
) -> dict[str, NllScore]:
    """Score the base, the active adapter (if any) and the candidate with one loaded base model.

    The adapters are attached to ``base_model`` and removed again before
    returning, so the caller gets its plain model back. ``base`` is the base
    model's score on these examples when the caller already has it
    (``voiced.trainer.nll_cache``); it is then not computed again.
    """
    from peft import PeftModel

    model = PeftModel.from_pretrained(base_model, str(candidate_dir), adapter_name=CANDIDATE, is_trainable=False)
    try:
        scores: dict[str, NllScore] = {}
        if base is not None:
            scores["base"] = base
        else:
            with model.disable_adapter():
                scores["base"] = response_nll(model, examples, batch_size=batch_size)
        if active_dir is not None:
            model.load_adapter(str(active_dir), adapter_name=ACTIVE, is_trainable=False)
            model.set_adapter(ACTIVE)
            scores["active"] = response_nll(model, examples, batch_size=batch_size)
        model.set_adapter(CANDIDATE)
        scores["candidate"] = response_nll(model, examples, batch_size=batch_size)
        return scores
    finally:
        model.unload()


def run_gate(
    base_model: Any,
    examples: Sequence[Any],
    candidate_dir: Path,
    *,
    active_dir: Path | None = None,
    active_version: int | None = None,
    margin: float | None = None,
    batch_size: int | None = None,
    base: NllScore | None = None,
) -> GateResult:
    """Score all three and decide; the reason names the numbers so the writer can see why.

    ``margin`` and ``batch_size`` are ``[adapters] gate_min_margin`` and ``gate_batch_size`` unless given;
    ``base``, the base model's score on ``examples`` if known (see :func:`score_adapters`)."""
    margin = AdapterSettings().gate_min_margin if margin is None else margin
    if not examples:
        return GateResult(
            False, "there are no test examples to evaluate on (the voice's test split is empty)", margin=margin
        )
    scores = score_adapters(base_model, examples, candidate_dir, active_dir, batch_size=batch_size, base=base)
    nll = {name: score.nll for name, score in scores.items()}
    if "active" in nll:
        promote, reason = decide(nll["candidate"], nll["active"], f"active v{active_version}", margin)
    else:
        promote, reason = decide(nll["candidate"], nll["base"], "the base model", margin)
    first = scores["candidate"]
    return GateResult(promote, reason, nll, active_version, margin, first.examples, first.tokens)
