"""What the writer did with each rewrite or continuation voiced proposed in their editor.

The LSP server's feedback tracker settles every proposal as accepted, rejected,
undone, edited or kept, and records it here, in the corpus database (table
``feedback``, migration ``m005_feedback``), as private as the writer's prose.
`voiced feedback`, `voiced status` and the evaluation gate read the summary;
the preference stage of training reads the pairs.

Nothing here adds text to the corpus: the writer's final text reaches it through
the watched folder like the rest of their prose, so it is never counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from voiced.corpus.store import CorpusStore
from voiced.paths import Paths

KINDS = ("rewrite", "continue")
OUTCOMES = ("accepted", "rejected", "undone", "edited", "kept")


@dataclass(frozen=True)
class FeedbackRecord:
    """One proposal and what became of it; ``final_text`` is the writer's text of its range when it settled."""

    proposal_id: str
    voice: str
    adapter_version: int | None
    kind: str
    outcome: str
    original: str
    proposal: str
    final_text: str | None
    proposed_at: float
    settled_at: float


@dataclass(frozen=True)
class FeedbackSummary:
    """The counts of one (voice, adapter version); version None is the base model."""

    voice: str
    adapter_version: int | None
    shown: int
    accepted: int
    rejected: int
    undone: int
    edited: int
    kept: int
    acceptance_rate: float | None
    undo_rate: float | None
    mean_edit_distance: float | None

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class PreferencePair:
    """The draft as prompt; the writer's own text preferred over the proposal they did not keep."""

    prompt: str
    chosen: str
    rejected: str
    proposal_id: str
    adapter_version: int | None


def record_feedback(paths: Paths, record: FeedbackRecord) -> None:
    """Store ``record``, replacing an earlier record of the same proposal (a later settlement wins)."""
    if record.kind not in KINDS:
        raise ValueError(f"feedback kind {record.kind!r} is not one of {', '.join(KINDS)}")
    if record.outcome not in OUTCOMES:
        raise ValueError(f"feedback outcome {record.outcome!r} is not one of {', '.join(OUTCOMES)}")
    with CorpusStore.open(paths) as store, store._write() as db:
        db.execute(
            """
            INSERT INTO feedback (proposal_id, voice, adapter_version, kind, outcome, original, proposal,
                                  final_text, proposed_at, settled_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (proposal_id) DO UPDATE SET
                outcome = excluded.outcome, final_text = excluded.final_text, settled_at = excluded.settled_at
            """,
            (
                record.proposal_id,
                record.voice,
                record.adapter_version,
                record.kind,
                record.outcome,
                record.original,
                record.proposal,
                record.final_text,
                record.proposed_at,
                record.settled_at,
            ),
        )


def feedback_records(paths: Paths, voice: str | None = None) -> list[FeedbackRecord]:
    """Every record (of ``voice``, or of all voices), oldest proposal first."""
    if not paths.corpus_db.exists():
        return []  # nothing proposed yet; a reader does not create the database
    where, args = ("WHERE voice = ?", [voice]) if voice is not None else ("", [])
    with CorpusStore.open(paths) as store, store._locked() as db:
        rows = db.execute(
            "SELECT proposal_id, voice, adapter_version, kind, outcome, original, proposal, final_text, "
            f"proposed_at, settled_at FROM feedback {where} ORDER BY proposed_at, proposal_id",
            args,
        ).fetchall()
    return [FeedbackRecord(*row) for row in rows]


def word_edit_distance(before: str, after: str) -> float:
    """Word-level Levenshtein distance from ``before`` to ``after``, over the longer's word count (0 to 1)."""
    a, b = before.split(), after.split()
    if not a and not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, word in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        previous = current
    return previous[-1] / max(len(a), len(b))


def summarise(records: Sequence[FeedbackRecord]) -> list[FeedbackSummary]:
    """Counts per (voice, adapter version), the base model (None) before version 1."""
    groups: dict[tuple[str, int | None], list[FeedbackRecord]] = {}
    for record in records:
        groups.setdefault((record.voice, record.adapter_version), []).append(record)
    summaries = []
    for (voice, version), group in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        count = {outcome: sum(r.outcome == outcome for r in group) for outcome in OUTCOMES}
        shown = len(group)
        distances = [
            word_edit_distance(r.proposal, r.proposal if r.outcome == "kept" else r.final_text or "")
            for r in group
            if r.outcome in ("kept", "edited") and r.kind == "rewrite"
        ]
        summaries.append(
            FeedbackSummary(
                voice=voice,
                adapter_version=version,
                shown=shown,
                **count,
                acceptance_rate=(count["accepted"] + count["edited"] + count["kept"]) / shown,
                undo_rate=count["undone"] / shown,
                mean_edit_distance=sum(distances) / len(distances) if distances else None,
            )
        )
    return summaries


def feedback_summary(paths: Paths, voice: str | None = None) -> list[FeedbackSummary]:
    """The counts per (voice, adapter version) of what the writer did with the proposals they saw."""
    return summarise(feedback_records(paths, voice))


def pair_of(record: FeedbackRecord) -> PreferencePair | None:
    """The preference pair a record gives, or None.

    A pair needs the writer's own text for the range, different from both the
    proposal and the draft: an edited proposal (final preferred over the
    proposal), or a rejected or undone rewrite that the writer then rewrote
    themselves. A proposal kept as is, or rejected with the draft left as it
    was, says nothing the supervised stage does not already learn (and would
    teach the model to copy its input); a continuation needs its text before
    the cursor as the prompt, so continuations give none.
    """
    final = (record.final_text or "").strip()
    if record.kind != "rewrite" or record.outcome not in ("edited", "rejected", "undone") or not final:
        return None
    if final == record.proposal.strip() or final == record.original.strip() or not record.original.strip():
        return None
    return PreferencePair(
        prompt=record.original,
        chosen=record.final_text or "",
        rejected=record.proposal,
        proposal_id=record.proposal_id,
        adapter_version=record.adapter_version,
    )


def preference_pairs(paths: Paths, voice: str) -> list[PreferencePair]:
    """The voice's preference pairs (prompt = the writer's draft, chosen = their final text, rejected = proposal)."""
    return [pair for pair in map(pair_of, feedback_records(paths, voice)) if pair is not None]
