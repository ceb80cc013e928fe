"""Cheap structural checks of adapter files, so a damaged one is named before a runtime loads it.

Each check opens only headers and tensor shapes (GGUF metadata through the
``gguf`` reader, safetensors headers through ``safe_open``), which costs
milliseconds, so the daemon can run it at every load and the trainer after
every write. A failed check raises :class:`AdapterDamaged` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"
MLX_WEIGHTS = "adapters.safetensors"
MLX_CONFIG = "adapter_config.json"


class AdapterDamaged(Exception):
    """An adapter file that is missing or unreadable; ``path`` is the broken file."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def check_gguf_lora(path: Path) -> None:
    """A llama.cpp LoRA: a GGUF with general.type "adapter" and paired, non-empty lora_a/lora_b tensors."""
    import gguf

    path = Path(path)
    if not path.is_file():
        raise AdapterDamaged(path, "the file is missing")
    try:
        reader = gguf.GGUFReader(str(path))
        kind = _gguf_string(reader, "general.type")
        tensors = {t.name: int(t.n_elements) for t in reader.tensors}
    except Exception as exc:  # the reader raises ValueError, struct errors, IndexError... on garbage
        raise AdapterDamaged(path, f"not a readable GGUF file ({type(exc).__name__}: {exc})") from None
    if kind != "adapter":
        raise AdapterDamaged(path, f"general.type is {kind!r}, not 'adapter'")
    _check_pairs(path, tensors, ".lora_a", ".lora_b")


def _gguf_string(reader, key: str) -> str | None:
    field = reader.get_field(key)
    if field is None:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")


def check_peft_folder(folder: Path) -> None:
    """A PEFT LoRA: adapter_config.json parses and the safetensors hold paired, non-empty lora_A/lora_B."""
    folder = Path(folder)
    _check_config(folder / PEFT_CONFIG)
    tensors = _safetensors_shapes(folder / PEFT_WEIGHTS)
    _check_pairs(folder / PEFT_WEIGHTS, tensors, ".lora_A", ".lora_B")


def check_mlx_folder(folder: Path) -> None:
    """An mlx-lm LoRA: adapter_config.json parses and adapters.safetensors holds paired lora_a/lora_b."""
    folder = Path(folder)
    _check_config(folder / MLX_CONFIG)
    tensors = _safetensors_shapes(folder / MLX_WEIGHTS)
    _check_pairs(folder / MLX_WEIGHTS, tensors, ".lora_a", ".lora_b")


def _check_config(path: Path) -> None:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterDamaged(path, "the file is missing") from None
    except (OSError, ValueError) as exc:
        raise AdapterDamaged(path, f"not readable JSON ({exc})") from None
    if not isinstance(config, dict):
        raise AdapterDamaged(path, "not a JSON object")


def _safetensors_shapes(path: Path) -> dict[str, int]:
    """Tensor name -> element count, from the header alone (safe_open also checks the file's length)."""
    from safetensors import safe_open

    if not path.is_file():
        raise AdapterDamaged(path, "the file is missing")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            shapes = {}
            for key in handle.keys():
                size = 1
                for n in handle.get_slice(key).get_shape():
                    size *= int(n)
                shapes[key] = size
            return shapes
    except Exception as exc:  # SafetensorError, OSError, ValueError on a damaged header
        raise AdapterDamaged(path, f"not a readable safetensors file ({type(exc).__name__}: {exc})") from None


def _check_pairs(path: Path, tensors: dict[str, int], a_marker: str, b_marker: str) -> None:
    """Every A has its B (and back), none is empty, and there is at least one pair."""
    a_names = {name.replace(a_marker, "\0", 1) for name in tensors if a_marker in name}
    b_names = {name.replace(b_marker, "\0", 1) for name in tensors if b_marker in name}
    if not a_names:
        raise AdapterDamaged(path, f"holds no LoRA tensors (no *{a_marker}*)")
    unpaired = sorted(a_names ^ b_names)
    if unpaired:
        raise AdapterDamaged(path, f"a LoRA tensor lacks its partner ({unpaired[0].replace(chr(0), '.lora_?')})")
    empty = sorted(name for name, size in tensors.items() if size == 0 and (a_marker in name or b_marker in name))
    if empty:
        raise AdapterDamaged(path, f"the tensor {empty[0]} is empty")
