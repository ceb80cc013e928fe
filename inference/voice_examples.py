"""The writer's own passages, chosen to sit beside a draft in its rewrite prompt as examples of the voice.

A small model rewrites more like the writer when it sees how the writer
writes about the same things at the same length. For each draft paragraph
:class:`PassageIndex` ranks the voice's passages by BM25 over content words
(the rewrite guard's stemmed words of four letters or more, counted once per
passage), times a penalty for a length far from the draft's, and leaves out
near-copies of the draft itself (the paragraph being edited is often in the
corpus already).

Only the **training** split is ever searched: the split is the dataset's own
(``voiced.corpus.splits``: by document, hash-based, the last build's
assignment kept), so the held-out passages the evaluation and the gate score
never appear in a prompt. :class:`VoiceExamples` builds one index per voice
from the corpus store and rebuilds it when the corpus, the saved split or
the voice's folders change; a lookup itself reads nothing but file stamps.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from voiced.config import Config
from voiced.inference.rewrite_guard import content_words, words
from voiced.paths import Paths, get_paths

log = logging.getLogger("voiced.daemon")

K1, B = 1.2, 0.75  # BM25's usual constants
LENGTH_WEIGHT = 1.0  # score / (1 + weight * |log2(passage words / draft words)|): twice as long halves it
NEAR_COPY = 0.6  # a passage sharing this share of its content words with the draft is the draft itself
MIN_WORDS = 12  # shorter passages (headings, a line of dialogue) show little of a voice


@dataclass(frozen=True)
class VoicePassage:
    """One passage of the writer's, with the document (its split key) it came from."""

    text: str
    document: str
    words: int


class PassageIndex:
    """BM25 over content words with a length penalty; built once, then cheap per draft (numpy)."""

    def __init__(self, passages: Iterable[VoicePassage], terms_of: Callable[[str], set[str]] | None = None) -> None:
        self.passages = [p for p in passages if p.words >= MIN_WORDS]
        terms = [(terms_of or passage_terms)(p.text) for p in self.passages]
        postings: dict[str, list[int]] = defaultdict(list)
        for index, found in enumerate(terms):
            for term in found:
                postings[term].append(index)
        count = len(self.passages)
        self._postings = {t: np.asarray(ids, dtype=np.int32) for t, ids in postings.items()}
        self._idf = {t: math.log(1 + (count - len(ids) + 0.5) / (len(ids) + 0.5)) for t, ids in postings.items()}
        self._sizes = np.asarray([len(t) for t in terms], dtype=np.float64)
        mean = float(self._sizes.mean()) if count else 1.0
        # binary term frequency: BM25's tf part is (k1 + 1) / (1 + k1 * norm) for a term present once
        self._tf = (K1 + 1) / (1 + K1 * (1 - B + B * self._sizes / (mean or 1.0)))
        self._log_words = np.log2(np.asarray([p.words for p in self.passages], dtype=np.float64))

    def __len__(self) -> int:
        return len(self.passages)

    def choose(self, draft: str, k: int) -> list[VoicePassage]:
        """The ``k`` passages closest to ``draft`` in subject and length, best first; none for k <= 0.
        Passages that share no content word with the draft come last, nearest in length first."""
        if k <= 0 or not self.passages:
            return []
        query = passage_terms(draft)
        scores = np.zeros(len(self.passages))
        shared = np.zeros(len(self.passages))
        for term in sorted(query & self._postings.keys()):  # one order, so equal scores stay equal
            ids = self._postings[term]
            scores[ids] += self._idf[term]
            shared[ids] += 1
        penalty = 1 + LENGTH_WEIGHT * np.abs(self._log_words - math.log2(max(1, len(draft.split()))))
        ranked = np.where(scores > 0, scores * self._tf / penalty, -penalty)
        ranked[shared >= NEAR_COPY * np.maximum(self._sizes, len(query))] = -np.inf
        k = min(k, int(np.isfinite(ranked).sum()))
        if not k:
            return []
        best = np.argpartition(-ranked, k - 1)[:k]
        return [self.passages[i] for i in sorted(best, key=lambda i: -ranked[i])]


@lru_cache(maxsize=200_000)
def _word_terms(word: str) -> frozenset[str]:
    return frozenset(content_words(word))


def passage_terms(text: str) -> set[str]:
    """The rewrite guard's content words (stems of words of four letters or more, numbers), each word stemmed once."""
    return set().union(*map(_word_terms, set(words(text))))


