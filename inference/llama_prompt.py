"""A chat turn's prompt tokens, made exactly as llama-cpp-python's ``create_chat_completion`` makes them.

The batcher decodes token ids, not messages, so the prompt is rendered here with llama-cpp-python's own
chat formatter (``Jinja2ChatFormatter`` over the GGUF's ``tokenizer.chat_template``, with the model's
BOS and EOS texts: what ``Llama`` registers as ``chat_template.default``) and tokenized with special
tokens and no extra BOS, as its chat handler does; the formatter's stop texts end the reply as they end
its. A GGUF without a template gets voiced's template for its architecture
(:func:`voiced.prompts.template_for_base_without_one`), the one the trainer trained it with, not
llama-cpp-python's llama-2 guess. Nothing about templates is re-implemented.
"""

from __future__ import annotations

from typing import Any

from voiced.prompts import template_for_base_without_one, turn_end


class ChatPrompt:
    """Renders and tokenizes chat messages for one loaded ``llama_cpp.Llama``."""

    def __init__(self, llm: Any) -> None:
        from llama_cpp import llama_chat_format

        self._llm = llm
        template = llm.metadata.get("tokenizer.chat_template") or template_for_base_without_one(
            llm.metadata.get("general.architecture", "")
        )

        def text_of(token: int) -> str:
            return llm._model.token_get_text(token) if token != -1 else ""

        eos = llm.token_eos()
        self.end = turn_end(template, text_of(eos))  # the text of the token that ends a reply
        self._formatter: Any = llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=text_of(eos), bos_token=text_of(llm.token_bos()), stop_token_ids=[eos]
        )

    def render(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """The prompt's tokens, and the texts that end the reply (the format's end-of-turn text)."""
        result = self._formatter(messages=messages)
        tokens = self._llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, [s for s in dict.fromkeys([*stop, self.end]) if s]
