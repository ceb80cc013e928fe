"""Configuration: every default lives here, once.

One dataclass per concern, each field with a help string and its allowed
values, is the contract. The TOML file in the user config directory overrides
the defaults, and CLI flags override the file, but only flags the user actually
gave (see ``voiced.cli.options``).

The dataclasses are pydantic dataclasses: still real dataclasses
(``dataclasses.replace``, ``asdict`` and ``fields`` work), but building one
validates it, defaults included. So no settings object exists with a value of
the wrong type or out of its range: the file is checked once, when it is loaded,
and an override when it is applied (``dataclasses.replace`` builds a new object).
Every problem is a :class:`ConfigError` naming the file, the ``section.key``,
the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import field
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin, get_type_hints

import tomli_w
from pydantic import ConfigDict, TypeAdapter, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core import ArgsKwargs, ErrorDetails

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (README: 3.10+): the same parser, published as tomli
    import tomli as tomllib

from voiced.errors import VoicedError
from voiced.paths import Paths, get_paths
from voiced.private_files import write_private

EMBEDDED_MODEL = "embedded:SmolLM2-135M-Instruct"

DEFAULT_SYSTEM_PROMPT = (
    "You are the writing voice of the author whose prose you were trained on. "
    "Write as they write: their vocabulary, sentence rhythm, punctuation and turns "
    "of phrase. Keep the meaning, the names and the facts of the text you are given."
)

# The formats the extractors understand, by file extension.
SUPPORTED_EXTENSIONS = (
    ".md",
    ".markdown",
    ".txt",
    ".text",
    ".rst",
    ".org",
    ".tex",
    ".docx",
    ".odt",
)


BOUNDS = ("ge", "gt", "le", "lt")  # pydantic's names: at least, above, at most, below
TIME_OF_DAY = r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$"  # HH:MM, 24-hour ([scheduler] nightly_at)


class ConfigError(VoicedError):
    """An invalid or missing configuration, with what to do about it."""


def _help(
    text: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    pattern: str | None = None,
    **kwargs: Any,
) -> Any:
    """A dataclass field carrying its help string (shown by docs and ``--help``) and, for numbers, its range
    (``ge``/``gt``/``le``/``lt``), which pydantic reads from the field's metadata and enforces. Numbers and
    booleans are strict: the file's ``"6"`` or ``true`` for a count, or ``1.5`` for an integer, is refused, not
    converted (an integer for a decimal is fine). Text with a few allowed values is typed ``Literal``, text of
    a given shape has a ``pattern``."""
    bounds = {name: value for name, value in zip(BOUNDS, (ge, gt, le, lt), strict=False) if value is not None}
    strict = {"strict": True} if isinstance(kwargs.get("default"), (int, float)) else {}
    shape = {"pattern": pattern} if pattern else {}
    return field(metadata={"help": text, **strict, **bounds, **shape}, **kwargs)


# Unknown keys are refused; defaults are validated like values from the file, so a default out of its own range
# fails the first time the dataclass is built.
_CHECKED = ConfigDict(extra="forbid", validate_default=True)


class _Checked:
    """The base of the configuration's dataclasses: what pydantic refuses becomes one :class:`ConfigError`.

    Validation runs when a dataclass is built: from the file (``load_config`` passes the file's path as the
    validation context, so the error names it), or from keywords (``Settings(...)``, ``dataclasses.replace``).
    """

    _not_in_file: ClassVar[tuple[str, ...]] = ()  # fields the file does not set (a voice's name is its table's)

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_invalid(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        where = (info.context or {}).get("file")
        prefix = cls._key_prefix(value)
        try:
            checked = handler(value)
        except ValidationError as exc:
            raise _config_error([_problem(cls, prefix, error) for error in exc.errors()], where) from exc
        problems = [(rule, f"correct `{prefix}.{key}`") for key, rule in checked.conflicts()]
        if problems:
            raise _config_error(problems, where)
        return checked

    @classmethod
    def _key_prefix(cls, value: Any) -> str:
        """How the file names this table: ``inference``, ``voices.NAME``, or nothing for the whole file."""
        return next((name for name, hint in _SETTINGS_SECTIONS.items() if hint is cls), cls.__name__)

    @classmethod
    def _keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in cls._not_in_file]  # type: ignore[arg-type]

    def conflicts(self) -> list[tuple[str, str]]:
        """Rules between fields, as (key, the rule broken); none unless a section says otherwise."""
        return []


_TYPE_ERRORS = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
}
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_TABLE_ERRORS = {"dict_type", "dataclass_type", "dataclass_exact_type"}
_UNKNOWN_ERRORS = {"unexpected_keyword_argument", "extra_forbidden"}


def _problem(cls: Any, prefix: str, error: ErrorDetails) -> tuple[str, str]:
    """One error pydantic found in a table of ``cls``, as (what is wrong, what to do), in the file's words."""
    loc, kind, value = error["loc"], error["type"], error["input"]
    key = prefix
    for part in loc:
        key = f"{key}[{part}]" if isinstance(part, int) else f"{key}.{part}" if key else str(part)
    if kind in _UNKNOWN_ERRORS:
        return _unknown(cls, key)
    if kind in _TABLE_ERRORS:
        header = "voices.NAME" if key == "voices" else key
        return f"`{key}` must be a table", f"write it as [{header}]"
    if kind in _RANGE_ERRORS and loc and isinstance(loc[0], str):
        allowed = describe_bounds(bounds_of(cls, loc[0]))
        return f"`{key}` must be {allowed}, not {value!r}", f"set `{key}` to a value in that range"
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == TIME_OF_DAY:
        return f"`{key}` must be a time of day as HH:MM (24-hour), not {value!r}", 'write it as, e.g., "03:00"'
    if kind == "literal_error":
        allowed = (error.get("ctx") or {}).get("expected", "")
        return f"`{key}` must be one of {allowed}, not {value!r}", f"correct `{key}`"
    wanted = _TYPE_ERRORS.get(kind)
    what = f"must be {wanted}" if wanted else error["msg"].replace("Input should be", "must be")
    return f"`{key}` {what}, not {value!r}", f"correct `{key}`"


