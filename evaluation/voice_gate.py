"""The gate's voice checks: does a candidate's rewriting move drafts towards the writer?

``decide_voice`` / ``run_voice_gate`` are the default "voice" gate mode: the
reference (the active adapter, or the base) and the candidate rewrite the same
held-out drafts (a roughening family training never used) on one Engine, and
the candidate is promoted only if its chrF gain over the draft beats the
reference's, paired by passage, without copying, commenting, losing names or
a worse held-out NLL (docs/evaluation.md, "Gate"). The Engine is configured as
the writer's is, rewrite guard included, so each side is judged on what the
writer would be given: a rewrite the guard rejects on every try is the draft.

``voice_regression`` is the older "nll+voice" check: after the NLL gate
promotes, the candidate's mean "towards writer" (Cosine Delta on character
3-grams) may not fall below the reference's by more than ``tolerance``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiced.config import DatasetSettings
from voiced.evaluation.run import EvalResult, Target, eval_params, generate_outputs, score_outputs


def voice_regression(
    engine: Any,
    voice: str,
    passages: list,
    writer_text: str,
    settings: Any,
    candidate_gguf: Path,
    reference_gguf: Path | None,
) -> tuple[bool, str, dict[str, float]]:
    """(passes, reason, mean towards-writer per side); ``reference_gguf`` None means the base model."""
    found = [Target("reference", gguf=reference_gguf), Target("candidate", gguf=candidate_gguf)]
    params = eval_params(settings)
    result = EvalResult(voice, list(passages), generate_outputs(engine, voice, found, list(passages), params))
    score_outputs(result, writer_text, settings)
    towards = {label: result.metrics[label]["towards_char3"] for label in ("reference", "candidate")}
    drop = towards["reference"] - towards["candidate"]
    if drop > settings.voice_gate_tolerance:
        return (
            False,
            (
                f"voice regressed: towards-writer {towards['candidate']:.3f} vs "
                f"{towards['reference']:.3f} (tolerance {settings.voice_gate_tolerance:g})"
            ),
            towards,
        )
    return True, f"voice kept: towards-writer {towards['candidate']:.3f} vs {towards['reference']:.3f}", towards


# ---------------------------------------------------------------- the "voice" gate (the default mode)
#
# A candidate is promoted when its rewrites of drafts it never learned to undo (the held-out roughening
# family) recover more of the writer's own text than the reference's rewrites do, paired passage by
# passage; the held-out NLL only guards against a model that got worse at the writer's prose.

REFERENCE, CANDIDATE = "reference", "candidate"
GATE_FIGURES = ("chrf_gain", "copy", "commentary", "kept_names_numbers", "length_ratio", "guard_kept_draft")


def passage_rows(
    outputs: list[str], passages: list, limits: Any, kept_draft: dict[int, str] | None = None
) -> list[dict[str, float | None]]:
    """The gate's figures of each rewrite (chrF gain over the draft, copy, commentary, names kept).

    ``kept_draft`` maps a passage's index to the rewrite guard's code when every try was rejected and the
    draft came back in its place (the writer is given their own text, so it counts as a copy)."""
    from voiced.evaluation.passage_metrics import passage_metrics

    rows = []
    for index, (output, passage) in enumerate(zip(outputs, passages, strict=False)):
        row = passage_metrics(output, passage.rough, passage.original, "writer", {}, limits)
        row["guard_kept_draft"] = float(index in (kept_draft or {}))
        rows.append({name: row.get(name) for name in GATE_FIGURES})
    return rows


def _kept_draft_text(codes: list[str]) -> str:
    """How many drafts came back because the guard rejected every rewrite, by its codes: "3 of them because
    the rewrite guard rejected every try (names dropped 2, commentary 1)"."""
    from collections import Counter

    counted = ", ".join(f"{code.replace('_', ' ')} {n}" for code, n in Counter(codes).most_common())
    return f"{len(codes)} of them because the rewrite guard rejected every try ({counted})"


def _mean(rows: list[dict], name: str) -> float | None:
    values = [row[name] for row in rows if row.get(name) is not None]
    return sum(values) / len(values) if values else None


def bootstrap_share(differences: list[float], seed: int, resamples: int = 2000) -> float:
    """Share of paired bootstrap resamples whose mean difference is above 0 (ties count half).

    With 20-40 passages a mean can favour the candidate by chance; this says
    how often it still would if the passages had been another draw like them."""
    import random

    if not differences:
        return 0.0
    draw = random.Random(seed)
    n, above = len(differences), 0.0
    for _ in range(resamples):
        total = sum(differences[draw.randrange(n)] for _ in range(n))
        above += 1.0 if total > 0 else 0.5 if total == 0 else 0.0
    return above / resamples


