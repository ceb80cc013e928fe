"""Finding the models a writer already has, as candidates for a voice's base.

Besides the embedded model, four places are searched: Ollama's store (``$OLLAMA_MODELS``, else
``~/.ollama/models``), LM Studio's models folder (``~/.lmstudio/models``, and ``~/.cache/lm-studio/models``
of older versions), the Hugging Face hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``) and the folders named in ``[models] folders``.

Only headers are read, never weights: a GGUF's metadata and tensor table, a safetensors file's JSON header,
config.json. What cannot be read is listed with the reason; nothing here raises for a bad file. Whether
voiced can train and serve a model is decided in ``voiced.trainer.model_support``; this module only looks.

The names it gives are accepted as a voice's ``base_model`` (``voiced.models.resolve_base_model``):
``ollama:MODEL:TAG``, ``lmstudio:PUBLISHER/MODEL/FILE.gguf``, ``hf:OWNER/NAME`` (``hf:OWNER/NAME/FILE.gguf``
for a GGUF in a cached repository), and for a model in a folder of one's own, its path.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import struct
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from voiced.config import EMBEDDED_MODEL, load_config, save_config
from voiced.errors import VoicedError
from voiced.paths import Paths, get_paths

OLLAMA_PREFIX = "ollama:"
LMSTUDIO_PREFIX = "lmstudio:"
HF_PREFIX = "hf:"
STORE_PREFIXES = (OLLAMA_PREFIX, LMSTUDIO_PREFIX, HF_PREFIX)
SOURCES = ("embedded", "ollama", "lmstudio", "hf-cache", "folder")
FOLDER_DEPTH = 4  # how deep a folder is searched: LM Studio's publisher/model/file is two levels
_OLLAMA_DEFAULT_NAMESPACE = "library"  # Ollama leaves it out of a model's name
_SPLIT_PART = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")  # llama.cpp's gguf-split naming


@dataclass(frozen=True)
class Candidate:
    """A model found in a store, before its headers are read."""

    name: str  # what `voiced models` prints and `base_model` accepts
    source: str  # one of SOURCES
    path: Path  # the GGUF file, or the Hugging Face folder
    format: str  # "gguf" or "hf"
    problem: str | None = None  # why it is unusable, found while looking (e.g. a manifest naming no model)

    @property
    def kind(self) -> str:
        """The ``voiced.models.BaseModelRef`` kind it resolves to."""
        return "gguf" if self.format == "gguf" else "hf_dir"


@dataclass(frozen=True)
class FoundModel:
    """A candidate and what its headers say. ``problem`` says why it cannot be read; then the rest is partial."""

    name: str
    source: str
    path: str
    format: str
    size_bytes: int
    architecture: str | None = None
    parameters: int | None = None
    quantization: str | None = None  # e.g. "Q4_K_M", "BF16", "gptq 4-bit"
    chat_template: bool = False
    tensor_types: tuple[str, ...] = ()  # a GGUF's tensor types, which the trainer must be able to dequantise
    quantization_method: str | None = None  # a Hugging Face folder's quantization_config or MLX quantisation
    model_classes: tuple[str, ...] = ()  # a Hugging Face folder's config.json "architectures"
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tensor_types"] = list(self.tensor_types)
        data["model_classes"] = list(self.model_classes)
        return data


# ---------------------------------------------------------------- where the stores are


def ollama_root() -> Path:
    """Ollama's model store: ``$OLLAMA_MODELS``, else ``~/.ollama/models``."""
    configured = os.environ.get("OLLAMA_MODELS")
    return Path(configured).expanduser() if configured else Path.home() / ".ollama" / "models"


