"""One evaluation run: rewrite held-out drafts of the voice's test passages with the base, the active
adapter and any candidate on one loaded model (the daemon's Engine, in process), then score every output.

The drafts come from voiced.evaluation.drafts (a roughening family training
never uses, and optionally a model on loopback), so an adapter that only
learned to undo the training roughener gains nothing here."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from voiced.config import Config, EvalSettings
from voiced.evaluation.drafts import EvalPassage, endpoint_passages, signature_profile
from voiced.evaluation.drafts import held_out_passages as drafted
from voiced.evaluation.passage_metrics import mean_metrics, passage_metrics
from voiced.evaluation.voice_models import WRITER, voice_models
from voiced.paths import Paths

FLOOR, CEILING = "draft (floor)", "original (ceiling)"
__all__ = ["EvalPassage", "EvalResult", "Target", "run_eval", "held_out_passages", "score_outputs"]


@dataclass(frozen=True)
class Target:
    """A model to evaluate: the base (no adapter) or one registry version."""

    label: str
    version: int | None = None
    gguf: Path | None = None
    peft_dir: Path | None = None


@dataclass
class EvalResult:
    voice: str
    passages: list[EvalPassage]
    outputs: dict[str, list[str]] = field(default_factory=dict)  # label -> one output per passage
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> mean metrics
    nll: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> {nll, perplexity, tokens}
    losses: dict[str, dict[str, list]] = field(default_factory=dict)  # "v3" -> {train: [[step, loss]], valid}
    seconds: dict[str, float] = field(default_factory=dict)
    by_source: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # source -> label -> means
    references: list[str] = field(default_factory=list)  # the other authors attribution chooses among
    notes: list[str] = field(default_factory=list)

    def sources(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for passage in self.passages:
            counts[passage.source] = counts.get(passage.source, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "voice": self.voice,
            "passages": len(self.passages),
            "drafts": self.sources(),
            "references": self.references,
            "metrics": self.metrics,
            "by_source": self.by_source,
            "nll": self.nll,
            "notes": self.notes,
            "seconds": self.seconds,
        }


def held_out_originals(dataset: Any, n: int | None = None) -> list[str]:
    """The writer's text of the test split's rewrite examples, in split order."""
    rows = [ex.response_text for ex in dataset.examples.get("test", []) if ex.task == "rewrite"]
    return rows[:n] if n else rows


def held_out_passages(dataset: Any, n: int | None = None, seed: int | None = None) -> list[EvalPassage]:
    """The test split's originals with drafts by the held-out roughening family (never the training drafts
    saved in the dataset), taking the writer's signature words from the train split as training does."""
    return drafted_passages(dataset, n, EvalSettings().seed if seed is None else seed)[0]


def drafted_passages(dataset: Any, n: int | None, seed: int) -> tuple[list[EvalPassage], int]:
    """(held-out passages, how many test originals the held-out family could not draft)."""
    profile = signature_profile(ex.response_text for ex in dataset.examples.get("train", []))
    return drafted(held_out_originals(dataset), seed, profile, n)


def voice_dataset(config: Config, name: str, paths: Paths) -> Any:
    """The saved dataset (its split is the fixed one), built from the corpus only if none was saved yet."""
    from voiced.trainer.dataset import DatasetMissing, build_voice_dataset, dataset_dir, load_dataset

    try:
        return load_dataset(dataset_dir(paths.data_dir, name), name)
    except DatasetMissing:
        return build_voice_dataset(config, name, paths)[0]


def writer_profile(dataset: Any) -> str:
    """The writer's own prose from the train split only, so test passages never shape the profile."""
    return "\n\n".join(ex.response_text for ex in dataset.examples.get("train", []) if ex.task == "rewrite")


def targets(voice: str, paths: Paths | None = None, adapter: int | Sequence[int] | None = None) -> list[Target]:
    """Base, the active version and every candidate (or base and the versions asked for, in that order)."""
    from voiced.registry import Registry

    registry = Registry.open(voice, paths)
    asked = [adapter] if isinstance(adapter, int) else list(adapter or [])
    chosen = (
        [registry.get(n) for n in dict.fromkeys(asked)]
        if asked
        else [v for v in registry.versions() if v.is_active or v.status == "candidate"]
    )
    found = [Target("base")]
    for v in chosen:
        label = f"v{v.number}" + (" (active)" if v.is_active else "")
        found.append(Target(label, v.number, v.gguf_path, v.adapter_dir))
    return found


