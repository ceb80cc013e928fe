"""A voice's passages as chat examples: rewrite and continue, mixed shapes, a stable split.

Every example carries the voice's one system prompt and the wording of
``voiced.prompts`` (the daemon asks with the same words). Shapes are mixed
(one paragraph, consecutive paragraphs of one section, a short whole
document) so the model learns where to stop. The split is decided per
document by a hash of its path relative to its voice folder, so a document
never changes split as the corpus grows and held-out prose never leaks into
training.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol, TypedDict, runtime_checkable

from voiced.config import Config, DatasetSettings
from voiced.corpus.passages import DocumentLike, PassageLike
from voiced.corpus.splits import (  # noqa: F401  (part of this module's interface)
    SPLITS,
    assign_splits,
    dataset_dir,
    document_key,
    hash_fraction,
    saved_document_splits,
    split_of,
    split_rule,
)
from voiced.errors import VoicedError
from voiced.paths import Paths, get_paths
from voiced.private_files import make_private_dirs, write_private
from voiced.prompts import continue_messages, rewrite_messages
from voiced.trainer.draft_report import draft_statistics
from voiced.trainer.roughen import RoughDraft, roughen, split_sentences
from voiced.trainer.roughen_signature import WriterProfile, writer_profile
from voiced.trainer.tokenize import make_batches, padding_efficiency  # noqa: F401  (the training loop imports them from here)

TASKS = ("rewrite", "continue")
SHAPES = ("paragraph", "section", "document")


class CorpusTooSmall(VoicedError):
    """Not enough prose to build a useful dataset."""

    def __init__(self, words: int, needed: int) -> None:
        self.words, self.needed = words, needed
        super().__init__(
            f"The voice has {words:,} words of prose; training needs at least {needed:,} "
            f"({needed - words:,} more). Add folders with `voiced add FOLDER` or write more, then scan again."
        )


@dataclass(frozen=True)
class Example:
    """One training example. The prompt and the response are lists of passage-sized parts, so an
    example that is too long can be shortened at a passage boundary (``shortened``)."""

    id: str
    task: str  # rewrite | continue
    shape: str  # paragraph | section | document
    split: str  # train | valid | test
    document: str  # path relative to the voice folder
    section: tuple[str, ...]
    system_prompt: str
    prompt_parts: tuple[str, ...]  # rewrite: one rough draft per response part; continue: the opening
    response_parts: tuple[str, ...]  # the writer's own text, verbatim
    rough_style: str = ""
    notes: tuple[str, ...] = ()
    part_styles: tuple[str, ...] = ()  # rewrite: the family of each draft in prompt_parts

    @property
    def prompt_text(self) -> str:
        return "\n\n".join(self.prompt_parts)

    @property
    def response_text(self) -> str:
        return "\n\n".join(self.response_parts)

    def prompt_messages(self) -> list[dict[str, str]]:
        build = rewrite_messages if self.task == "rewrite" else continue_messages
        return build(self.system_prompt, self.prompt_text)

    def messages(self) -> list[dict[str, str]]:
        return [*self.prompt_messages(), {"role": "assistant", "content": self.response_text}]

    def shortened(self, parts: int) -> Example:
        """The example with only its first ``parts`` response parts (and their drafts, for a rewrite)."""
        if not 1 <= parts <= len(self.response_parts):
            raise ValueError(f"cannot keep {parts} of {len(self.response_parts)} parts")
        prompt = self.prompt_parts[:parts] if self.task == "rewrite" else self.prompt_parts
        styles = self.part_styles[:parts] if self.task == "rewrite" else self.part_styles
        return replace(self, prompt_parts=prompt, response_parts=self.response_parts[:parts], part_styles=styles)

    def to_json(self) -> dict:
        data = asdict(self)
        data["messages"] = self.messages()
        return data

    @classmethod
    def from_json(cls, data: dict) -> Example:
        fields = {k: v for k, v in data.items() if k != "messages"}
        for name in ("section", "prompt_parts", "response_parts", "notes", "part_styles"):
            fields[name] = tuple(fields.get(name, ()))
        return cls(**fields)


@dataclass
class Dataset:
    voice: str
    examples: dict[str, list[Example]]  # by split
    notes: list[str] = field(default_factory=list)
    documents: dict[str, str] = field(default_factory=dict)  # document -> split
    split_rule: dict[str, float] = field(default_factory=dict)  # the settings that made the split (split_rule())
    signature_words: list[str] = field(
        default_factory=list
    )  # the writer's words the drafts replace, most distinctive first

    def draft_pairs(self) -> list[tuple[str, str, str]]:
        """(family, draft, original) for every rewrite part of every split."""
        pairs: list[tuple[str, str, str]] = []
        for ex in (ex for rows in self.examples.values() for ex in rows if ex.task == "rewrite"):
            styles = ex.part_styles or (ex.rough_style,) * len(ex.prompt_parts)
            pairs.extend(zip(styles, ex.prompt_parts, ex.response_parts, strict=False))
        return pairs

    def summary(self) -> dict:
        counts = {split: len(rows) for split, rows in self.examples.items()}
        every = [ex for rows in self.examples.values() for ex in rows]
        return {
            "voice": self.voice,
            "examples": counts,
            "documents": dict(Counter(self.documents.values())),
            "tasks": dict(Counter(ex.task for ex in every)),
            "shapes": dict(Counter(ex.shape for ex in every)),
            "rough_styles": dict(Counter(ex.rough_style for ex in every if ex.task == "rewrite")),
            "drafts": draft_statistics(self.draft_pairs()),
            "signature_words": list(self.signature_words[:30]),
            "notes": list(self.notes),
        }


# -- shapes ------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """A cautious token count for English prose (about 3.5 characters per token)."""
    return len(text) * 2 // 7 + 1


def _runs_by_section(passages: Sequence[PassageLike]) -> list[list[PassageLike]]:
    runs: list[list[PassageLike]] = []
    for passage in passages:
        if runs and runs[-1][-1].section == passage.section and runs[-1][-1].order + 1 == passage.order:
            runs[-1].append(passage)
        else:
            runs.append([passage])
    return runs


def _shape_units(
    passages: Sequence[PassageLike],
    settings: DatasetSettings,
    rng: random.Random,
    count: Callable[[str], int],
    overhead: int,
) -> list[tuple[str, list[PassageLike]]]:
    """Cut a document into (shape, passages) units: each passage lands in exactly one unit.

    A short document that fits the budget becomes one whole-document unit with
    probability document_weight / (document_weight + paragraph_weight) (one
    such unit stands for several paragraph units); otherwise each section run
    is cut into paragraphs and multi-paragraph spans by paragraph/section weight.
    """
    budget = settings.max_example_tokens - overhead
    whole = _pair_tokens(passages, count)
    if (
        len(passages) >= 2
        and whole <= budget
        and settings.document_weight > 0
        and rng.random() < settings.document_weight / (settings.document_weight + settings.paragraph_weight)
    ):
        return [("document", list(passages))]
    units: list[tuple[str, list[PassageLike]]] = []
    shape_weights = [settings.paragraph_weight, settings.section_weight]
    for run in _runs_by_section(passages):
        i = 0
        while i < len(run):
            take = 1
            if (
                len(run) - i >= 2
                and sum(shape_weights) > 0
                and rng.choices(("paragraph", "section"), shape_weights)[0] == "section"
            ):
                take = rng.randint(2, max(2, min(settings.max_section_passages, len(run) - i)))
                while take > 1 and _pair_tokens(run[i : i + take], count) > budget:
                    take -= 1
            units.append(("section" if take > 1 else "paragraph", run[i : i + take]))
            i += take
    return units


def _pair_tokens(passages: Sequence[PassageLike], count: Callable[[str], int]) -> int:
    """Tokens of a rewrite of these passages: the original plus a draft up to half as long again."""
    return sum(count(p.text) for p in passages) * 5 // 2


MIN_CLAUSE_WORDS = 4  # each side of a one-sentence paragraph cut at a clause boundary has at least this many words


def _opening_and_rest(text: str) -> tuple[str, str] | None:
    """A paragraph cut in two for a continuation: between sentences, or a one-sentence paragraph (a long
    period sentence is often a whole paragraph) after the ``;``, ``:`` or ``,`` nearest its middle, so such
    paragraphs still give pure-voice examples instead of turning into rewrites."""
    sentences = split_sentences(text)
    if len(sentences) >= 2:
        cut = max(1, len(sentences) // 2)
        return " ".join(sentences[:cut]), " ".join(sentences[cut:])
    words = text.split()
    middle = len(words) / 2
    cuts = [
        i + 1
        for i, word in enumerate(words[:-1])
        if word[-1] in ";:," and MIN_CLAUSE_WORDS <= i + 1 <= len(words) - MIN_CLAUSE_WORDS
    ]
    if not cuts:
        return None
    cut = min(cuts, key=lambda i: (abs(i - middle), i))
    return " ".join(words[:cut]), " ".join(words[cut:])


def _example_id(key: str, shape: str, first_order: int, task: str) -> str:
    return hashlib.sha256(f"{key}\0{shape}\0{first_order}\0{task}".encode()).hexdigest()[:16]


Roughener = Callable[[str, int], RoughDraft]


@runtime_checkable
class ProfiledRoughener(Protocol):
    """A roughener with a place for the writer's signature words (EndpointRoughener's offline fallback)."""

    profile: WriterProfile | None

    def __call__(self, text: str, seed: int) -> RoughDraft: ...


class _Placement(TypedDict):
    """Where an example comes from: the fields every example of one unit shares."""

    split: str
    document: str
    section: tuple[str, ...]
    system_prompt: str


def _make_example(
    key: str,
    split: str,
    shape: str,
    unit: list[PassageLike],
    task: str,
    system_prompt: str,
    seed: int,
    rough: Roughener,
) -> Example | None:
    common: _Placement = dict(split=split, document=key, section=tuple(unit[0].section), system_prompt=system_prompt)
    texts = [p.text for p in unit]
    if task == "continue":
        if len(texts) >= 2:
            prompt, response = (texts[0],), tuple(texts[1:])
        else:
            halves = _opening_and_rest(texts[0])
            if halves is None:
                return None
            prompt, response = (halves[0],), (halves[1],)
        return Example(
            id=_example_id(key, shape, unit[0].order, task),
            task=task,
            shape=shape,
            prompt_parts=prompt,
            response_parts=response,
            **common,
        )
    drafts = [rough(text, seed) for text in texts]
    styles = sorted({d.style.split("+")[0] for d in drafts})
    return Example(
        id=_example_id(key, shape, unit[0].order, task),
        task=task,
        shape=shape,
        prompt_parts=tuple(d.text for d in drafts),
        response_parts=tuple(texts),
        rough_style="+".join(styles),
        part_styles=tuple(d.style for d in drafts),
        **common,
    )


def _roughener_for(roughener: Roughener | None, profile: WriterProfile, settings: DatasetSettings) -> Roughener:
    """The training drafts' maker: the offline training families with the writer's signature words
    (from the train split only), or the given roughener, handed the profile when it has a place for one."""
    if roughener is None:
        return lambda text, seed: roughen(text, seed, structural_noise=settings.structural_noise, profile=profile)
    if isinstance(roughener, ProfiledRoughener) and roughener.profile is None:
        roughener.profile = profile
    return roughener


def build_dataset(
    voice: str,
    documents: Iterable[DocumentLike],
    system_prompt: str,
    settings: DatasetSettings,
    *,
    folders: Iterable[str] = (),
    count_tokens: Callable[[str], int] | None = None,
    roughener: Roughener | None = None,
    previous_splits: dict[str, str] | None = None,
) -> Dataset:
    """Examples for every passage of the voice, split by document.

    ``count_tokens`` (the base model's tokenizer, when at hand) sizes the
    shapes; without it a cautious estimate is used, and tokenization later
    shortens or drops whatever still does not fit. ``previous_splits`` (from
    the last saved build made under the same :func:`split_rule`) keeps every
    known document in its split.
    """
    count = count_tokens or estimate_tokens
    docs = [(document_key(d.path, list(folders)), list(d.passages)) for d in documents]
    docs = [(key, passages) for key, passages in docs if passages]
    words = sum(p.words for _, passages in docs for p in passages)
    if words < settings.min_corpus_words:
        raise CorpusTooSmall(words, settings.min_corpus_words)
    splits = assign_splits((key for key, _ in docs), settings.valid_fraction, settings.test_fraction, previous_splits)
    profile = writer_profile(p.text for key, passages in docs if splits[key] == "train" for p in passages)
    rough = _roughener_for(roughener, profile, settings)
    overhead = count(system_prompt) + 32
    dataset = Dataset(
        voice,
        {split: [] for split in SPLITS},
        documents=dict(splits),
        split_rule=split_rule(settings),
        signature_words=profile.top(100),
    )
    for key, passages in sorted(docs, key=lambda item: item[0]):
        rng = random.Random(f"{settings.seed}:{key}")
        for shape, unit in _shape_units(passages, settings, rng, count, overhead):
            task = "rewrite" if rng.random() < settings.rewrite_share else "continue"
            example = _make_example(key, splits[key], shape, unit, task, system_prompt, settings.seed, rough)
            if example is None:  # one sentence cannot be continued: rewrite it instead
                example = _make_example(key, splits[key], shape, unit, "rewrite", system_prompt, settings.seed, rough)
            if example is not None:
                dataset.examples[example.split].append(example)
    notes = getattr(rough, "notes", None)
    if notes:
        dataset.notes.extend(notes)
    return dataset


# -- storage -----------------------------------------------------------------


def _jsonl(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def save_dataset(dataset: Dataset, directory: Path) -> list[Path]:
    """``train.jsonl``, ``valid.jsonl``, ``test.jsonl`` (full examples) and ``summary.json``."""
    make_private_dirs(directory)  # every level it creates, and the folder itself if it was wider
    written = []
    for split in SPLITS:
        target = directory / f"{split}.jsonl"
        write_private(target, _jsonl(ex.to_json() for ex in dataset.examples.get(split, [])))
        written.append(target)
    summary = {**dataset.summary(), "document_splits": dataset.documents, "split_rule": dataset.split_rule}
    write_private(directory / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return [*written, directory / "summary.json"]


class DatasetMissing(VoicedError):
    """No dataset has been built for the voice yet."""


def load_dataset(directory: Path, voice: str) -> Dataset:
    if not (directory / "summary.json").is_file():
        raise DatasetMissing(
            f"No dataset has been built for voice {voice!r} yet ({directory}). Run `voiced dataset build` first."
        )
    summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    examples = {}
    for split in SPLITS:
        lines = (directory / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        examples[split] = [Example.from_json(json.loads(line)) for line in lines if line.strip()]
    return Dataset(
        voice,
        examples,
        list(summary.get("notes", [])),
        dict(summary.get("document_splits", {})),
        split_rule=dict(summary.get("split_rule", {})),
        signature_words=list(summary.get("signature_words", [])),
    )


def export_chat(dataset: Dataset, out_dir: Path) -> list[Path]:
    """``{"messages": [...]}`` per line, the chat format mlx-lm and most trainers read."""
    make_private_dirs(out_dir)
    written = []
    for split in SPLITS:
        target = Path(out_dir) / f"{split}.jsonl"
        write_private(target, _jsonl({"messages": ex.messages()} for ex in dataset.examples.get(split, [])))
        written.append(target)
    return written


def build_voice_dataset(
    config: Config, voice: str | None = None, paths: Paths | None = None
) -> tuple[Dataset, list[Path]]:
    """Read the voice's corpus, build its dataset and save it under the data directory."""
    from voiced.corpus.store import CorpusStore
    from voiced.trainer.rough_endpoint import EndpointRoughener

    paths = paths or get_paths()
    voice_config = config.voice(voice)
    settings = config.dataset
    roughener = None
    if settings.rough_draft_endpoint:
        roughener = EndpointRoughener(
            settings.rough_draft_endpoint,
            settings.rough_draft_model,
            settings.rough_draft_timeout_seconds,
            settings.structural_noise,
        )
    with CorpusStore.open(paths) as store:
        documents = list(store.documents_with_passages(voice_config.name))
    directory = dataset_dir(paths.data_dir, voice_config.name)
    dataset = build_dataset(
        voice_config.name,
        documents,
        voice_config.system_prompt,
        settings,
        folders=voice_config.folders,
        roughener=roughener,
        previous_splits=saved_document_splits(directory, split_rule(settings)),
    )
    return dataset, save_dataset(dataset, directory)