def lmstudio_roots() -> list[Path]:
    """LM Studio's models folders: the current one, then the one older versions used."""
    home = Path.home()
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache: where `voiced models pull` downloads to (``voiced.model_pull``), so a
    model it fetched is listed. Imported here, not above: its network client is not needed to list."""
    from voiced.model_pull import hub_cache_dir

    return hub_cache_dir()


# ---------------------------------------------------------------- finding candidates


def find_candidates(folders: Sequence[str] = ()) -> list[Candidate]:
    """Every candidate base on this machine: the embedded model, the stores, then ``folders``."""
    found = _embedded()
    found += ollama_candidates(ollama_root())
    for root in lmstudio_roots():
        found += [_named(LMSTUDIO_PREFIX, root, path, kind, "lmstudio") for path, kind in models_under(root)]
    found += hf_cache_candidates(hf_hub_cache())
    for folder in folders:
        root = Path(folder).expanduser()
        found += [Candidate(str(path), "folder", path, kind) for path, kind in models_under(root)]
    return found


def _embedded() -> list[Candidate]:
    from voiced.models import ModelNotFound, embedded_model_path

    try:
        return [Candidate(EMBEDDED_MODEL, "embedded", embedded_model_path(), "gguf")]
    except ModelNotFound as exc:
        return [Candidate(EMBEDDED_MODEL, "embedded", Path(), "gguf", problem=exc.message)]


def _named(prefix: str, root: Path, path: Path, kind: str, source: str) -> Candidate:
    return Candidate(prefix + path.relative_to(root).as_posix(), source, path, kind)


def models_under(root: Path, depth: int = FOLDER_DEPTH) -> Iterator[tuple[Path, str]]:
    """GGUF files and Hugging Face folders under ``root`` (or ``root`` itself), as (path, "gguf" | "hf").

    At most ``depth`` levels down; hidden folders and symbolic links to folders are not followed. A folder
    with config.json and weights is a model (pickled weights too, so the listing can say why not); only the
    first part of a split GGUF is listed.
    """
    if root.is_file():
        if root.suffix == ".gguf":
            yield root, "gguf"
        return
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        level = len(here.relative_to(root).parts)
        dirnames[:] = sorted(name for name in dirnames if not name.startswith(".")) if level < depth else []
        names = set(filenames)
        if "config.json" in names and any(name.endswith((".safetensors", ".bin")) for name in names):
            yield here, "hf"
        for name in sorted(names):
            part = _SPLIT_PART.search(name)
            if name.endswith(".gguf") and not name.startswith(".") and (part is None or int(part[1]) == 1):
                yield here / name, "gguf"


def ollama_candidates(root: Path) -> list[Candidate]:
    """The models in an Ollama store: one per manifest at ``manifests/HOST/NAMESPACE/MODEL/TAG``.

    A model is named ``MODEL:TAG``, with ``NAMESPACE/`` in front unless it is Ollama's default namespace, and
    ``HOST/`` in front only where two hosts hold the same name.
    """
    return [candidate for candidate, _aliases in _ollama_entries(root)]


def _ollama_entries(root: Path) -> list[tuple[Candidate, set[str]]]:
    """Each Ollama model with every name it answers to."""
    manifests = root / "manifests"
    if not manifests.is_dir():
        return []
    entries: list[tuple[tuple[str, ...], Path]] = []
    for dirpath, _dirnames, filenames in os.walk(manifests):
        for filename in filenames:
            if not filename.startswith("."):
                path = Path(dirpath) / filename
                entries.append((path.relative_to(manifests).parts, path))
    shorts = Counter(_ollama_short(parts) for parts, _ in entries if len(parts) == 4)
    found = []
    for parts, path in sorted(entries):
        if len(parts) != 4:
            where = "/".join(parts)
            misplaced = f"{where} is not at HOST/NAMESPACE/MODEL/TAG in Ollama's manifests"
            found.append((Candidate(OLLAMA_PREFIX + where, "ollama", path, "gguf", problem=misplaced), {where}))
            continue
        short = _ollama_short(parts)
        name = short if shorts[short] == 1 else _ollama_full(parts)
        blob, problem = _read_ollama_manifest(path, root)
        found.append((Candidate(OLLAMA_PREFIX + name, "ollama", blob or path, "gguf", problem), _ollama_aliases(parts)))
    return found


def _ollama_short(parts: Sequence[str]) -> str:
    _host, namespace, model, tag = parts
    return f"{model}:{tag}" if namespace == _OLLAMA_DEFAULT_NAMESPACE else f"{namespace}/{model}:{tag}"


def _ollama_full(parts: Sequence[str]) -> str:
    host, namespace, model, tag = parts
    return f"{host}/{namespace}/{model}:{tag}"


def _ollama_aliases(parts: Sequence[str]) -> set[str]:
    """Every way of writing one Ollama model's name: with or without its host and default namespace."""
    host, namespace, model, tag = parts
    names = {_ollama_full(parts), f"{namespace}/{model}:{tag}", _ollama_short(parts)}
    if namespace == _OLLAMA_DEFAULT_NAMESPACE:
        names.add(f"{host}/{model}:{tag}")
    return names


