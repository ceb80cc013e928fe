"""The training loss on response tokens, with the LM head applied only where a label is predicted.

A causal LM's forward applies its head (hidden size -> vocabulary: 576 x 49,152
for SmolLM2) at every position, and the backward goes through it again, yet the
loss reads only the positions whose next token is a label. In a rewrite example
about half the tokens are the prompt (system prompt, instruction, rough draft),
so that work is thrown away. Running the decoder, keeping the labelled
positions and applying the head there gives the same value as
``model(**batch).loss`` (the mean cross-entropy over labelled tokens) for less.

The head and the cross-entropy run in chunks of labelled positions
(:func:`chunked_head_loss`): for each chunk the logits, their softmax and the
gradient they send back are computed in the forward pass and dropped, so the
(labelled tokens x vocabulary) float32 logits and their gradient never exist
at once; at batch 4 x 512 tokens with a 49k vocabulary they were about 1.2 GB.
The gradient the head sends back is exact (softmax minus the one-hot target,
as PyTorch's cross-entropy computes it), so nothing is recomputed and the
value and the gradients equal the unchunked loss's to float rounding.

Only for architectures whose logits are the plain head of the last hidden state;
others (Gemma's soft-capping, Cohere's and Granite's logit scaling) keep the
model's own loss, since their forward does more than the head.
"""

from __future__ import annotations

import functools
from typing import Any

from voiced.trainer.tokenize import IGNORE_INDEX

# Rows of the float32 logits per chunk: 64 MiB of them (341 rows for SmolLM2's 49,152 words).
CHUNK_BYTES = 64 << 20

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


def response_loss(model: Any, inputs: dict[str, Any], *, chunk_rows: int | None = None) -> Any:
    """Mean cross-entropy over the labelled (response) tokens of a batch of model inputs with ``labels``.

    Equal to ``model(**inputs).loss`` (transformers shifts the labels the same way); the head runs only
    on the positions that predict a label when the model has a plain head, in chunks of ``chunk_rows``
    positions (default: :data:`CHUNK_BYTES` of float32 logits).
    """
    if not has_plain_head(model):
        return model(**inputs).loss
    inner = causal_lm(model)
    labels = inputs["labels"]
    forward = {name: value for name, value in inputs.items() if name != "labels"}
    hidden = inner.model(**forward).last_hidden_state
    targets = labels[:, 1:]
    predicts_label = targets != IGNORE_INDEX
    head = inner.lm_head
    if getattr(head, "bias", None) is not None or not hasattr(head, "weight"):
        import torch

        logits = head(hidden[:, :-1][predicts_label])
        return torch.nn.functional.cross_entropy(logits.float(), targets[predicts_label])
    return chunked_head_loss(hidden[:, :-1][predicts_label], head.weight, targets[predicts_label], chunk_rows)


def default_chunk_rows(vocabulary: int) -> int:
    return max(16, CHUNK_BYTES // (4 * max(1, vocabulary)))


def chunked_head_loss(hidden: Any, weight: Any, targets: Any, chunk_rows: int | None = None) -> Any:
    """``cross_entropy(hidden @ weight.T, targets)`` (the mean, float32), computed ``chunk_rows`` rows at a
    time; under autocast the products run in the autocast dtype, as ``torch.nn.Linear``'s would."""
    import torch

    rows = chunk_rows or default_chunk_rows(int(weight.shape[0]))
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _chunked_head_loss_function().apply(hidden, weight, targets, rows)
    with torch.no_grad():
        loss, _, _ = _chunks(hidden, weight, targets, rows, want_hidden=False, want_weight=False)
    return loss


def _compute_dtype(tensor: Any) -> Any:
    import torch

    device = tensor.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else tensor.dtype


def _chunks(hidden: Any, weight: Any, targets: Any, rows: int, *, want_hidden: bool, want_weight: bool) -> Any:
    """(mean loss, its gradient for hidden or None, for weight or None), one chunk of logits at a time.

    Each chunk is what ``cross_entropy(linear(hidden, weight).float(), targets)`` computes: log-softmax
    in float32, and as its gradient for the logits softmax / n minus one_hot / n, in the same operations
    as PyTorch's backward of it, so the results agree to the last bits, not just to float32 accuracy.
    """
    import torch

    dtype = _compute_dtype(hidden)
    count = max(1, int(targets.numel()))
    with torch.autocast(hidden.device.type, enabled=False):
        w = weight.to(dtype)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if want_weight else None
        for start in range(0, int(hidden.shape[0]), rows):
            h = hidden[start : start + rows].to(dtype)
            t = targets[start : start + rows]
            log_probs = torch.log_softmax((h @ w.T).float(), dim=-1)
            total -= log_probs.gather(1, t[:, None]).sum()
            if not (want_hidden or want_weight):
                continue
            grad_logits = log_probs.exp_().mul_(1.0 / count)
            grad_logits[torch.arange(len(t), device=t.device), t] -= 1.0 / count
            g = grad_logits.to(dtype)
            del log_probs, grad_logits
            if grad_hidden is not None:
                grad_hidden[start : start + rows] = (g @ w).to(hidden.dtype)
            if grad_weight is not None:
                grad_weight += (g.T @ h).float()
    return total / count, grad_hidden, grad_weight


@functools.cache
def _chunked_head_loss_function() -> Any:
    """The chunked loss as one autograd node (a class made on first use, so importing this module does not
    import torch): the forward computes the gradients too, since the loss is a scalar and the backward only
    scales them by its incoming gradient."""
    import torch

    class ChunkedHeadLoss(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, hidden: Any, weight: Any, targets: Any, rows: int) -> Any:
            want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
            loss, grad_hidden, grad_weight = _chunks(
                hidden, weight, targets, rows, want_hidden=want_hidden, want_weight=want_weight
            )
            ctx.weight_dtype, ctx.grad_hidden, ctx.grad_weight = weight.dtype, grad_hidden, grad_weight
            return loss

        @staticmethod
        def backward(ctx: Any, grad_output: Any) -> Any:
            # loss.backward() sends 1: the gradients computed in the forward pass are the answer as they are
            unit = bool((grad_output == 1).all())
            grad_hidden, grad_weight = ctx.grad_hidden, ctx.grad_weight
            if not unit:
                grad_hidden = None if grad_hidden is None else grad_hidden * grad_output.to(grad_hidden.dtype)
                grad_weight = None if grad_weight is None else grad_weight * grad_output
            if grad_weight is not None:
                grad_weight = grad_weight.to(ctx.weight_dtype)
            return grad_hidden, grad_weight, None, None

    return ChunkedHeadLoss