def _unknown(cls: Any, key: str) -> tuple[str, str]:
    what = "key" if "." in key else "section"
    return f"unknown {what} `{key}`", f"remove it, or use one of: {', '.join(cls._keys())}"


def _config_error(problems: list[tuple[str, str]], where: Path | None) -> ConfigError:
    """All the problems found in one table as one error: each key, its value and what is allowed."""
    fixes = "; ".join(dict.fromkeys(fix for _, fix in problems))
    return ConfigError(
        "Invalid configuration: " + "; ".join(problem for problem, _ in problems) + ".",
        fix=f"Edit {where or 'the config file'}: {fixes}.",
    )


@dataclass(config=_CHECKED)
class VoiceConfig(_Checked):
    """One voice: the folders it learns from and the model it adapts."""

    _not_in_file = ("name",)

    name: str = _help("Name of the voice, used by --voice.", default="default")
    folders: list[str] = _help("Folders whose prose makes up this voice.", default_factory=list)
    include: list[str] = _help(
        "Glob patterns (relative to each folder) of files to read; empty means every supported format.",
        default_factory=list,
    )
    exclude: list[str] = _help(
        "Glob patterns (gitignore syntax, relative to each folder) of files to skip.",
        default_factory=list,
    )
    system_prompt: str = _help(
        "The description of the voice, identical in every training example and every request.",
        default=DEFAULT_SYSTEM_PROMPT,
    )
    base_model: str = _help(
        "Base model: the embedded SmolLM2-135M-Instruct, a local Hugging Face folder or GGUF file, "
        "a Hugging Face id, or a name `voiced models` lists (ollama:NAME:TAG, lmstudio:..., hf:OWNER/NAME).",
        default=EMBEDDED_MODEL,
    )

    @classmethod
    def _key_prefix(cls, value: Any) -> str:
        given = value.kwargs if isinstance(value, ArgsKwargs) else value
        return f"voices.{given.get('name') if isinstance(given, dict) else 'NAME'}"


@dataclass(config=_CHECKED)
class ExtractionSettings(_Checked):
    """How files become passages."""

    max_file_bytes: int = _help("Files larger than this are skipped (bytes).", ge=1, default=20_000_000)
    max_unpacked_bytes: int = _help(
        "Largest uncompressed size accepted from a .docx/.odt archive (bytes); guards against zip bombs.",
        ge=1,
        default=100_000_000,
    )
    min_passage_words: int = _help("Paragraphs with fewer words are not prose passages.", ge=0, default=6)
    max_passage_words: int = _help(
        "Longer paragraphs are split at sentence boundaries into passages of about this size.",
        ge=1,
        default=400,
    )

    def conflicts(self) -> list[tuple[str, str]]:
        """A split passage must be long enough to count as prose."""
        if self.max_passage_words < self.min_passage_words:
            return [
                (
                    "max_passage_words",
                    f"max_passage_words must be at least min_passage_words, not {self.max_passage_words} "
                    f"< {self.min_passage_words}",
                )
            ]
        return []


@dataclass(config=_CHECKED)
class WatchSettings(_Checked):
    """How the corpus follows the writing folders: the watcher's reaction to edits, and scans."""

    debounce_seconds: float = _help(
        "Quiet time after the last event on a file before it is re-read; editors save in bursts.",
        ge=0,
        default=0.15,
    )
    rescan_missing_seconds: float = _help(
        "How often a watched folder that disappeared is checked for its return.",
        gt=0,
        default=2.0,
    )
    scan_workers: int = _help(
        "Processes that extract files in parallel during a large scan; 0 means one per CPU core, 1 means none.",
        ge=0,
        default=0,
    )