def _read_ollama_manifest(path: Path, root: Path) -> tuple[Path | None, str | None]:
    """The model blob a manifest names, and what is wrong, if anything (its other layers, such as Ollama's Go
    chat template, are Ollama's own)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"its manifest {path} is unreadable ({exc}); pull the model again with Ollama"
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        return None, f"its manifest {path} lists no layers; pull the model again with Ollama"
    media = [(str(layer.get("mediaType", "")), layer) for layer in layers if isinstance(layer, dict)]
    model = next((layer for kind, layer in media if kind.endswith(".model")), None)
    if model is None:
        return None, "its manifest names no GGUF model layer (a format voiced cannot read)"
    digest = str(model.get("digest", ""))
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return None, f"its manifest's model layer has no sha256 digest ({digest!r})"
    blob = root / "blobs" / digest.replace(":", "-")
    if not blob.is_file():
        return blob, f"its model blob {blob} is missing; pull the model again with Ollama"
    return blob, None


def hf_cache_candidates(cache: Path) -> list[Candidate]:
    """The models in a Hugging Face hub cache: each repository's snapshot of ``main`` (else its newest one)."""
    if not cache.is_dir():
        return []
    found = []
    for repo in sorted(cache.glob("models--*")):
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        snapshot = _hf_snapshot(repo)
        if snapshot is None:
            found.append(
                Candidate(HF_PREFIX + repo_id, "hf-cache", repo, "hf", problem="no downloaded snapshot in the cache")
            )
            continue
        for path, kind in models_under(snapshot):
            relative = path.relative_to(snapshot).as_posix()
            name = HF_PREFIX + repo_id + ("" if relative == "." else "/" + relative)
            found.append(Candidate(name, "hf-cache", path, kind))
    return found


def _hf_snapshot(repo: Path, revision: str | None = None) -> Path | None:
    """The snapshot ``refs/REVISION`` points at, or the commit folder of that name. Without a revision:
    ``main``'s, else the newest snapshot (a model downloaded by commit has no ref)."""
    wanted = revision or "main"
    try:
        commit = (repo / "refs" / wanted).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        commit = wanted
    snapshots = repo / "snapshots"
    if commit and (snapshots / commit).is_dir():
        return snapshots / commit
    if revision is not None:
        return None
    present = [entry for entry in snapshots.iterdir() if entry.is_dir()] if snapshots.is_dir() else []
    return max(present, key=lambda entry: entry.stat().st_mtime) if present else None


# ---------------------------------------------------------------- finding one by name