def version_losses(voice: str, paths: Paths | None = None) -> dict[str, dict[str, list]]:
    from voiced.registry import Registry

    return {
        f"v{v.number}": v.manifest.losses.to_dict() for v in Registry.open(voice, paths).versions() if v.manifest.losses
    }


def eval_params(settings: EvalSettings) -> Any:
    """Greedy generation at the evaluation seed; the paragraph's own length budget unless
    ``[evaluation] max_tokens`` caps it (a cap cuts long rewrites short, which scores them as lost text)."""
    from voiced.inference.generation import GenerationParams

    return GenerationParams(temperature=0.0, seed=settings.seed, max_tokens=settings.max_tokens or None)


def generate_outputs(
    engine: Any,
    voice: str,
    found: list[Target],
    passages: list[EvalPassage],
    params: Any,
    progress: Callable[[dict], None] | None = None,
    on_guard: Callable[[str, int, Any], None] | None = None,
) -> dict[str, list[str]]:
    """Each target's rewrites; the adapter is switched on the engine's one loaded model.

    The model is loaded first: an adapter set before the lazy load would give way to the one the
    engine reads from the registry when it loads, and the first target would be scored on the wrong model.
    ``on_guard(label, passage index, GuardReport)`` hears what the rewrite guard did, when it is on."""
    engine.load(voice)
    outputs: dict[str, list[str]] = {}
    total, done = len(found) * len(passages), 0
    for target in found:
        engine.set_adapter(voice, target.gguf)
        outputs[target.label] = []
        for index, passage in enumerate(passages):
            heard = on_guard and partial(on_guard, target.label, index)
            outputs[target.label].append(engine.rewrite(voice, passage.rough, params, on_guard=heard).strip())
            done += 1
            if progress:
                progress({"event": "rewrite", "target": target.label, "done": done, "total": total})
    return outputs


def score_outputs(result: EvalResult, writer_text: str, settings: Any, limits: Any = None) -> None:
    """Mean metrics for every output set and for the two anchors, overall and per draft source.

    ``limits`` (the rewrite guard's) adds the commentary figures."""
    scoring = voice_models(writer_text, settings)
    result.references = scoring.references
    result.notes.extend(scoring.notes())
    sets = {FLOOR: [p.rough for p in result.passages], **result.outputs, CEILING: [p.original for p in result.passages]}
    sources = result.sources()
    for label, outputs in sets.items():
        rows = [
            passage_metrics(out, p.rough, p.original, WRITER, scoring.models, limits)
            for out, p in zip(outputs, result.passages, strict=False)
        ]
        result.metrics[label] = mean_metrics(rows)
        if len(sources) > 1:
            for source in sources:
                picked = [row for row, p in zip(rows, result.passages, strict=False) if p.source == source]
                result.by_source.setdefault(source, {})[label] = mean_metrics(picked)


def fit_scores(
    config: Config, voice: str, dataset: Any, found: list[Target], limit: int | None = None
) -> dict[str, dict[str, float]]:
    """NLL per response token and perplexity of the held-out text, with the gate's own scoring function.

    ``limit`` scores only the first test examples (the ones rewritten), so a short run stays short."""
    import math

    from peft import PeftModel

    from voiced.models import resolve_base_model
    from voiced.trainer.base_model import load_base_model
    from voiced.trainer.gate import response_nll
    from voiced.trainer.tokenize import tokenize_examples

    model, tokenizer = load_base_model(resolve_base_model(config.voice(voice).base_model), "cpu")
    rewrites = [ex for ex in dataset.examples.get("test", []) if ex.task == "rewrite"][:limit]
    tokenized, _ = tokenize_examples(tokenizer, rewrites, config.dataset.max_example_tokens)
    if not tokenized:
        return {}
    batch = config.adapters.gate_batch_size
    scores = {}
    for target in found:
        if target.peft_dir is None:
            score = response_nll(model, tokenized, batch_size=batch)
        else:
            peft = PeftModel.from_pretrained(model, str(target.peft_dir), is_trainable=False)
            score = response_nll(peft, tokenized, batch_size=batch)
            model = peft.unload()
        scores[target.label] = {"nll": score.nll, "perplexity": math.exp(score.nll), "tokens": score.tokens}
    return scores