@dataclass(config=_CHECKED)
class DatasetSettings(_Checked):
    """How a voice's passages become training examples (owned by voiced.trainer.dataset)."""

    seed: int = _help("Seed for roughening and shape sampling; the same corpus gives the same dataset.", default=1234)
    max_example_tokens: int = _help(
        "Longest training example, prompt and response together (tokens).", ge=64, default=512
    )
    valid_fraction: float = _help(
        "Share of documents held out for validation (stable, by path hash).", ge=0, lt=1, default=0.1
    )
    test_fraction: float = _help(
        "Share of documents held out for the evaluation gate (stable, by path hash).", ge=0, lt=1, default=0.1
    )
    min_corpus_words: int = _help("A voice with fewer words of prose is too small to train on.", ge=0, default=2000)
    rewrite_share: float = _help(
        "Share of examples that are rewrites (rough draft -> original); the rest are continuations.",
        ge=0,
        le=1,
        default=0.7,
    )
    paragraph_weight: float = _help("Relative weight of one-paragraph examples in the shape mix.", ge=0, default=0.5)
    section_weight: float = _help(
        "Relative weight of multi-paragraph examples (consecutive passages of one section).", ge=0, default=0.3
    )
    document_weight: float = _help(
        "Relative weight of whole-document examples (short documents that fit max_example_tokens).", ge=0, default=0.2
    )
    max_section_passages: int = _help("Most passages in one multi-paragraph example.", ge=2, default=4)
    structural_noise: float = _help(
        "Probability that a rough draft also has sentences split, merged or reordered.", ge=0, le=1, default=0.5
    )
    rough_draft_endpoint: str = _help(
        "Optional OpenAI-compatible server on loopback (e.g. http://127.0.0.1:1234) that writes the rough drafts; "
        "empty means offline roughening.",
        default="",
    )
    rough_draft_model: str = _help("Model name sent to rough_draft_endpoint.", default="local-model")
    rough_draft_timeout_seconds: float = _help(
        "How long one rough-draft request may take before offline roughening takes over.", gt=0, default=30.0
    )

    def conflicts(self) -> list[tuple[str, str]]:
        """Rules between fields, as (key, the rule broken): the held-out shares must leave documents to train on."""
        if self.valid_fraction + self.test_fraction >= 1:
            return [
                (
                    "valid_fraction",
                    f"valid_fraction + test_fraction must be below 1 (the rest of the documents "
                    f"are the training split), not {self.valid_fraction} + {self.test_fraction}",
                )
            ]
        return []


