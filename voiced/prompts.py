"""The instruction wording shared by training and inference.

The trainer builds every example with these functions and the daemon builds
every request with them, so the model sees at inference exactly the turn
shapes it was trained on. Change them only together with a retrain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


# -- bases without a chat template -------------------------------------------------------------------------
#
# A base model shipped without a chat template (a pretrained, not instruction-tuned, checkpoint) still needs
# one turn shape that training and serving share. Both sides render it with their own Jinja chat-template
# machinery (transformers' apply_chat_template when training, llama-cpp-python's Jinja2ChatFormatter when
# serving), from the one template text below, so the tokens are the same by construction.

# Gemma's own turn terms: a Gemma-family base already has <start_of_turn>, <end_of_turn> and the role words
# user/model as single vocabulary entries (its instruction-tuned siblings are trained on them), so a voice
# learns one short, unambiguous shape instead of spending steps on a made-up one; llama.cpp counts
# <end_of_turn> among Gemma's end-of-generation tokens, so a reply stops there without a text match.
# Gemma has no system role: as in Google's own template, the system text opens the first user turn.
GEMMA_TURN_END = "<end_of_turn>"
GEMMA_TURNS_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set preamble = messages[0]['content'] + '\n\n' %}{% set messages = messages[1:] %}"
    "{% else %}{% set preamble = '' %}{% endif %}"
    "{% for message in messages %}"
    "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\n' }}"
    "{{ (preamble if loop.first else '') + message['content'] + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
GEMMA_ARCHITECTURES = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text", "gemma3n", "gemma3n_text"})

# Any other base: plain headed sections, the reply ended by the model's own end-of-sequence token (which
# every runtime stops on), and the BOS token first where the model has one.
PLAIN_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '### Request\n' + message['content'] + '\n\n' }}"
    "{% else %}{{ '### Response\n' + message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Response\n' }}{% endif %}"
)


def template_for_base_without_one(architecture: str) -> str:
    """The chat template voiced uses for a base of this architecture that ships none (training and serving).

    ``architecture`` is the GGUF ``general.architecture`` or the Hugging Face ``model_type``."""
    return GEMMA_TURNS_TEMPLATE if architecture in GEMMA_ARCHITECTURES else PLAIN_TEMPLATE


# End-of-turn markers of the chat formats in use (Gemma, ChatML, Llama 3, Phi-3), looked for in a template's text.
TURN_END_MARKERS = (GEMMA_TURN_END, "<|im_end|>", "<|eot_id|>", "<|end|>")


def give_template(tokenizer: Any, architecture: str) -> None:
    """A tokenizer whose base ships no chat template gets voiced's one for the architecture, so the trainer
    and every runtime render the same prompt."""
    if not tokenizer.chat_template:
        tokenizer.chat_template = template_for_base_without_one(architecture)


def turn_end(template: str | None, eos_token: str) -> str:
    """The text of the token that ends a reply in ``template``: the trained stop, and where serving stops.

    The template's own end-of-turn marker when it writes one (a Gemma instruction model's template ends a
    turn with ``<end_of_turn>`` although its tokenizer's EOS is ``<eos>``), else the EOS text."""
    for marker in TURN_END_MARKERS:
        if template and marker in template:
            return marker
    return eos_token
