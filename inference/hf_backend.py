"""Non-GGUF bases: transformers + PEFT on CPU/CUDA, and mlx-lm on Apple Silicon.

Each backend is handed the artifact the registry keeps for its runtime: the
transformers backend the version's PEFT folder (the source of truth:
``adapter_config.json`` + ``adapter_model.safetensors``; only safetensors are
ever loaded), mlx-lm the version's MLX adapter folder. For callers that name
a file, the folder holding it is taken. Swapping unloads the old LoRA layers
and loads the new ones onto the same base weights.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from voiced.inference.generation import GenerationParams, ModelLoadError


def adapter_folder(adapter: Path | None, weights: str) -> Path | None:
    """The adapter folder for an artifact path (the folder itself, or the folder holding a file), checked
    to hold ``adapter_config.json`` and the safetensors ``weights`` (never a pickle)."""
    if adapter is None:
        return None
    adapter = Path(adapter)
    folder = adapter if adapter.is_dir() else adapter.parent
    for name in ("adapter_config.json", weights):
        if not (folder / name).is_file():
            raise ModelLoadError(
                f"No adapter {name} in {folder}.",
                fix="Retrain the voice, or activate a complete version (`voiced adapters list`).",
            )
    return folder


class TransformersBackend:
    """A Hugging Face base (local folder or hub id) with a PEFT adapter, decoded token by token."""

    kind = runtime = "transformers"  # loads a version's PEFT folder

    def __init__(self, model: str, *, n_ctx: int, n_threads: int | None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if n_threads:
            torch.set_num_threads(n_threads)
        self._torch = torch
        self.base_path = Path(model)
        self.adapter_path: Path | None = None
        self.n_ctx = n_ctx
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.base = AutoModelForCausalLM.from_pretrained(model, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"transformers could not load the base model {model}: {exc}",
                fix="Check `base_model` of the voice: a folder with config.json and "
                "safetensors weights, or a model id reachable from this machine.",
            ) from exc
        self.base.eval()
        self.model = self.base
        self._swaps = 0

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self._prompt_ids(messages))

    def _prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)

    def set_adapter(self, adapter: Path | None) -> None:
        """Load the new LoRA beside the old one, switch to it, then drop the old (which stays on failure)."""
        from peft import PeftModel

        folder = adapter_folder(adapter, "adapter_model.safetensors")
        if folder is None:
            if self.model is not self.base:
                self.base = self.model.unload()  # removes the LoRA layers, base weights untouched
                self.model = self.base
            self.adapter_path = None
            return
        self._swaps += 1
        name = f"v{self._swaps}"
        try:
            if self.model is self.base:
                # adapter_folder checked that adapter_model.safetensors is there: PEFT then reads it, never a .bin
                self.model = PeftModel.from_pretrained(self.base, str(folder), adapter_name=name)
            else:
                old = self.model.active_adapter
                self.model.load_adapter(str(folder), adapter_name=name)
                self.model.set_adapter(name)
                self.model.delete_adapter(old)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelLoadError(
                f"PEFT could not load the adapter {folder}: {exc}", fix="Check that it was trained for this base model."
            ) from exc
        self.model.eval()
        self.adapter_path = adapter

    def stream_chat(
        self, messages: list[dict[str, str]], params: GenerationParams, max_tokens: int, cancel: threading.Event
    ) -> Iterator[str]:
        """Sample token by token with the tokenizer's chat template; stop at end of turn or on cancel."""
        torch = self._torch
        generator = torch.Generator().manual_seed(params.seed)
        ids = self._prompt_ids(messages)
        stop_ids = {self.tokenizer.eos_token_id, *self._end_of_turn_ids()}
        generated: list[int] = []
        emitted = ""
        past = None
        inputs = torch.tensor([ids])
        with torch.no_grad():
            for _ in range(max_tokens):
                if cancel.is_set():
                    return
                out = self.model(input_ids=inputs, past_key_values=past, use_cache=True)
                past = out.past_key_values
                token = _sample(out.logits[0, -1].float(), generated, params, generator, torch)
                if token in stop_ids:
                    return
                generated.append(token)
                text = self.tokenizer.decode(generated, skip_special_tokens=True)
                if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
                    yield text[len(emitted) :]
                    emitted = text
                inputs = torch.tensor([[token]])

    def _end_of_turn_ids(self) -> list[int]:
        ids = []
        for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
            token = self.tokenizer.convert_tokens_to_ids(marker)
            if isinstance(token, int) and token != self.tokenizer.unk_token_id:
                ids.append(token)
        return ids

    def close(self) -> None:
        self.model = self.base = None


def _sample(logits, generated: list[int], params: GenerationParams, generator, torch) -> int:
    """One token: repetition penalty, then greedy at temperature 0, else top-k/top-p sampling."""
    if params.repeat_penalty != 1.0 and generated:
        seen = torch.tensor(sorted(set(generated)))
        values = logits[seen]
        logits[seen] = torch.where(values > 0, values / params.repeat_penalty, values * params.repeat_penalty)
    if params.temperature == 0:
        return int(torch.argmax(logits))
    logits = logits / params.temperature
    if params.top_k:
        kth = torch.topk(logits, min(params.top_k, logits.numel())).values[-1]
        logits = torch.where(logits < kth, torch.full_like(logits, float("-inf")), logits)
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs > params.top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs / probs.sum(), 1, generator=generator))


class MlxBackend:
    """Apple Silicon: mlx-lm loads the base and the adapter. Untestable here; kept thin."""

    kind = runtime = "mlx"  # loads a version's MLX adapter folder (converted from PEFT at promotion)

    def __init__(self, model: str, *, n_ctx: int, n_threads: int | None) -> None:
        try:
            import mlx_lm
        except ImportError as exc:
            raise ModelLoadError("mlx-lm is not installed.", fix="pip install mlx-lm (Apple Silicon only).") from exc
        self._mlx_lm = mlx_lm
        self.base_path = Path(model)
        self.adapter_path: Path | None = None
        self.n_ctx = n_ctx
        self.model, self.tokenizer = mlx_lm.load(model)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True))

    def set_adapter(self, adapter: Path | None) -> None:
        """mlx-lm applies adapters at load time; the base is reloaded (mmapped, so cheap)."""
        folder = adapter_folder(adapter, "adapters.safetensors")
        self.model, self.tokenizer = self._mlx_lm.load(
            str(self.base_path), adapter_path=str(folder) if folder else None
        )
        self.adapter_path = adapter

    def stream_chat(
        self, messages, params: GenerationParams, max_tokens: int, cancel: threading.Event
    ) -> Iterator[str]:
        from mlx_lm.sample_utils import make_logits_processors, make_sampler

        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        sampler = make_sampler(temp=params.temperature, top_p=params.top_p, top_k=params.top_k)
        processors = make_logits_processors(repetition_penalty=params.repeat_penalty)
        for response in self._mlx_lm.stream_generate(
            self.model, self.tokenizer, prompt, max_tokens=max_tokens, sampler=sampler, logits_processors=processors
        ):
            if cancel.is_set():
                return
            if response.text:
                yield response.text

    def close(self) -> None:
        self.model = None