@dataclass(config=_CHECKED)
class TrainingSettings(_Checked):
    """LoRA training (owned by voiced.trainer)."""

    lora_rank: int = _help("LoRA rank r.", ge=1, default=16)
    lora_alpha: float = _help("LoRA alpha (the update is scaled by alpha / r).", gt=0, default=32.0)
    lora_dropout: float = _help("Dropout on the LoRA input.", ge=0, lt=1, default=0.05)
    target_modules: list[str] = _help(
        'Linear layers that get adapters, by name; ["all-linear"] means every linear layer but the output head.',
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
    )
    seed: int = _help("Seed for initialisation and batch order.", default=1234)
    learning_rate: float = _help(
        "Peak learning rate; 0 means the LoRA heuristic 5e-4 * (2000 / hidden_size)^0.781, "
        "capped by max_learning_rate.",
        ge=0,
        default=0.0,
    )
    max_learning_rate: float = _help(
        "Cap on the heuristic learning rate: small models (hidden 576 gives 1.3e-3) diverge above about 1e-3 "
        "with alpha/r = 2.",
        gt=0,
        default=1e-3,
    )
    warmup_fraction: float = _help(
        "Share of the steps spent warming the learning rate up from 0; then it decays linearly to 0.",
        ge=0,
        lt=1,
        default=0.05,
    )
    lm_warmup_fraction: float = _help(
        "Share of the planned steps spent first on language modelling of the writer's own prose (the training "
        "split's passages as plain text, loss on every token, the same LoRA adapter) before the rewrite and "
        "continue examples; each stage has its own learning-rate warm-up and decay. 0 skips the stage. The PEFT "
        "backend runs it; the MLX backend ignores it and says so.",
        ge=0,
        lt=1,
        default=0.0,
    )
    preference_stage: Literal["auto", "off"] = _help(
        "A preference stage after supervised training, on the writer's kept and rejected proposals (the "
        'draft as prompt, the writer\'s final text preferred over the rejected proposal): "auto" runs it when '
        'the voice has at least preference_min_pairs pairs, "off" never.',
        default="auto",
    )
    preference_min_pairs: int = _help(
        "Fewest preference pairs a voice needs before the preference stage runs.", ge=1, default=32
    )
    preference_beta: float = _help(
        "Strength of the preference stage's pull away from the supervised adapter (DPO's beta).", gt=0, default=0.1
    )
    preference_steps: int = _help("Optimiser steps of the preference stage.", ge=1, default=60)
    batch_size: int = _help('Rows per optimiser step: examples, or with batching "pack" packed rows.', ge=1, default=4)
    batching: Literal["pack", "bucket", "pad"] = _help(
        'How the PEFT backend fills a step: "bucket" (examples of similar length share a batch; as fast as '
        '"pack" on CPU in bench/bench_train.py, with the same examples per step), "pack" (several examples '
        "share a row up to the longest example's length, each attending only to itself: almost no padding, and an "
        'epoch takes fewer, fuller steps) or "pad" (shuffled, padded to the longest; the baseline). '
        "The MLX backend ignores it: mlx-lm sorts by length itself.",
        default="bucket",
    )
    epochs: int = _help("Passes over the training examples.", ge=1, default=3)
    weight_decay: float = _help("AdamW weight decay on the LoRA weights.", ge=0, default=0.0)
    max_grad_norm: float = _help("Gradients are clipped to this norm; 0 disables clipping.", ge=0, default=1.0)
    eval_every: int = _help(
        "Validate every this many steps (and at the end); the best adapter so far is kept.", ge=1, default=50
    )
    patience: int = _help(
        "Stop after this many validations in a row without improvement; 0 never stops early.", ge=0, default=3
    )
    max_steps: int = _help("Stop after this many optimiser steps (a smoke run); 0 means no limit.", ge=0, default=0)
    max_minutes: float = _help(
        "Stop after this many minutes of training, keeping the best adapter; 0 means no limit.", ge=0, default=180.0
    )
    backend: Literal["auto", "peft", "mlx"] = _help(
        "Training backend: auto (MLX on Apple Silicon when installed, else PEFT), peft or mlx.", default="auto"
    )
    device: str = _help("PEFT device: auto (CUDA, then MPS, then CPU), cuda, mps or cpu.", default="auto")
    torch_threads: int = _help(
        "CPU threads for training; 0 means one per core available to the process.", ge=0, default=0
    )
    cpu_autocast: Literal["auto", "bf16", "off"] = _help(
        'Precision of PEFT training on a CPU. "auto": bf16 autocast (matrix products in bfloat16, weights, '
        "LoRA parameters and the loss in float32) where the CPU has bf16 instructions (avx512_bf16 or amx_bf16), "
        'float32 elsewhere, where bf16 would be emulated and slower; "bf16" forces autocast, "off" keeps '
        "float32. GPUs keep their own dtype. docs/training.md has the measurements.",
        default="auto",
    )
    activation_checkpointing: int = _help(
        "PEFT: recompute every n-th decoder layer's activations in the backward pass instead of keeping them "
        "(1: every layer, the least memory; 2: every other layer); 0 keeps them all, the fastest. 1 took batch 4 x "
        "512 tokens from 5.0 to 2.2 GB at 0.68x the speed; docs/training.md has the figures.",
        ge=0,
        default=0,
    )
    quantization: Literal["auto", "none", "4bit"] = _help(
        'PEFT on CUDA: "auto" trains a 4-bit QLoRA base (bitsandbytes nf4, double quantisation, bf16 compute, '
        "activation checkpointing) only when the bf16 model and its activations would not fit in the GPU's free "
        'memory; "none" always trains the bf16 base; "4bit" always quantises (CUDA only). The memory plan is '
        "reported before the weights load (trainer/memory_plan.py, docs/training.md).",
        default="auto",
    )
    valid_sample: int = _help(
        "Validation examples (a fixed sample of the split, the same every evaluation) scored every eval_every "
        "steps to keep the best adapter and stop early; the whole split is scored once at the end for the "
        "reported validation loss. 0 means the whole split every time.",
        ge=0,
        default=64,
    )


@dataclass(config=_CHECKED)
class AdapterSettings(_Checked):
    """The adapter registry, the evaluation gate and the training job around them (owned by voiced.trainer)."""

    gate_min_margin: float = _help(
        "A candidate is promoted only if its test NLL (nats per response token) is lower than the active adapter's "
        "(or the base model's, for the first) by at least this much.",
        ge=0,
        default=0.01,
    )
    gate_batch_size: int = _help("Test examples scored per forward pass by the evaluation gate.", ge=1, default=4)
    child_niceness: int = _help(
        "Niceness added to the training child process (0-19), so editing stays responsive.", ge=0, le=19, default=10
    )