def find_in_store(name: str) -> list[Candidate]:
    """The store models a prefixed name (``ollama:``, ``lmstudio:``, ``hf:``) names: none, one, or (for an
    Ollama name held by two hosts) several. Reads no model headers."""
    if name.startswith(OLLAMA_PREFIX):
        wanted = name.removeprefix(OLLAMA_PREFIX)
        if ":" not in wanted.rsplit("/", 1)[-1]:
            wanted += ":latest"  # Ollama's default tag
        return [candidate for candidate, aliases in _ollama_entries(ollama_root()) if wanted in aliases]
    if name.startswith(LMSTUDIO_PREFIX):
        relative = name.removeprefix(LMSTUDIO_PREFIX)
        for root in lmstudio_roots():
            hits = [(path, kind) for path, kind in models_under(root / relative, depth=0) if path == root / relative]
            if hits and _inside(hits[0][0], root):
                return [_named(LMSTUDIO_PREFIX, root, *hits[0], "lmstudio")]
        return []
    if name.startswith(HF_PREFIX):
        owner, _, rest = name.removeprefix(HF_PREFIX).partition("/")
        repo_name, _, inner = rest.partition("/")
        repo_name, _, revision = repo_name.partition("@")
        repo = hf_hub_cache() / f"models--{owner}--{repo_name}"
        snapshot = _hf_snapshot(repo, revision or None) if owner and repo_name and repo.is_dir() else None
        if snapshot is None:
            return []
        target = snapshot / inner if inner else snapshot
        hits = [(path, kind) for path, kind in models_under(target, depth=0) if path == target]
        return [Candidate(name, "hf-cache", target, hits[0][1])] if hits and _inside(target, snapshot) else []
    return []


def _inside(path: Path, root: Path) -> bool:
    """``path`` lies in ``root`` once ``..`` is resolved: a name cannot reach outside its store."""
    return Path(os.path.normpath(path)).is_relative_to(os.path.normpath(root))


def gguf_alias(blob: Path) -> Path:
    """A ``.gguf``-named link to a GGUF stored under another name (an Ollama blob, ``sha256-...``).

    transformers only reads a file named ``*.gguf`` as GGUF (other names it unpickles), so the trainer is
    given this link in voiced's cache folder; llama.cpp reads either. The link is made once and reused.
    """
    folder = get_paths().ensure_private(get_paths().cache_dir / "gguf-links")
    link = folder / f"{blob.name}.gguf"
    target = blob.resolve()
    if link.is_symlink() and link.resolve() == target:
        return link
    temporary = folder / f".{link.name}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    try:
        temporary.symlink_to(target)
    except OSError:  # no symbolic links here (Windows without the privilege): a hard link needs one volume
        os.link(target, temporary)
    os.replace(temporary, link)
    return link


# ---------------------------------------------------------------- reading headers


def discover(folders: Sequence[str] = ()) -> list[FoundModel]:
    """Every candidate base with what its headers say (a bad file is listed with its problem)."""
    return [describe(candidate) for candidate in find_candidates(folders)]


def describe(candidate: Candidate) -> FoundModel:
    """Read a candidate's headers: architecture, parameters, quantisation, chat template, size."""
    base: dict[str, Any] = {"name": candidate.name, "source": candidate.source, "path": str(candidate.path)}
    if candidate.problem is not None:
        return FoundModel(**base, format=candidate.format, size_bytes=_size(candidate.path), problem=candidate.problem)
    if candidate.format == "gguf":
        return _describe_gguf(candidate, base)
    return _describe_hf(candidate.path, base)


def _size(path: Path) -> int:
    """Bytes on disk: a file's size, or the files directly in a folder (links followed, as in the HF cache)."""
    try:
        if path.is_file():
            return path.stat().st_size
        return sum(entry.stat().st_size for entry in path.iterdir() if entry.is_file()) if path.is_dir() else 0
    except OSError:
        return 0


