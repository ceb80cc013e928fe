"""The training loss on response tokens, with the LM head applied only where a label is predicted.

A causal LM's forward applies its head (hidden size -> vocabulary: 576 x 49,152
for SmolLM2) at every position, and the backward goes through it again, yet the
loss reads only the positions whose next token is a label. In a rewrite example
about half the tokens are the prompt (system prompt, instruction, rough draft),
so that work is thrown away. Running the decoder, keeping the labelled
positions and applying the head there gives the same value as
``model(**batch).loss`` (the mean cross-entropy over labelled tokens) for less.

Only for architectures whose logits are the plain head of the last hidden state;
others (Gemma's soft-capping, Cohere's and Granite's logit scaling) keep the
model's own loss, since their forward does more than the head.
"""

from __future__ import annotations

from typing import Any

from voiced.trainer.tokenize import IGNORE_INDEX

# model_type values whose CausalLM forward is `lm_head(decoder(...).last_hidden_state)` and nothing else.
PLAIN_HEAD_MODELS = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def causal_lm(model: Any) -> Any:
    """The transformers CausalLM inside a PEFT model (its LoRA layers are in place), or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def has_plain_head(model: Any) -> bool:
    """Whether :func:`response_loss` can skip the head on unlabelled positions for this model."""
    inner = causal_lm(model)
    return (
        getattr(inner.config, "model_type", None) in PLAIN_HEAD_MODELS
        and hasattr(inner, "model")
        and getattr(inner, "lm_head", None) is not None
    )


def response_loss(model: Any, inputs: dict[str, Any]) -> Any:
    """Mean cross-entropy over the labelled (response) tokens of a batch of model inputs with ``labels``.

    Equal to ``model(**inputs).loss`` (transformers shifts the labels the same way); the head runs only
    on the positions that predict a label when the model has a plain head.
    """
    import torch

    if not has_plain_head(model):
        return model(**inputs).loss
    inner = causal_lm(model)
    labels = inputs["labels"]
    forward = {name: value for name, value in inputs.items() if name != "labels"}
    hidden = inner.model(**forward).last_hidden_state
    targets = labels[:, 1:]
    predicts_label = targets != IGNORE_INDEX
    logits = inner.lm_head(hidden[:, :-1][predicts_label])
    return torch.nn.functional.cross_entropy(logits.float(), targets[predicts_label])