@dataclass(config=_CHECKED)
class EvalSettings(_Checked):
    """`voiced eval` and `voiced arena`: offline metrics on the voice's test split (owned by voiced.evaluation)."""

    passages: int = _help(
        "Test passages rewritten per adapter by `voiced eval` (the first N of the fixed test split).", ge=1, default=20
    )
    max_tokens: int = _help(
        "Longest rewrite generated per passage during evaluation and in the gate (tokens). 0 gives each paragraph "
        "the budget a writer's request gets ([inference] max_tokens_factor x its tokens + max_tokens_extra), so a "
        "long paragraph's rewrite is judged whole, as the writer would receive it, not cut off.",
        ge=0,
        default=0,
    )
    seed: int = _help(
        "Sampling seed for evaluation rewrites (temperature is 0, so rewrites are deterministic).", default=1234
    )
    char_ngram_features: int = _help("Most frequent character 3-grams used by Cosine Delta.", ge=1, default=2000)
    word_features: int = _help("Most frequent words used by Cosine Delta.", ge=1, default=300)
    draft_endpoint: str = _help(
        "Optional OpenAI-compatible server on loopback whose model writes a second draft of each test passage for "
        "`voiced eval` (beside the held-out roughening family); empty means none. Name a model other than "
        "[dataset] rough_draft_model, so these drafts come from a process training never used.",
        default="",
    )
    draft_model: str = _help("Model name sent to draft_endpoint.", default="local-model")
    draft_timeout_seconds: float = _help("How long one evaluation draft request may take.", gt=0, default=30.0)
    gate_mode: Literal["voice", "nll", "nll+voice"] = _help(
        'What the evaluation gate checks after training: "voice" (its rewrites of held-out drafts must '
        "recover more of the writer's text than the reference's, with test NLL as a guard; docs/evaluation.md), "
        '"nll" (test NLL alone) or "nll+voice" (NLL, then towards-writer may not fall).',
        default="voice",
    )
    gate_passages: int = _help(
        "Held-out drafts (the first N test passages, roughened by the held-out family with [evaluation] seed) "
        'each side rewrites in the "voice" gate; each costs two rewrites, four when the candidate fails.',
        ge=1,
        default=24,
    )
    gate_min_gain: float = _help(
        'The "voice" gate promotes only if the candidate\'s mean chrF gain over the draft beats the '
        "reference's by at least this (chrF points, paired by passage).",
        ge=0,
        default=0.5,
    )
    gate_confidence: float = _help(
        "...and in at least this share of paired bootstrap resamples of the passages.",
        gt=0.5,
        le=1,
        default=0.9,
    )
    gate_nll_tolerance: float = _help(
        "The \"voice\" gate's guard: a candidate whose held-out test NLL is worse than the reference's by more "
        "than this (nats per token) is rejected however it rewrites.",
        ge=0,
        default=0.05,
    )
    gate_max_copy_rate: float = _help(
        "Largest share of held-out drafts a candidate may return unchanged.",
        ge=0,
        le=1,
        default=0.05,
    )
    gate_max_commentary_rate: float = _help(
        "Largest share of held-out drafts a candidate may answer with commentary instead of a rewrite.",
        ge=0,
        le=1,
        default=0.0,
    )
    gate_min_names_kept: float = _help(
        "Smallest mean share of the originals' names and numbers a candidate's rewrites must keep.",
        ge=0,
        le=1,
        default=0.98,
    )
    gate_undo_margin: float = _help(
        "A candidate that fails on held-out drafts but gains this much more chrF than the reference on "
        "training-family drafts of the same passages is reported as having learned only to undo the "
        "training roughener.",
        ge=0,
        default=2.0,
    )
    gate_feedback_min_proposals: int = _help(
        "Proposals the writer must have judged (accepted, rejected, undone, edited or kept) for the active "
        "adapter before its acceptance rate counts in the gate.",
        ge=1,
        default=20,
    )
    gate_feedback_min_gain: float = _help(
        "A candidate replacing an adapter the writer accepts more often than the last one must beat it on "
        "held-out chrF gain by at least this much.",
        ge=0,
        default=2.0,
    )
    voice_gate_tolerance: float = _help(
        'For the "nll+voice" gate check (voiced.evaluation.voice_gate): how far a candidate\'s mean '
        "towards-writer Cosine Delta may fall below the reference's before it is rejected.",
        default=0.02,
    )


@dataclass(config=_CHECKED)
class DaemonSettings(_Checked):
    """The background daemon and its local HTTP API (owned by voiced.daemon)."""

    host: str = _help(
        "Address the API listens on; only loopback (127.0.0.1, ::1, localhost) is accepted.", default="127.0.0.1"
    )
    port: int = _help(
        "TCP port of the API; 0 lets the system pick a free one (recorded in daemon.json).", ge=0, le=65535, default=0
    )
    max_body_bytes: int = _help(
        "Largest request body accepted (bytes); larger requests get 413.", ge=1, default=1_000_000
    )
    max_text_chars: int = _help(
        "Longest text accepted for a rewrite or continuation (characters); split longer text.", ge=1, default=20_000
    )
    max_tokens: int = _help(
        "Cap on the max_tokens a request may ask for; larger values are lowered to it.", ge=1, default=2048
    )
    start_timeout_seconds: float = _help(
        "How long `voiced daemon start` waits for the API to answer (model load included).", gt=0, default=60.0
    )
    stop_timeout_seconds: float = _help(
        "How long `voiced daemon stop` waits after SIGTERM before SIGKILL.", gt=0, default=10.0
    )
    watch_folders: bool = _help(
        "Keep the corpus current while the daemon runs (scan at start, then watch the folders).", default=True
    )


@dataclass(config=_CHECKED)
class SchedulerSettings(_Checked):
    """Nightly retraining by the daemon (owned by voiced.daemon.scheduler)."""

    enabled: bool = _help("Retrain voices in the background while the daemon runs.", default=True)
    nightly_at: str = _help(
        "Local time (HH:MM, 24-hour) of the nightly retraining; a run missed while "
        "the machine slept happens at the next daemon start.",
        pattern=TIME_OF_DAY,
        default="03:00",
    )
    min_new_words: int = _help(
        "Retrain a voice only when its corpus has at least this many new words since its active adapter was trained.",
        ge=0,
        default=2000,
    )
    max_minutes: float = _help(
        "Time budget of a scheduled training run (minutes); 0 keeps training.max_minutes.", ge=0, default=0.0
    )


