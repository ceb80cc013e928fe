"""A blind A/B arena: the writer picks the better of two rewrites; choices are kept for win rates and
later preference training (prompt, chosen, rejected)."""

from __future__ import annotations

import math
import os
import random
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiced.corpus.migrations import migrate
from voiced.private_files import make_private_dirs, open_private

CHOICES = ("A", "B", "tie", "skip")


@dataclass(frozen=True)
class Match:
    """One passage and two rewrites, already shuffled: the writer sees only "A" and "B"."""

    prompt: str
    a_label: str
    a_text: str
    b_label: str
    b_text: str


def make_matches(
    prompts: Iterable[str], left: tuple[str, list[str]], right: tuple[str, list[str]], seed: int | None = None
) -> list[Match]:
    """Pair the two label's outputs per prompt in random order (``seed`` for a repeatable order)."""
    rng = random.Random(seed)
    matches = []
    for prompt, one, two in zip(prompts, left[1], right[1], strict=False):
        first, second = ((left[0], one), (right[0], two))
        if rng.random() < 0.5:
            first, second = second, first
        matches.append(Match(prompt, first[0], first[1], second[0], second[1]))
    return matches


def m001_choices(db: sqlite3.Connection) -> None:
    """Every choice the writer made in the arena, with both texts, so preferences can train later."""
    db.execute(
        """
        CREATE TABLE choices (
            id INTEGER PRIMARY KEY,
            voice TEXT NOT NULL,
            prompt TEXT NOT NULL,
            a_label TEXT NOT NULL,
            a_text TEXT NOT NULL,
            b_label TEXT NOT NULL,
            b_text TEXT NOT NULL,
            choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'tie', 'skip')),
            via TEXT NOT NULL,
            created REAL NOT NULL
        )
        """
    )


ARENA_MIGRATIONS = [m001_choices]


def wilson_interval(successes: float, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% by default); (0, 1) when there is no data."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    denominator = 1 + z * z / total
    return (centre - spread) / denominator, (centre + spread) / denominator


class ArenaStore:
    """The arena's own SQLite file in the data directory (0600): choices never touch the corpus."""

    def __init__(self, path: Path) -> None:
        make_private_dirs(path.parent)
        os.close(open_private(path, os.O_RDWR))
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        migrate(self.db, ARENA_MIGRATIONS)

    @classmethod
    def open(cls, paths: Any = None) -> ArenaStore:
        from voiced.paths import get_paths

        return cls((paths or get_paths()).data_dir / "arena.sqlite3")

    def record(self, voice: str, match: Match, choice: str, via: str) -> None:
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {', '.join(CHOICES)}, not {choice!r}")
        self.db.execute(
            "INSERT INTO choices (voice, prompt, a_label, a_text, b_label, b_text, choice, via, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (voice, match.prompt, match.a_label, match.a_text, match.b_label, match.b_text, choice, via, time.time()),
        )

    def count(self, voice: str) -> int:
        return self.db.execute("SELECT count(*) FROM choices WHERE voice = ?", (voice,)).fetchone()[0]

    def preferences(self, voice: str) -> list[tuple[str, str, str]]:
        """(prompt, chosen, rejected) for every decided choice: ties and skips carry no preference."""
        rows = self.db.execute(
            "SELECT prompt, a_text, b_text, choice FROM choices WHERE voice = ? AND choice IN ('A', 'B') ORDER BY id",
            (voice,),
        )
        return [(p, a, b) if c == "A" else (p, b, a) for p, a, b, c in rows]

    def win_rates(self, voice: str) -> dict[str, dict[str, float]]:
        """Per label: wins, losses, ties, rate (a tie counts half) and its Wilson 95% interval."""
        tally: dict[str, dict[str, float]] = {}
        rows = self.db.execute(
            "SELECT a_label, b_label, choice FROM choices WHERE voice = ? AND choice != 'skip'", (voice,)
        )
        for a, b, choice in rows:
            for label in (a, b):
                tally.setdefault(label, {"wins": 0, "losses": 0, "ties": 0})
            if choice == "tie":
                tally[a]["ties"] += 1
                tally[b]["ties"] += 1
            else:
                winner, loser = (a, b) if choice == "A" else (b, a)
                tally[winner]["wins"] += 1
                tally[loser]["losses"] += 1
        for counts in tally.values():
            games = int(counts["wins"] + counts["losses"] + counts["ties"])
            score = counts["wins"] + counts["ties"] / 2
            counts["rate"] = score / games if games else 0.0
            counts["low"], counts["high"] = wilson_interval(score, games)
        return tally

    def close(self) -> None:
        self.db.close()