def training_passages(documents: Iterable[Any], config: Config, voice: str, data_dir: Path) -> list[VoicePassage]:
    """The passages of the documents the dataset puts in the training split, by the dataset's own rule:
    the same keys, the same hash split and the last saved build's assignment (``assign_splits``)."""
    from voiced.corpus.splits import assign_splits, dataset_dir, document_key, saved_document_splits, split_rule

    settings = config.dataset
    folders = list(config.voices[voice].folders)
    docs = [(document_key(d.path, folders), d.passages) for d in documents if d.passages]
    previous = saved_document_splits(dataset_dir(data_dir, voice), split_rule(settings))
    splits = assign_splits((key for key, _ in docs), settings.valid_fraction, settings.test_fraction, previous)
    return [VoicePassage(p.text, key, p.words) for key, passages in docs if splits[key] == "train" for p in passages]


class VoiceExamples:
    """Per voice, an index of its training passages, rebuilt when what it was built from changes.

    The check before each lookup is a few ``stat`` calls (the corpus database and its write-ahead log,
    the saved split) and the settings the split depends on. The first index of a voice is built on the
    spot; later rebuilds run on a thread of their own while the old index keeps answering, and only
    passages not seen before are tokenized again. Any failure to read the corpus (none yet, damaged,
    locked) means no examples, with a warning in the log: the rewrite goes on without them."""

    def __init__(self, config_of: Any, paths: Paths | None = None) -> None:
        self._config_of = config_of  # a callable giving the config as it is now (the daemon may replace it)
        self._paths = paths
        self._indexes: dict[str, tuple[tuple, PassageIndex]] = {}
        self._terms: dict[str, dict[str, set[str]]] = {}  # voice -> passage text -> its terms
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()

    def choose(self, voice: str, draft: str, k: int) -> list[str]:
        """Texts of up to ``k`` of the voice's training passages for ``draft``; [] when k is 0."""
        if k <= 0:
            return []
        index = self.index(voice)
        return [p.text for p in index.choose(draft, k)] if index is not None else []

    def index(self, voice: str) -> PassageIndex | None:
        """The voice's index: built now the first time, refreshed in the background after a change."""
        try:
            key = self._fingerprint(voice)
        except (OSError, KeyError) as exc:  # the corpus unreadable, or the voice just removed from the config
            log.warning("No voice examples for %s: %s", voice, exc)
            return None
        with self._lock:
            if key is None:
                self._indexes.pop(voice, None)
                return None
            held = self._indexes.get(voice)
            if held is not None:
                if held[0] != key and voice not in self._pending:
                    self._pending.add(voice)
                    threading.Thread(
                        target=self._build, args=(voice, key), name=f"voiced-examples-{voice}", daemon=True
                    ).start()
                return held[1]
        return self._build(voice, key)

    def _fingerprint(self, voice: str) -> tuple | None:
        """What the index depends on, cheaply: the corpus files' change stamps, the saved split's, the
        voice's folders and the split fractions. None when there is no corpus yet."""
        from voiced.corpus.splits import dataset_dir

        paths = self._paths or get_paths()
        config = self._config_of()
        if not paths.corpus_db.is_file():
            return None

        def stamp(path: Path) -> tuple[int, int] | None:
            with contextlib.suppress(FileNotFoundError):
                found = path.stat()
                return found.st_mtime_ns, found.st_size
            return None

        wal = paths.corpus_db.with_name(paths.corpus_db.name + "-wal")
        summary = dataset_dir(paths.data_dir, voice) / "summary.json"
        return (
            stamp(paths.corpus_db),
            stamp(wal),
            stamp(summary),
            tuple(config.voices[voice].folders),
            config.dataset.valid_fraction,
            config.dataset.test_fraction,
        )

    def _build(self, voice: str, key: tuple) -> PassageIndex | None:
        from voiced.corpus.store import CorpusStore

        try:
            with self._build_lock:
                started = time.perf_counter()
                paths = self._paths or get_paths()
                with CorpusStore(paths.corpus_db) as store:
                    documents = list(store.documents_with_passages(voice))
                passages = training_passages(documents, self._config_of(), voice, paths.data_dir)
                known = self._terms.get(voice, {})
                terms = {p.text: known.get(p.text) or passage_terms(p.text) for p in passages}
                index = PassageIndex(passages, terms.__getitem__)
                with self._lock:
                    self._terms[voice] = terms
                    self._indexes[voice] = (key, index)
                log.info(
                    "Voice examples for %s: %d training passages indexed in %.2f s",
                    voice,
                    len(index),
                    time.perf_counter() - started,
                )
                return index
        except Exception as exc:  # noqa: BLE001 - examples are an aid; a rewrite never fails for them
            log.warning("No voice examples for %s: %s", voice, exc)
            return None
        finally:
            with self._lock:
                self._pending.discard(voice)


def fit_examples(examples: Sequence[str], fits: Any) -> list[str]:
    """The longest prefix of ``examples`` (best first) for which ``fits(examples)`` holds: the worst go first."""
    chosen = list(examples)
    while chosen and not fits(chosen):
        chosen.pop()
    return chosen
