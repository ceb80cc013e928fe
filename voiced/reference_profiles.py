"""The reference profiles shipped with the package: three authors of one period, one excerpt each.

Austen, Anne Brontë and Emily Brontë (public domain; cut from the shared
corpora by voiced.evaluation.reference_build, about 100,000 characters of each
author, spread over all their books). Attribution asks whether a text is
nearer the writer's own profile than these authors'; on held-out 300-word
passages the three are told apart far above chance (docs/evaluation.md).
"""

from __future__ import annotations

from importlib import resources


def reference_profiles() -> dict[str, str]:
    """Profile name ("austen", "anne-bronte", "emily-bronte") -> excerpt text."""
    folder = resources.files("voiced") / "reference"
    return {
        entry.name.removesuffix(".txt"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".txt")
    }