@dataclass
class VoiceDecision:
    """What the voice gate saw and decided; stored in the version's manifest under scores.voice_gate."""

    promote: bool
    reason: str
    passages: int
    held_out: dict[str, dict[str, float | None]]  # side -> mean figures on held-out drafts
    gain_difference: float = 0.0  # candidate - reference, mean chrF gain
    confidence: float = 0.0  # bootstrap share of resamples favouring it
    training_family_gain: dict[str, float | None] = field(default_factory=dict)  # only when it was needed
    nll: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        def rounded(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: rounded(v) for k, v in value.items()}
            return round(value, 4) if isinstance(value, float) else value

        return rounded(dataclasses.asdict(self))


def _share_text(value: float, bar: float) -> str:
    """A share as a percentage, with a decimal when a whole one would read as the bar it missed (97.6% vs 98%)."""
    whole = f"{value:.0%}"
    return whole if whole != f"{bar:.0%}" or value >= bar else f"{value:.1%}"


def _share(rows: list[dict], name: str) -> tuple[int, int]:
    hits = sum(1 for row in rows if row.get(name))
    return hits, len(rows)


def decide_voice(
    reference: list[dict],
    candidate: list[dict],
    settings: Any,
    *,
    reference_label: str,
    nll: dict[str, float] | None = None,
    training_family: Callable[[], tuple[list[dict], list[dict]]] | None = None,
    kept_draft_codes: list[str] | None = None,
) -> VoiceDecision:
    """Promote or reject from per-passage figures of both sides on the same held-out drafts.

    ``nll`` holds "reference" and "candidate" test NLL (the guard). ``training_family``
    is called only when the held-out comparison fails: it gives (reference, candidate)
    rows on training-family drafts of the same passages, to tell "learned only to undo
    the training roughener" from "no better". ``kept_draft_codes``: the guard's reasons for the
    candidate's drafts it gave back, so a copy verdict can say how many were the guard's."""
    n = len(candidate)
    held_out = {
        side: {name: _mean(rows, name) for name in GATE_FIGURES}
        for side, rows in ((REFERENCE, reference), (CANDIDATE, candidate))
    }
    decision = VoiceDecision(False, "", n, held_out, nll=dict(nll or {}))
    if n == 0:
        decision.reason = (
            "There are no held-out passages to test the new voice on (the voice's test split "
            "is empty); add more writing and train again."
        )
        return decision
    if nll and nll[CANDIDATE] > nll[REFERENCE] + settings.gate_nll_tolerance:
        decision.reason = (
            f"The new voice predicts your held-out writing worse than {reference_label} does "
            f"(test NLL {nll[CANDIDATE]:.3f} against {nll[REFERENCE]:.3f}, more than "
            f"{settings.gate_nll_tolerance:g} worse), so it was not used."
        )
        return decision
    # Copying is held against a candidate only beyond what the writer has now: the base model (or the active
    # adapter) handing back more drafts unchanged than the candidate is no reason to keep it.
    copies, _ = _share(candidate, "copy")
    reference_copies, _ = _share(reference, "copy")
    if copies / n > settings.gate_max_copy_rate and copies > reference_copies:
        guard_detail = f", {_kept_draft_text(kept_draft_codes)}" if kept_draft_codes else ""
        decision.reason = (
            f"The new voice copies the draft: it gave back {copies} of {n} test drafts "
            f"unchanged ({reference_label} {reference_copies}){guard_detail}, so it would not change your text."
        )
        return decision
    comments, _ = _share(candidate, "commentary")
    if comments / n > settings.gate_max_commentary_rate:
        decision.reason = (
            f"The new voice comments on the text instead of rewriting it ({comments} of {n} "
            "test drafts got a remark about the text rather than a rewrite)."
        )
        return decision
    kept = held_out[CANDIDATE]["kept_names_numbers"]
    if kept is not None and kept < settings.gate_min_names_kept:
        decision.reason = (
            "The new voice loses names or numbers: it kept "
            f"{_share_text(kept, settings.gate_min_names_kept)} of them in its rewrites "
            f"of the test drafts (at least {settings.gate_min_names_kept:.0%} is needed)."
        )
        return decision
    differences = [c["chrf_gain"] - r["chrf_gain"] for r, c in zip(reference, candidate, strict=False)]
    decision.gain_difference = sum(differences) / n
    decision.confidence = bootstrap_share(differences, settings.seed)
    ours, theirs = held_out[CANDIDATE]["chrf_gain"], held_out[REFERENCE]["chrf_gain"]
    if decision.gain_difference >= settings.gate_min_gain and decision.confidence >= settings.gate_confidence:
        decision.promote = True
        decision.reason = (
            f"The new voice's rewrites of {n} drafts it never trained on come closer to your own "
            f"text than {reference_label}'s (chrF gain {ours:+.1f} against {theirs:+.1f}, "
            f"better in {decision.confidence:.0%} of resamples)."
        )
        return decision
    if training_family is not None:
        ref_rows, cand_rows = training_family()
        decision.training_family_gain = {
            REFERENCE: _mean(ref_rows, "chrf_gain"),
            CANDIDATE: _mean(cand_rows, "chrf_gain"),
        }
        trained, before = decision.training_family_gain[CANDIDATE], decision.training_family_gain[REFERENCE]
        if trained is not None and before is not None and trained - before >= settings.gate_undo_margin:
            decision.reason = (
                f"The new voice only learned to undo voiced's own practice drafts: on drafts like "
                f"the ones it trained on its rewrites gain {trained:+.1f} chrF (against "
                f"{before:+.1f}), but on drafts it never saw they are no closer to your text than "
                f"{reference_label}'s ({ours:+.1f} against {theirs:+.1f})."
            )
            return decision
    decision.reason = (
        f"The new voice's rewrites of {n} drafts it never trained on are not closer to your own "
        f"text than {reference_label}'s (chrF gain {ours:+.1f} against {theirs:+.1f}; it needs "
        f"{settings.gate_min_gain:g} more, in at least {settings.gate_confidence:.0%} of resamples; "
        f"it had {decision.confidence:.0%})."
    )
    return decision


