"""The reference profiles shipped with the package: excerpts of Austen's six novels, one profile each.

Only public-domain prose can ship, and the corpora at hand hold one author, so
each novel stands in for an "other author". Delta then measures closeness to the
writer against six closely related styles: a conservative, not a typical, baseline.
"""

from __future__ import annotations

from importlib import resources


def reference_profiles() -> dict[str, str]:
    """Profile name ("austen/emma", ...) -> excerpt text (about 50 KB each)."""
    folder = resources.files("voiced.evaluation") / "reference"
    return {f"austen/{entry.name.removesuffix('.txt')}": entry.read_text(encoding="utf-8")
            for entry in sorted(folder.iterdir(), key=lambda e: e.name) if entry.name.endswith(".txt")}