@dataclass(config=_CHECKED)
class InferenceSettings(_Checked):
    """How the daemon's engine generates (owned by voiced.inference.engine)."""

    temperature: float = _help(
        "Sampling temperature; low keeps a rewrite close to the text's meaning, 0 is greedy.", ge=0, default=0.3
    )
    top_p: float = _help(
        "Nucleus sampling: keep the most likely tokens up to this probability mass.", gt=0, le=1, default=0.9
    )
    top_k: int = _help("Sample only among this many most likely tokens; 0 means no limit.", ge=0, default=40)
    repeat_penalty: float = _help("Penalty on tokens already generated; 1 disables it.", gt=0, default=1.1)
    seed: int = _help("Sampling seed; -1 picks a new one per request.", ge=-1, default=-1)
    max_tokens_factor: float = _help(
        "A rewrite may be this many times as long as its input (tokens), plus max_tokens_extra; "
        "a rewrite keeps the content, and small models ramble when given room.",
        gt=0,
        default=1.5,
    )
    max_tokens_extra: int = _help("Tokens allowed beyond max_tokens_factor x the input's tokens.", ge=0, default=16)
    continue_tokens: int = _help(
        "Tokens generated by a continuation (or a chat turn) unless the request asks for fewer.", ge=1, default=200
    )
    max_chunk_chars: int = _help(
        "Paragraphs longer than this are rewritten in pieces split at sentence ends (characters).",
        ge=1,
        default=2000,
    )
    n_ctx: int = _help(
        "Context window of each request (tokens); prompt and output must fit in it. llama.cpp keeps one for "
        "each of n_parallel requests.",
        ge=256,
        default=4096,
    )
    n_parallel: int = _help(
        "Requests a llama.cpp model decodes together (continuous batching: a request joins the batch at the "
        "next token and leaves when done); memory for keys and values grows with n_parallel x n_ctx. 1 serves "
        "one at a time. Transformers and MLX models always serve one at a time.",
        ge=1,
        le=64,
        default=4,
    )
    n_threads: int = _help(
        "CPU threads for generation; 0 means one per core available to the process.", ge=0, default=0
    )
    # The rewrite guard (voiced.inference.rewrite_guard): a rewrite that is commentary, or drifts this far from
    # its draft, is retried and then replaced by the draft. The bands come from bench/bench_guard.py (docs/daemon.md).
    guard: bool = _help(
        "Check each paragraph's rewrite before it is returned: strip labels, reject commentary and "
        "drift (retried, then the paragraph is left as it was and the reason reported).",
        default=True,
    )
    guard_min_length_ratio: float = _help(
        "A rewrite with fewer words than this times its paragraph's (less two) left part of it out.", ge=0, default=0.65
    )
    guard_max_length_ratio: float = _help(
        "A rewrite with more words than this times its paragraph's (plus two) added text of its own.", gt=0, default=1.5
    )
    guard_min_content_kept: float = _help(
        "Least share of the paragraph's content words (four letters or more, stemmed; numbers) a rewrite keeps.",
        ge=0,
        le=1,
        default=0.5,
    )
    guard_min_names_kept: float = _help(
        "Least share of the paragraph's names and numbers a rewrite keeps.", ge=0, le=1, default=1.0
    )
    guard_max_dropped_words: int = _help(
        "Most words in a row of the paragraph a rewrite may leave out with nothing in their place; more is a "
        "dropped clause (the writer's own text leaves out at most one in a row of a held-out draft, measured "
        "in docs/evaluation.md). It also keeps a padded draft's filler phrases. 0 turns the check off.",
        ge=0,
        default=3,
    )
    guard_retries: int = _help(
        "Tries after a rejected rewrite, each with another seed, before the paragraph is left as it was.",
        ge=0,
        default=1,
    )
    guard_retry_temperature: float = _help(
        "A retry samples at least this warm, so a greedy request does not repeat the rejected answer.",
        ge=0,
        default=0.5,
    )
    draft_anchor: float = _help(
        "Anchored decoding (voiced.inference.draft_anchor) with a trained adapter: a bonus, in logits, for the "
        "token that continues the draft, so a rewrite leaves the draft only where the voice prefers other words "
        "by more than this; keeps a small model from dropping clauses or wandering off. 0 turns it off. "
        "Measured in docs/evaluation.md.",
        ge=0,
        default=1.0,
    )
    draft_anchor_base: float = _help(
        "The same bonus when the base model rewrites (no adapter trained, or none usable): an untrained model "
        "wanders much further from the draft and needs a firmer hold.",
        ge=0,
        default=4.0,
    )
    voice_examples: int = _help(
        "Passages of the writer's own prose (training split only, closest to the draft in subject and length) "
        "quoted in each rewrite's prompt as examples of the voice (voiced.inference.voice_examples); 0 leaves them "
        "out. Those that do not fit n_ctx beside the paragraph and its rewrite are dropped.",
        ge=0,
        le=8,
        default=0,
    )

    def conflicts(self) -> list[tuple[str, str]]:
        """The guard's length band must leave room for a rewrite."""
        if self.guard_min_length_ratio >= self.guard_max_length_ratio:
            return [
                (
                    "guard_min_length_ratio",
                    f"guard_min_length_ratio must be below guard_max_length_ratio, not {self.guard_min_length_ratio} "
                    f">= {self.guard_max_length_ratio}",
                )
            ]
        return []


