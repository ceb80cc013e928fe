"""The writer's own passages in the rewrite prompt: training split only, relevant, within the context, off at 0.

Real corpus store, real dataset build and split, real engine on the embedded model.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from data_support import austen_paragraphs
from engine_support import GREEDY, embedded_config
from process_support import wait_for

from voiced.config import Config, VoiceConfig
from voiced.corpus.records import FileState
from voiced.corpus.store import CorpusStore
from voiced.inference.engine import Engine
from voiced.inference.voice_examples import PassageIndex, VoiceExamples, VoicePassage, fit_examples
from voiced.paths import get_paths
from voiced.prompts import EXAMPLES_HEADING, rewrite_messages

SHIP = (
    "The frigate rode at anchor off Plymouth for three weeks, and the captain, who had served in the navy "
    "since boyhood, spent every morning on deck watching the tide and the sailors at the rigging."
)
GARDEN = (
    "Her garden that summer was a wonder of roses and honeysuckle; she walked among the borders every "
    "evening, cutting the blooms for the drawing-room and scolding the gardener about the gravel paths."
)
BALL = (
    "The ball at the Crown was thought the most brilliant of the winter, for there were nine couples dancing "
    "before supper, and the musicians from the town played until two in the morning without once tiring."
)
DRAFT_SHIP = (
    "The captain had been in the navy all his life, and while the ship sat at anchor near Plymouth he "
    "was out on deck each morning looking at the tide and at the sailors working the rigging."
)


class _Passage:
    def __init__(self, order: int, text: str) -> None:
        self.section, self.order, self.text, self.words = (), order, text, len(text.split())


def _write(store: CorpusStore, voice: str, folder: Path, name: str, texts: list[str]) -> None:
    path = folder / name
    state = FileState(voice, str(path), str(folder), 1, 1, name)
    store.write_passages(state, [_Passage(i, t) for i, t in enumerate(texts)])


def _voice(folder: Path, **inference) -> Config:
    config = embedded_config()
    config.voices["default"] = VoiceConfig(name="default", folders=[str(folder)])
    for key, value in inference.items():
        setattr(config.inference, key, value)
    return config


def _passages(*texts: str) -> list[VoicePassage]:
    return [VoicePassage(t, f"doc-{i}", len(t.split())) for i, t in enumerate(texts)]


# -- choosing -----------------------------------------------------------------


def test_a_draft_about_a_subject_picks_the_passage_about_it() -> None:
    index = PassageIndex(_passages(GARDEN, BALL, SHIP, *austen_paragraphs("emma")[:200]))
    assert index.choose(DRAFT_SHIP, 1)[0].text == SHIP
    assert (
        index.choose(
            "She cut roses and honeysuckle in the garden borders every evening of the summer, "
            "and scolded the gardener about the paths.",
            1,
        )[0].text
        == GARDEN
    )
    assert [p.text for p in index.choose(DRAFT_SHIP, 3)][0] == SHIP and len(index.choose(DRAFT_SHIP, 3)) == 3


def test_length_counts_and_the_draft_itself_is_never_an_example() -> None:
    long_ship = SHIP + " " + " ".join(austen_paragraphs("persuasion")[3:6])
    index = PassageIndex(_passages(long_ship, SHIP, GARDEN))
    assert index.choose(DRAFT_SHIP, 1)[0].text == SHIP  # same subject, the one of the draft's length first
    index = PassageIndex(_passages(DRAFT_SHIP, SHIP, GARDEN))  # the paragraph being edited is in the corpus
    assert DRAFT_SHIP not in [p.text for p in index.choose(DRAFT_SHIP, 3)]
    assert index.choose(DRAFT_SHIP, 0) == [] and PassageIndex([]).choose(DRAFT_SHIP, 2) == []


def test_the_worst_examples_are_dropped_until_the_rest_fit() -> None:
    assert fit_examples(["a", "bb", "ccc"], lambda chosen: sum(map(len, chosen)) <= 3) == ["a", "bb"]
    assert fit_examples(["a", "bb"], lambda chosen: not chosen) == []


# -- the training split only ---------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path):
    """A voice of 30 documents of Austen paragraphs in a real store, its dataset built and saved, and the
    passages by split (the dataset's own assignment of each document)."""
    from voiced.trainer.dataset import build_voice_dataset

    folder = tmp_path / "writing"
    paragraphs = [p for p in austen_paragraphs("emma") if 30 <= len(p.split()) <= 90]
    texts = {f"chapter-{n:02d}.txt": paragraphs[n * 4 : n * 4 + 4] for n in range(30)}
    with CorpusStore.open() as store:
        for name, chapter in texts.items():
            _write(store, "default", folder, name, chapter)
    config = _voice(folder)
    dataset, _ = build_voice_dataset(config, "default")
    by_split = {"train": set(), "held": set()}
    for name, chapter in texts.items():
        by_split["train" if dataset.documents[name] == "train" else "held"].update(chapter)
    return config, folder, dataset, texts, by_split


def _half(text: str) -> str:
    """A draft about what ``text`` is about, too short to count as a copy of it."""
    words = text.split()
    return " ".join(words[: len(words) // 2])


def test_examples_come_from_the_training_split_only(corpus) -> None:
    config, folder, dataset, texts, by_split = corpus
    held = by_split["held"]
    assert held, "the split must hold documents out for this test to mean anything"
    scored = [part for ex in dataset.examples["test"] for part in ex.response_parts]  # what the evaluation scores
    assert scored and all(any(part in text for text in held) for part in scored)
    every = PassageIndex(VoicePassage(t, d, len(t.split())) for d, chapter in texts.items() for t in chapter)
    examples = VoiceExamples(lambda: config)
    picked_held_without_split = 0
    for text in sorted(held):
        draft = _half(text)
        picked_held_without_split += any(p.text in held for p in every.choose(draft, 3))
        chosen = examples.choose("default", draft, 3)
        assert len(chosen) == 3 and set(chosen) <= by_split["train"]
    assert picked_held_without_split, "an index over every document picks held-out passages for these drafts"


def test_the_saved_split_wins_over_the_hash_rule(corpus) -> None:
    """A document the last build held out stays out of prompts, even where the hash rule alone says train."""
    import json

    from voiced.trainer.dataset import dataset_dir

    config, folder, dataset, texts, _ = corpus
    name = next(doc for doc, split in sorted(dataset.documents.items()) if split == "train")
    draft = _half(texts[name][0])
    assert texts[name][0] in VoiceExamples(lambda: config).choose("default", draft, 3)
    summary_path = dataset_dir(get_paths().data_dir, "default") / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["document_splits"][name] = "test"
    summary_path.write_text(json.dumps(summary))
    chosen = VoiceExamples(lambda: config).choose("default", draft, 3)
    assert len(chosen) == 3 and not set(chosen) & set(texts[name])


def test_the_index_follows_the_corpus(corpus) -> None:
    """A passage added to a training document is chosen soon after (the old index answers meanwhile)."""

    from voiced.trainer.dataset import split_of

    config, folder, *_ = corpus
    examples = VoiceExamples(lambda: config)
    assert SHIP not in examples.choose("default", DRAFT_SHIP, 3)
    name = next(f"ships-{n}.txt" for n in range(100) if split_of(f"ships-{n}.txt", 0.1, 0.1) == "train")
    with CorpusStore.open() as store:
        _write(store, "default", folder, name, [SHIP])
    wait_for(
        lambda: examples.choose("default", DRAFT_SHIP, 3)[0] == SHIP, "the index to see the new passage", timeout=60
    )


def test_no_corpus_means_no_examples_and_no_error(tmp_path: Path) -> None:
    examples = VoiceExamples(lambda: _voice(tmp_path / "nowhere"))
    assert examples.choose("default", DRAFT_SHIP, 3) == []
    assert not get_paths().corpus_db.exists()  # looking did not create a corpus


# -- the prompt and the engine --------------------------------------------------


def test_without_examples_the_prompt_is_the_training_shape() -> None:
    plain = rewrite_messages("S", "T")
    assert plain == [{"role": "system", "content": "S"}, {"role": "user", "content": plain[1]["content"]}] and plain[1][
        "content"
    ].endswith("\n\nT")
    with_examples = rewrite_messages("S", "T", ["one passage", "two\nlines"])
    assert with_examples[1] == plain[1]
    assert with_examples[0]["content"] == f"S\n\n{EXAMPLES_HEADING}\n\n> one passage\n\n> two\n> lines"
    assert rewrite_messages("S", "T", ["p"], layout="user")[1]["content"].startswith(EXAMPLES_HEADING)


def _recorded(engine: Engine) -> list[list[dict]]:
    """The real backend, with the messages of each generation noted."""
    engine.load("default")
    backend = engine._workers["default"].backend
    original, seen = backend.stream_chat, []

    def recording(messages, *args, **kwargs):
        seen.append(messages)
        return original(messages, *args, **kwargs)

    backend.stream_chat = recording
    return seen


def test_the_engine_quotes_training_passages_and_leaves_them_out_at_zero(corpus) -> None:
    config, folder, dataset, texts, by_split = corpus
    draft = _half(sorted(by_split["train"])[0])
    config.inference.voice_examples = 2
    with Engine(config) as engine:
        seen = _recorded(engine)
        assert engine.rewrite("default", draft, GREEDY)
        system = seen[-1][0]["content"]
        quoted = [block[2:] for block in system.split("\n\n") if block.startswith("> ")]
        assert EXAMPLES_HEADING in system and len(quoted) == 2 and set(quoted) <= by_split["train"]
        assert seen[-1][1] == rewrite_messages("", draft)[1]
        config.inference.voice_examples = 0
        engine.rewrite("default", draft, GREEDY)
        assert seen[-1] == rewrite_messages(config.voices["default"].system_prompt, draft)


def test_examples_that_do_not_fit_the_context_are_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "writing"
    long_ones = [p for p in austen_paragraphs("emma") if 110 <= len(p.split()) <= 130][:3]
    with CorpusStore.open() as store:
        _write(store, "default", folder, "long.txt", long_ones)  # one document: no split to hold it out
    draft = " ".join(long_ones[0].split()[:50])
    params = replace(GREEDY, max_tokens=None)
    for n_ctx, expected in ((512, range(1, 3)), (4096, range(3, 4))):
        config = _voice(folder, voice_examples=3, n_ctx=n_ctx, guard=False)
        with Engine(config) as engine:
            seen = _recorded(engine)
            backend = engine._workers["default"].backend
            stream = engine.stream_rewrite("default", draft, params)
            for _ in stream:  # until the prompt is made; the rest of the rewrite is not needed
                if seen:
                    break
            stream.close()
            assert seen[-1][0]["content"].count("\n\n> ") in expected, n_ctx
            room = backend.n_ctx - backend.prompt_tokens(seen[-1])
            tokens = backend.count_tokens(draft)
            assert room >= params.resolved(engine.settings).rewrite_budget(tokens, cap=config.daemon.max_tokens)


def test_the_setting_is_range_checked() -> None:
    from dataclasses import fields

    from voiced.config import InferenceSettings

    meta = next(f for f in fields(InferenceSettings) if f.name == "voice_examples").metadata
    assert meta["ge"] == 0 and meta["help"]
