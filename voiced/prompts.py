"""The instruction wording shared by training and inference.

The trainer builds every example with these functions and the daemon builds
every request with them, so the model sees at inference exactly the turn
shapes it was trained on. Change them only together with a retrain.
"""

from __future__ import annotations

from collections.abc import Sequence

REWRITE_INSTRUCTION = "Rewrite the following text in my voice. Keep its meaning, names and facts."
CONTINUE_INSTRUCTION = "Continue the following text in my voice."
# The writer's own passages, when the engine adds them (voiced.inference.voice_examples); training leaves them out.
EXAMPLES_HEADING = "Passages written by this writer, as examples of the voice:"
EXAMPLE_LAYOUTS = ("system", "user")
EXAMPLE_LAYOUT = "system"  # chosen by bench/bench_voice_examples.py (docs/evaluation.md)


def _messages(system_prompt: str, instruction: str, text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": f"{instruction}\n\n{text}"},
    ]


def rewrite_messages(
    system_prompt: str, text: str, examples: Sequence[str] = (), layout: str | None = None
) -> list[dict[str, str]]:
    """Chat messages asking for ``text`` rewritten in the voice.

    ``examples`` (the writer's own passages) are quoted after the system prompt (``layout`` "system") or
    before the instruction in the user turn ("user"); without them the messages are the training shape."""
    messages = _messages(system_prompt, REWRITE_INSTRUCTION, text)
    if not examples:
        return messages
    layout = layout or EXAMPLE_LAYOUT
    if layout not in EXAMPLE_LAYOUTS:
        raise ValueError(f"layout must be one of {EXAMPLE_LAYOUTS}, not {layout!r}")
    block = "\n\n".join([EXAMPLES_HEADING, *(quoted(p) for p in examples)])
    if layout == "system":
        messages[0]["content"] = f"{system_prompt}\n\n{block}"
    else:
        messages[1]["content"] = f"{block}\n\n{messages[1]['content']}"
    return messages


def quoted(passage: str) -> str:
    """A passage as a Markdown block quote, so it reads as material, not as the text to rewrite."""
    return "\n".join(f"> {line}" if line else ">" for line in passage.strip().splitlines())


def continue_messages(system_prompt: str, text: str) -> list[dict[str, str]]:
    """Chat messages asking for a continuation of ``text`` in the voice."""
    return _messages(system_prompt, CONTINUE_INSTRUCTION, text)