@dataclass(config=_CHECKED)
class ModelsSettings(_Checked):
    """Where `voiced models` looks for base models, besides the stores it knows (voiced.model_stores)."""

    folders: list[str] = _help(
        "More folders that hold models: GGUF files, or Hugging Face folders (config.json and *.safetensors), "
        "found a few levels deep. Ollama's store, LM Studio's models folder and the Hugging Face cache are "
        "searched without being listed here.",
        default_factory=list,
    )


@dataclass(config=_CHECKED)
class EditorSettings(_Checked):
    """The language server, `voiced lsp`.

    Editors add `voice`, `temperature` and `languages` under the `voiced` section of their settings."""

    languages: list[str] = _help(
        "Editor language ids that get voiced's code actions; editors can add more.",
        default_factory=lambda: ["markdown", "plaintext", "text", "latex", "tex", "restructuredtext", "rst", "org"],
    )
    max_selection_chars: int = _help(
        "Largest selection rewritten in one action (characters); larger selections get a message instead.",
        ge=1,
        default=20_000,
    )
    preview_multi_paragraph: bool = _help(
        "Show a rewrite of more than one paragraph for review (accept or reject) before it replaces the text.",
        default=True,
    )
    preview_single_paragraph: bool = _help(
        "Show a rewrite of a single paragraph for review before it replaces the text.", default=False
    )
    inline_auto_trigger: bool = _help(
        "Offer ghost-text continuations on their own when the writer pauses, not only when asked.", default=False
    )
    inline_debounce_ms: int = _help(
        "With inline_auto_trigger, how long the writer must pause before a continuation is offered (ms).",
        ge=0,
        default=600,
    )
    inline_max_tokens: int = _help("Longest ghost-text continuation (tokens).", ge=1, default=48)
    feedback_quiet_seconds: float = _help(
        "A rewrite or continuation the writer kept is judged (kept as is, or edited) at the next save, or after "
        "this long without a change to the document.",
        gt=0,
        default=120.0,
    )


