"""Anchored decoding: a rewrite that leaves the draft only where the voice prefers other words.

A small model asked to rewrite a paragraph drops clauses, wanders off or starts commenting, and every
such slip takes the text further from the writer than the draft was. Anchoring adds ``strength`` (in
nats, to the logits) to the token that would continue the draft from where the rewrite has got to, so
the model copies the draft unless it prefers another token by more than that margin: the edits that
survive are the ones the voice is sure of (a contraction spelt out, a period word for a modern one, a
semicolon), while the content stays. Tokens a little further on in the draft get half the bonus, so a
word can be dropped, at a higher price than one replaced; once the draft is used up the end of the turn
gets the bonus, so the rewrite does not run on, and until the draft is nearly used up it gets the same
amount as a penalty, so the rewrite does not stop short (the 135M voice left out a draft's last
sentence that way: docs/evaluation.md).

The anchor follows the rewrite through the draft one token at a time: a token that is the draft's next
one (or one of the next few) moves it on; any other token is an edit and leaves it where it is, until
the rewrite rejoins the draft (two tokens in a row found further on). Pure Python over token ids; each
runtime applies :meth:`DraftAnchor.bonuses` to its logits (llama.cpp, transformers and MLX backends).
"""

from __future__ import annotations

from collections.abc import Sequence

LOOKAHEAD = 4  # draft tokens after the next one that get half the bonus (a word or two dropped)


class DraftAnchor:
    """Where one rewrite stands in its draft's tokens, and the logit bonuses that follow from it."""

    def __init__(self, draft_ids: Sequence[int], strength: float, end_ids: Sequence[int] = ()) -> None:
        self.draft = list(draft_ids)
        self.strength = strength
        self.end_ids = tuple(end_ids)
        self.position = 0  # index of the draft token the rewrite would copy next
        self._last: int | None = None  # the token before the latest one, for rejoining

    def bonuses(self) -> dict[int, float]:
        """Token id -> amount to add to its logit for the next token."""
        if self.position >= len(self.draft):
            return dict.fromkeys(self.end_ids, self.strength)
        bonus: dict[int, float] = {}
        for token in self.draft[self.position + 1 : self.position + 1 + LOOKAHEAD]:
            bonus.setdefault(token, self.strength / 2)
        bonus[self.draft[self.position]] = self.strength
        if len(self.draft) - self.position > LOOKAHEAD:  # more than a word or two left: ending here drops it
            for token in self.end_ids:
                bonus.setdefault(token, -self.strength)
        return bonus

    def observe(self, token: int) -> None:
        """Move along the draft for the token the rewrite just produced."""
        previous, self._last = self._last, token
        ahead = self.draft[self.position : self.position + 1 + LOOKAHEAD]
        if token in ahead:
            self.position += ahead.index(token) + 1
            return
        if previous is None:
            return
        # An edit: rejoin the draft where the last two tokens of the rewrite occur together further on.
        for index in range(self.position + 1, len(self.draft) - 1):
            if self.draft[index] == previous and self.draft[index + 1] == token:
                self.position = index + 2
                return

    def observe_all(self, tokens: Sequence[int]) -> None:
        for token in tokens:
            self.observe(token)
