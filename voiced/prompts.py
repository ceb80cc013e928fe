"""The instruction wording shared by training and inference.

The trainer builds every example with these functions and the daemon builds
every request with them, so the model sees at inference exactly the turn
shapes it was trained on. Change them only together with a retrain.
"""

from __future__ import annotations

REWRITE_INSTRUCTION = "Rewrite the following text in my voice. Keep its meaning, names and facts."
CONTINUE_INSTRUCTION = "Continue the following text in my voice."


def _messages(system_prompt: str, instruction: str, text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": f"{instruction}\n\n{text}"},
    ]


def rewrite_messages(system_prompt: str, text: str) -> list[dict[str, str]]:
    """Chat messages asking for ``text`` rewritten in the voice."""
    return _messages(system_prompt, REWRITE_INSTRUCTION, text)


def continue_messages(system_prompt: str, text: str) -> list[dict[str, str]]:
    """Chat messages asking for a continuation of ``text`` in the voice."""
    return _messages(system_prompt, CONTINUE_INSTRUCTION, text)