def eval_passages(config: Config, dataset: Any, n: int) -> tuple[list[EvalPassage], list[str]]:
    """Held-out drafts of the first ``n`` test originals, then model-written ones when an endpoint is set."""
    settings = config.evaluation
    passages, skipped = drafted_passages(dataset, n, settings.seed)
    notes = [f"{skipped} test passages the held-out family could not draft were skipped"] if skipped else []
    written, endpoint_notes = endpoint_passages([p.original for p in passages], settings, settings.seed)
    notes += endpoint_notes
    if written and (settings.draft_endpoint, settings.draft_model) == (
        config.dataset.rough_draft_endpoint,
        config.dataset.rough_draft_model,
    ):
        notes.append(
            "the model-written drafts come from the same endpoint and model as the training drafts, "
            "so they are not held out; name another model in [evaluation] draft_model"
        )
    return passages + written, notes


def raw_model_config(config: Config) -> Config:
    """The configuration with the rewrite guard off: the eval measures what the model writes (the
    commentary rate is the guard's verdict on it), not the draft the guard would put back instead."""
    return dataclasses.replace(config, inference=dataclasses.replace(config.inference, guard=False))


def run_eval(
    config: Config,
    voice: str | None = None,
    *,
    adapter: int | Sequence[int] | None = None,
    n: int | None = None,
    paths: Paths | None = None,
    progress: Callable[[dict], None] | None = None,
    with_nll: bool = True,
    engine: Any = None,
) -> EvalResult:
    """The whole evaluation of a voice; ``engine`` may be passed in to reuse a loaded model."""
    from voiced.inference.engine import Engine
    from voiced.inference.rewrite_guard import GuardLimits
    from voiced.paths import get_paths

    paths = paths or get_paths()
    name = config.voice(voice).name
    settings = config.evaluation
    dataset = voice_dataset(config, name, paths)
    started = time.monotonic()
    passages, notes = eval_passages(config, dataset, n or settings.passages)
    if not passages:
        raise ValueError(
            f"Voice {name!r} has no rewrite passages in its test split; add more writing "
            "(the split is by document) and run `voiced dataset build`."
        )
    found = targets(name, paths, adapter)
    result = EvalResult(name, passages, losses=version_losses(name, paths), notes=notes)
    result.seconds["drafts"] = round(time.monotonic() - started, 2)
    params = eval_params(settings)
    started = time.monotonic()
    own = engine is None
    engine = engine or Engine(raw_model_config(config), adapter_resolver=lambda _voice: None)
    try:
        result.outputs = generate_outputs(engine, name, found, passages, params, progress)
    finally:
        if own:
            engine.close()
    result.seconds["generate"] = round(time.monotonic() - started, 2)
    started = time.monotonic()
    score_outputs(result, writer_profile(dataset), settings, GuardLimits.from_settings(config.inference))
    result.seconds["metrics"] = round(time.monotonic() - started, 2)
    if with_nll:
        started = time.monotonic()
        result.nll = fit_scores(config, name, dataset, found, len(passages))
        result.seconds["nll"] = round(time.monotonic() - started, 2)
    return result


def arena_matches(
    config: Config,
    voice: str | None,
    left: str,
    right: str,
    *,
    n: int | None = None,
    paths: Paths | None = None,
    engine: Any = None,
    seed: int | None = None,
) -> list:
    """Blind pairs for the arena: ``left``/``right`` are "base" or a version number as text."""
    from voiced.evaluation.arena import make_matches
    from voiced.inference.engine import Engine
    from voiced.paths import get_paths

    paths = paths or get_paths()
    name = config.voice(voice).name
    dataset = voice_dataset(config, name, paths)
    passages = held_out_passages(dataset, n or config.evaluation.passages, config.evaluation.seed)
    if not passages:
        raise ValueError(f"Voice {name!r} has no rewrite passages in its test split to compare on.")
    chosen = [target_named(name, spec, paths) for spec in (left, right)]
    params = eval_params(config.evaluation)
    own = engine is None
    engine = engine or Engine(config, adapter_resolver=lambda _voice: None)
    try:
        outputs = generate_outputs(engine, name, chosen, passages, params)
    finally:
        if own:
            engine.close()
    return make_matches(
        [p.rough for p in passages],
        (chosen[0].label, outputs[chosen[0].label]),
        (chosen[1].label, outputs[chosen[1].label]),
        seed,
    )


def target_named(voice: str, spec: str, paths: Paths | None = None) -> Target:
    """ "base" or a registry version number ("3" or "v3")."""
    if spec == "base":
        return Target("base")
    from voiced.registry import Registry

    version = Registry.open(voice, paths).get(int(spec.lstrip("v")))
    return Target(f"v{version.number}", version.number, version.gguf_path, version.adapter_dir)