@dataclass(config=_CHECKED)
class Config(_Checked):
    """The whole configuration: voices plus one settings section per concern."""

    _not_in_file = ("path",)

    voices: dict[str, VoiceConfig] = field(default_factory=dict)
    extraction: ExtractionSettings = field(default_factory=ExtractionSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    dataset: DatasetSettings = field(default_factory=DatasetSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    editor: EditorSettings = field(default_factory=EditorSettings)
    adapters: AdapterSettings = field(default_factory=AdapterSettings)
    evaluation: EvalSettings = field(default_factory=EvalSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    inference: InferenceSettings = field(default_factory=InferenceSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    path: Path | None = None  # where it was read from

    @classmethod
    def _key_prefix(cls, value: Any) -> str:
        return ""

    @field_validator("voices", mode="before")
    @classmethod
    def _name_each_voice(cls, voices: Any, info: ValidationInfo) -> Any:
        """A voice is named by its table, ``[voices.NAME]``; the table itself has no ``name``."""
        if not isinstance(voices, dict):
            return voices
        where = (info.context or {}).get("file")
        named = {}
        for name, table in voices.items():
            check_voice_name(name)
            if isinstance(table, dict):
                if "name" in table:
                    problem = f"unknown key `voices.{name}.name`", f"remove it; the voice is named by [voices.{name}]"
                    raise _config_error([problem], where)
                table = {**table, "name": name}
            elif not isinstance(table, VoiceConfig):
                raise _config_error([(f"`voices.{name}` must be a table", f"write it as [voices.{name}]")], where)
            named[name] = table
        return named

    def voice(self, name: str | None = None) -> VoiceConfig:
        """The named voice, or the only/first voice when no name is given."""
        if not self.voices:
            raise ConfigError("No voice is configured.", fix="Run `voiced init`, then `voiced add FOLDER`.")
        if name is None:
            return next(iter(self.voices.values()))
        if name not in self.voices:
            known = ", ".join(self.voices)
            raise ConfigError(
                f"There is no voice named {name!r} (configured: {known}).",
                fix=f"Create it with `voiced voices create {name}` or pick one of those.",
            )
        return self.voices[name]

    def voice_for_path(self, path: Path) -> VoiceConfig | None:
        """The first voice with a folder containing ``path``."""
        path = Path(path).expanduser().resolve()
        for voice in self.voices.values():
            for folder in voice.folders:
                if path.is_relative_to(Path(folder).expanduser().resolve()):
                    return voice
        return None


_SETTINGS_SECTIONS: dict[str, type] = {
    f.name: get_type_hints(Config)[f.name] for f in dataclasses.fields(Config) if f.name not in ("voices", "path")
}
_VOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DOCUMENT = TypeAdapter(Config)


def bounds_of(cls: type, name: str) -> dict[str, float]:
    """The range of a numeric setting (``ge``/``gt``/``le``/``lt``), as declared next to its default."""
    metadata = {f.name: f.metadata for f in dataclasses.fields(cls)}[name]
    return {key: metadata[key] for key in BOUNDS if key in metadata}


def describe_bounds(bounds: dict[str, float]) -> str:
    """``{"ge": 0, "le": 65535}`` -> "from 0 to 65535"; ``{"gt": 0, "le": 1}`` -> "above 0 and at most 1"."""
    if "ge" in bounds and "le" in bounds:
        return f"from {bounds['ge']} to {bounds['le']}"
    words = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}
    return " and ".join(f"{words[key]} {bounds[key]}" for key in BOUNDS if key in bounds)


def config_from_dict(data: dict[str, Any], where: Path | None = None) -> Config:
    """Validate a parsed TOML document and build the :class:`Config`; a :class:`ConfigError` naming ``where``,
    the key, the value and what is allowed otherwise."""
    if "path" in data:  # where the file lives is not one of its settings
        raise _config_error([_unknown(Config, "path")], where)
    config: Config = _DOCUMENT.validate_python(data, context={"file": where})
    config.path = where
    return config


def check_voice_name(name: str) -> None:
    if not _VOICE_NAME.match(name):
        raise ConfigError(
            f"Invalid voice name {name!r}.",
            fix="Use letters, digits, '-', '_' or '.', starting with a letter or digit (at most 64).",
        )


def load_config(paths: Paths | None = None, *, required: bool = True) -> Config:
    """Read the config file; an absent file is an error unless ``required`` is false."""
    paths = paths or get_paths()
    where = paths.config_file
    if not where.exists():
        if required:
            raise ConfigError(
                f"voiced is not set up yet: {where} does not exist.", fix="Run `voiced init` to create it."
            )
        return Config(path=where)
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}.", fix="Fix the syntax at that line.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {where}: {exc}.", fix="Check the file's permissions and encoding.") from exc
    return config_from_dict(data, where)


def daemon_settings(paths: Paths | None = None) -> DaemonSettings:
    """The file's [daemon] settings, or the defaults when the file is missing or invalid: starting the daemon
    (which then reports the broken file itself) or stopping one must not wait for the file to be fixed."""
    try:
        return load_config(paths, required=False).daemon
    except ConfigError:
        return DaemonSettings()


def _non_default(obj: Any) -> dict[str, Any]:
    """The fields of a settings dataclass that differ from their defaults."""
    defaults = type(obj)()
    return {
        f.name: getattr(obj, f.name)
        for f in dataclasses.fields(obj)
        if getattr(obj, f.name) != getattr(defaults, f.name)
    }


def config_to_dict(config: Config) -> dict[str, Any]:
    """What :func:`save_config` writes: every voice in full, settings only where changed."""
    data: dict[str, Any] = {"voices": {}}
    for name, voice in config.voices.items():
        data["voices"][name] = {k: v for k, v in dataclasses.asdict(voice).items() if k != "name"}
    for section in _SETTINGS_SECTIONS:
        changed = _non_default(getattr(config, section))
        if changed:
            data[section] = changed
    return data


_HEADER = """\
# voiced configuration.
# Each [voices.NAME] table is a voice: the folders it learns from, include and
# exclude globs, the system prompt that describes it, and its base model.
# Settings sections ([extraction], [watch], ...) override the defaults listed by
# `voiced config defaults`. `voiced add` and `voiced voices create` edit this file.
"""


def save_config(config: Config, paths: Paths | None = None) -> Path:
    """Write the config atomically, readable by the user alone."""
    paths = paths or get_paths()
    paths.ensure_private(paths.config_dir)
    target = write_private(paths.config_file, _HEADER + "\n" + tomli_w.dumps(config_to_dict(config)))
    config.path = target
    return target


def _help_with_allowed(cls: type, name: str, text: str) -> str:
    """The help string and what the loader accepts: the range of a number, the words of a ``Literal``."""
    hint = get_type_hints(cls)[name]
    if get_origin(hint) is Literal:
        return f"{text} Allowed: {', '.join(map(repr, get_args(hint)))}."
    bounds = bounds_of(cls, name)
    return f"{text} Allowed: {describe_bounds(bounds)}." if bounds else text


def settings_defaults() -> dict[str, list[tuple[str, Any, str]]]:
    """Every setting with its default and help string, by section (for docs and `voiced config defaults`)."""
    out: dict[str, list[tuple[str, Any, str]]] = {}
    for section, cls in _SETTINGS_SECTIONS.items():
        out[section] = [
            (f.name, getattr(cls(), f.name), _help_with_allowed(cls, f.name, f.metadata.get("help", "")))
            for f in dataclasses.fields(cls)
        ]
    out["voices.NAME"] = [
        (f.name, getattr(VoiceConfig(), f.name), f.metadata.get("help", ""))
        for f in dataclasses.fields(VoiceConfig)
        if f.name != "name"
    ]
    return out