def _describe_gguf(candidate: Candidate, base: dict[str, Any]) -> FoundModel:
    size = _size(candidate.path)
    try:
        header = read_gguf_header(candidate.path)
    except GGUFHeaderError as exc:
        return FoundModel(**base, format="gguf", size_bytes=size, problem=str(exc))
    metadata = header.metadata
    architecture = metadata.get("general.architecture")
    # The GGUF's own template only: an Ollama template layer is a Go template for Ollama, which voiced never
    # reads (a GGUF without one trains and serves with voiced's format for a base without a template).
    template = bool(metadata.get("tokenizer.chat_template"))
    parameters = metadata.get("general.parameter_count")
    problem = None
    split = metadata.get("split.count")
    if isinstance(split, int) and split > 1:
        problem = (
            f"part 1 of a GGUF split in {split} files; voiced needs the model in one file: merge the parts "
            "with llama.cpp's `llama-gguf-split --merge`"
        )
    elif metadata.get("general.type") == "adapter":
        problem = "a LoRA adapter, not a model"
    elif not isinstance(architecture, str) or not architecture:
        problem = "no general.architecture: not a model GGUF"
    elif header.data_end > size:
        problem = f"truncated: its tensors need {header.data_end} bytes but the file has {size}; download it again"
    return FoundModel(
        **base,
        format="gguf",
        size_bytes=size,
        architecture=architecture if isinstance(architecture, str) else None,
        parameters=parameters if isinstance(parameters, int) and parameters > 0 else header.parameters,
        quantization=_gguf_quantization(metadata.get("general.file_type"), header.bytes_by_type),
        chat_template=template,
        tensor_types=tuple(sorted(header.bytes_by_type)),
        problem=problem,
    )


def _gguf_quantization(file_type: Any, bytes_by_type: dict[str, int]) -> str | None:
    """llama.cpp's name for the file type (``general.file_type``: MOSTLY_Q4_K_M is Q4_K_M), else the tensor
    type holding the most bytes."""
    from gguf import LlamaFileType

    if isinstance(file_type, int):
        try:
            name = LlamaFileType(file_type).name
        except ValueError:
            name = "GUESSED"
        if name != "GUESSED":
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
    return max(bytes_by_type, key=lambda kind: bytes_by_type[kind]) if bytes_by_type else None


def _describe_hf(folder: Path, base: dict[str, Any]) -> FoundModel:
    size = _size(folder)

    def partial(problem: str, **known: Any) -> FoundModel:
        return FoundModel(**base, format="hf", size_bytes=size, problem=problem, **known)

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return partial(f"its config.json is unreadable ({exc})")
    architecture = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    method = _hf_quantization_method(config)
    template = _hf_chat_template(folder)
    weights = _weight_files(folder)
    classes = config.get("architectures")
    known: dict[str, Any] = {
        "architecture": architecture,
        "chat_template": template,
        "quantization_method": method,
        "model_classes": tuple(map(str, classes)) if isinstance(classes, list) else (),
    }
    if not weights:
        return partial("no *.safetensors weights (voiced never loads pickled checkpoints)", **known)
    absent = sorted(name for name in _indexed_shards(folder) if not (folder / name).is_file())
    if absent:  # a download cut off midway: training would fail inside transformers
        return partial(
            f"incomplete: {len(absent)} of the shards its index names are missing ({absent[0]}, ...); "
            "download it again (`voiced models pull` resumes)",
            **known,
        )
    parameters = 0
    elements_by_dtype: Counter[str] = Counter()
    for weights_file in weights:
        try:
            for dtype, elements in _safetensors_elements(weights_file):
                parameters += elements
                elements_by_dtype[dtype] += elements
        except (OSError, ValueError) as exc:
            return partial(f"{weights_file.name} is unreadable or truncated ({exc}); download it again", **known)
    dominant = elements_by_dtype.most_common(1)[0][0] if elements_by_dtype else None
    return FoundModel(
        **base,
        format="hf",
        size_bytes=size,
        parameters=parameters or None,
        quantization=method or dominant or _config_dtype(config),
        **known,
    )


def _weight_files(folder: Path) -> list[Path]:
    """The safetensors files transformers loads: those the index names when there is one (a repository may
    also hold a consolidated copy of the same weights), else all of them."""
    return sorted(folder / name for name in _indexed_shards(folder)) or sorted(folder.glob("*.safetensors"))