def training_family_passages(passages: list, seed: int, profile: Any, structural_noise: float) -> list:
    """The same originals drafted again by the training families (what the candidate learned to undo)."""
    from voiced.evaluation.drafts import EvalPassage
    from voiced.trainer.roughen import roughen

    drafted = []
    for passage in passages:
        parts = [
            roughen(part, seed, structural_noise=structural_noise, profile=profile)
            for part in passage.original.split("\n\n")
            if part.strip()
        ]
        drafted.append(
            EvalPassage(
                "\n\n".join(d.text for d in parts),
                passage.original,
                "training",
                "+".join(sorted({d.style for d in parts})),
            )
        )
    return drafted


def run_voice_gate(
    engine: Any,
    voice: str,
    dataset: Any,
    settings: Any,
    *,
    candidate: Path,
    reference: Path | None,
    reference_label: str,
    nll: dict[str, float] | None = None,
    limits: Any = None,
    structural_noise: float | None = None,
    base_rewrites: Any = None,
) -> VoiceDecision:
    """Rewrite the fixed held-out drafts with the reference (None: the base) and the candidate on ``engine``
    (greedy, one loaded model, adapters switched) and decide; training-family drafts only if needed
    (roughened with ``structural_noise``, ``[dataset] structural_noise`` unless given).

    ``base_rewrites`` (:class:`voiced.evaluation.rewrite_cache.BaseRewrites`), when the reference is the
    base model, gives the base's rewrites of drafts it rewrote in an earlier run and keeps new ones."""
    noise = DatasetSettings().structural_noise if structural_noise is None else structural_noise
    import time

    from voiced.evaluation.drafts import signature_profile
    from voiced.evaluation.run import held_out_passages

    started = time.monotonic()
    passages = held_out_passages(dataset, settings.gate_passages, settings.seed)
    params = eval_params(settings)
    sides = [Target(REFERENCE, gguf=reference), Target(CANDIDATE, gguf=candidate)]

    cache = base_rewrites if reference is None else None
    kept_draft: dict[str, dict[int, str]] = {}  # side -> passage index -> the guard's code, for the last drafts

    def heard(side: str, index: int, report: Any) -> None:
        from voiced.inference.rewrite_guard import REJECTED

        if report.outcome == REJECTED:
            kept_draft.setdefault(side, {})[index] = report.code

    def rows_for(drafts: list) -> tuple[list[dict], list[dict]]:
        texts = [d.rough for d in drafts]
        cached = cache.get(texts) if cache is not None else None
        kept_draft.clear()
        outputs = generate_outputs(
            engine, voice, sides[1:] if cached is not None else sides, drafts, params, on_guard=heard
        )
        if cached is not None:
            outputs[REFERENCE], kept_draft[REFERENCE] = cached
        elif cache is not None:
            cache.put(texts, outputs[REFERENCE], kept_draft.get(REFERENCE, {}))
        return (
            passage_rows(outputs[REFERENCE], drafts, limits, kept_draft.get(REFERENCE, {})),
            passage_rows(outputs[CANDIDATE], drafts, limits, kept_draft.get(CANDIDATE, {})),
        )

    def training_family() -> tuple[list[dict], list[dict]]:
        profile = signature_profile(ex.response_text for ex in dataset.examples.get("train", []))
        return rows_for(training_family_passages(passages, settings.seed, profile, noise))

    ref_rows, cand_rows = rows_for(passages) if passages else ([], [])
    candidate_kept_draft = list(kept_draft.get(CANDIDATE, {}).values())
    decision = decide_voice(
        ref_rows,
        cand_rows,
        settings,
        reference_label=reference_label,
        nll=nll,
        training_family=training_family,
        kept_draft_codes=candidate_kept_draft,
    )
    decision.seconds = time.monotonic() - started
    return decision
