"""What the store and the dataset builder need of a passage and of a document, defined once.

Read-only properties, so extracted passages (voiced.extract.Passage, whose word
count is computed), the store's frozen records (voiced.corpus.records) and any
other frozen dataclass with these fields all qualify.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class PassageLike(Protocol):
    """One paragraph of prose with its place in the document."""

    @property
    def section(self) -> tuple[str, ...]: ...  # heading path, outermost first
    @property
    def order(self) -> int: ...  # position in the document
    @property
    def text(self) -> str: ...
    @property
    def words(self) -> int: ...


class DocumentLike(Protocol):
    """One document's passages, in document order."""

    @property
    def path(self) -> str: ...
    @property
    def passages(self) -> Sequence[PassageLike]: ...