def _indexed_shards(folder: Path) -> set[str]:
    """The shard names ``model.safetensors.index.json`` maps the weights to; empty without a readable index."""
    try:
        index = json.loads((folder / "model.safetensors.index.json").read_text(encoding="utf-8"))
        return {str(name) for name in index["weight_map"].values()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return set()


def _safetensors_elements(path: Path) -> Iterator[tuple[str, int]]:
    """(dtype, element count) of every tensor in a safetensors file, from its header alone."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            for key in handle.keys():
                piece = handle.get_slice(key)
                elements = 1
                for dimension in piece.get_shape():
                    elements *= int(dimension)
                yield str(piece.get_dtype()), elements
    except SafetensorError as exc:
        raise ValueError(str(exc)) from exc


def _hf_quantization_method(config: dict[str, Any]) -> str | None:
    """How a folder's weights are quantised: transformers' ``quantization_config``, or MLX's ``quantization``."""
    quantized = config.get("quantization_config")
    if isinstance(quantized, dict):
        method = str(quantized.get("quant_method") or "quantized")
        bits = quantized.get("bits") or (
            4 if quantized.get("load_in_4bit") else 8 if quantized.get("load_in_8bit") else None
        )
        return f"{method} {bits}-bit" if bits else method
    mlx = config.get("quantization")
    if isinstance(mlx, dict):
        return f"mlx {mlx.get('bits', '?')}-bit"
    return None


def _config_dtype(config: dict[str, Any]) -> str | None:
    dtype = config.get("torch_dtype") or config.get("dtype")
    return str(dtype) if dtype else None


def _hf_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(tokenizer_config, dict) and bool(tokenizer_config.get("chat_template"))


# ---------------------------------------------------------------- GGUF headers, quickly


class GGUFHeaderError(VoicedError, ValueError):
    """A file whose GGUF header cannot be read; the message says why (the listing shows it as the reason)."""

    default_fix = "Re-download the model, or remove the damaged file."


@dataclass
class GGUFHeader:
    """A GGUF's metadata (arrays by length only), its tensors' element count and bytes per tensor type,
    and where the last tensor's data ends (beyond the file's size: the file is truncated)."""

    metadata: dict[str, Any] = field(default_factory=dict)
    parameters: int = 0
    bytes_by_type: dict[str, int] = field(default_factory=dict)
    data_end: int = 0


_SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
_LIMIT = 1 << 40  # a count above this is garbage, not a model


def read_gguf_header(path: Path) -> GGUFHeader:
    """Read a GGUF's header without its vocabulary or weights.

    gguf.GGUFReader builds an object for every vocabulary string (1.9 s for the embedded model's 49k
    tokens, measured); listing models needs the scalars and the tensor table, so arrays are stepped over.
    The layout (magic, version, counts, key/values, tensor infos, aligned data) is gguf's own.
    """
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
            return _parse_gguf(buffer)
    except (OSError, ValueError, struct.error, UnicodeDecodeError, OverflowError) as exc:
        if isinstance(exc, GGUFHeaderError):
            raise
        raise GGUFHeaderError(f"not a readable GGUF file ({exc})") from exc


def _parse_gguf(buffer: mmap.mmap) -> GGUFHeader:
    from gguf import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGMLQuantizationType

    if len(buffer) < 24 or struct.unpack_from("<I", buffer, 0)[0] != GGUF_MAGIC:
        raise GGUFHeaderError("not a GGUF file (no GGUF magic number at its start)")
    order = "<" if struct.unpack_from("<I", buffer, 4)[0] & 0xFFFF else ">"  # a big-endian file reads 0x03000000
    offset = 8

    def take(fmt: str) -> Any:
        nonlocal offset
        (value,) = struct.unpack_from(order + fmt, buffer, offset)
        offset += struct.calcsize(fmt)
        return value

    def count() -> int:
        value = take("Q")
        if value > _LIMIT:
            raise GGUFHeaderError(f"a count of {value} at byte {offset - 8}: the header is damaged")
        return value

    def string() -> str:
        nonlocal offset
        length = count()
        if offset + length > len(buffer):
            raise GGUFHeaderError("truncated inside its header")
        text = bytes(buffer[offset : offset + length]).decode("utf-8")
        offset += length
        return text

    def value(kind: int) -> Any:
        nonlocal offset
        if kind in _SCALAR_FORMATS:
            return take(_SCALAR_FORMATS[kind])
        if kind == _STRING:
            return string()
        if kind == _ARRAY:
            item, items = take("I"), count()
            if item in _SCALAR_FORMATS:
                offset += items * struct.calcsize(_SCALAR_FORMATS[item])
            elif item == _STRING:  # the vocabulary and merges: hundreds of thousands, stepped over in one loop
                length_at = struct.Struct(order + "Q").unpack_from
                for _ in range(items):
                    offset += 8 + length_at(buffer, offset)[0]
            else:
                for _ in range(items):
                    value(item)
            return items  # an array is kept by its length: the vocabulary is not needed here
        raise GGUFHeaderError(f"unknown metadata type {kind} at byte {offset - 4}")

    header = GGUFHeader()
    tensors, keys = count(), count()
    for _ in range(keys):
        key = string()
        header.metadata[key] = value(take("I"))
    tensor_ends = []
    for _ in range(tensors):
        string()  # the tensor's name
        elements = 1
        for _ in range(take("I")):
            elements *= count()
        kind, start = take("I"), take("Q")
        try:
            block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
            type_name = GGMLQuantizationType(kind).name
        except (ValueError, KeyError) as exc:
            raise GGUFHeaderError(f"unknown tensor type {kind}") from exc
        size = elements // block * block_bytes
        header.parameters += elements
        header.bytes_by_type[type_name] = header.bytes_by_type.get(type_name, 0) + size
        tensor_ends.append(start + size)
    alignment = header.metadata.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    alignment = alignment if isinstance(alignment, int) and alignment > 0 else GGUF_DEFAULT_ALIGNMENT
    data_start = -(-offset // alignment) * alignment
    header.data_end = data_start + max(tensor_ends, default=0)
    return header


# ---------------------------------------------------------------- a voice's base


@dataclass(frozen=True)
class BaseChange:
    """What `voiced models use` changed: the voice's base before and after, and the adapters that now
    belong to another base, as (version, the base it was trained on, whether it is the active one)."""

    voice: str
    previous: str
    base_model: str
    kind: str
    location: str
    other_bases: list[tuple[int, str, bool]]


def search_places(folders: Sequence[str] = ()) -> list[tuple[str, Path]]:
    """Where :func:`find_candidates` looks, for the listing to say: (source, folder)."""
    places = [("ollama", ollama_root())] + [("lmstudio", root) for root in lmstudio_roots()]
    return places + [("hf-cache", hf_hub_cache())] + [("folder", Path(folder).expanduser()) for folder in folders]


def set_base_model(spec: str, voice: str | None = None, paths: Paths | None = None) -> BaseChange:
    """Make ``spec`` the base of ``voice`` (the first voice when None) once it resolves to a model here.

    The next training run of the voice uses it; adapters trained before stay in the registry and are
    reported here when they were trained on another base.
    """
    from voiced.models import resolve_base_model

    ref = resolve_base_model(spec)
    config = load_config(paths)
    chosen = config.voice(voice)
    previous = chosen.base_model
    chosen.base_model = spec
    save_config(config, paths)
    return BaseChange(
        chosen.name, previous, spec, ref.kind, ref.location, _trained_on_other_bases(chosen.name, spec, paths)
    )


def _trained_on_other_bases(voice: str, spec: str, paths: Paths | None) -> list[tuple[int, str, bool]]:
    from voiced.models import same_base
    from voiced.registry import Registry

    if not ((paths or get_paths()).adapters_dir / voice).is_dir():
        return []  # never trained: nothing to open (opening would create the folders)
    registry = Registry.open(voice, paths, recover=False)
    return [
        (version.number, version.manifest.base_model.id, version.is_active)
        for version in registry.versions()
        if version.status not in ("failed", "training")
        and version.manifest.base_model.id
        and not same_base(version.manifest.base_model.id, spec)
    ]
