"""A chat turn's prompt tokens, made exactly as llama-cpp-python's ``create_chat_completion`` makes them.

The batcher decodes token ids, not messages, so the prompt is rendered here with llama-cpp-python's own
chat formatter (``Jinja2ChatFormatter`` over the GGUF's ``tokenizer.chat_template``, with the model's
BOS and EOS texts: what ``Llama`` registers as ``chat_template.default``; a GGUF without a template gets
the formatter of the format ``Llama`` chose, llama-2 by default) and tokenized with special tokens and
no extra BOS, as its chat handler does; the formatter's stop texts end the reply as they end
its. Nothing about templates is re-implemented.
"""

from __future__ import annotations

from typing import Any


class ChatPrompt:
    """Renders and tokenizes chat messages for one loaded ``llama_cpp.Llama``."""

    def __init__(self, llm: Any) -> None:
        from llama_cpp import llama_chat_format

        self._llm = llm
        self._formatter: Any
        template = llm.metadata.get("tokenizer.chat_template")
        if template:

            def text_of(token: int) -> str:
                return llm._model.token_get_text(token) if token != -1 else ""

            eos = llm.token_eos()
            self._formatter = llama_chat_format.Jinja2ChatFormatter(
                template=template, eos_token=text_of(eos), bos_token=text_of(llm.token_bos()), stop_token_ids=[eos]
            )
        else:
            name = (llm.chat_format or "llama-2").replace("-", "")
            self._formatter = getattr(llama_chat_format, f"format_{name}", llama_chat_format.format_llama2)

    def render(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """The prompt's tokens, and the texts that end the reply (the format's end-of-turn text)."""
        result = self._formatter(messages=messages)
        tokens = self._llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, [s for s in stop if s]
