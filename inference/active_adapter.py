"""Which adapter a voice serves: the registry's active version, as each runtime loads it.

An adapter is a registry version, not a file: the llama.cpp backend loads its
GGUF LoRA, transformers its PEFT folder, mlx-lm its MLX folder
(``Version.artifact(runtime)``). Any process may change the active version
(the CLI writes the registry directly), so the engine stats the active
pointer before every request and re-reads it only when it changed: one
``os.stat`` per request (two when the active version's artifact is watched
too, so a repaired file is noticed).

A damaged artifact is never loaded: the voice is served by the base model
with a notice saying why and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voiced.models import same_base
from voiced.paths import Paths

if TYPE_CHECKING:
    from voiced.registry import Registry, Version

# Exports a version's GGUF LoRA again from its PEFT adapter and returns the new file
# (voiced.trainer.serving.rebuild_gguf); the layer that builds the engine supplies it.
Rebuild = Callable[..., Path]

REBUILD_ADVICE = (
    "Use `voiced adapters rollback`, or `voiced adapters activate N` with another version "
    "(`voiced adapters list`), or train again with `voiced train`."
)


@dataclass(frozen=True)
class Choice:
    """What a voice should serve now.

    ``version`` is the registry's active version (None: the base model);
    ``artifact`` what the backend loads for it (None: the base alone, which is
    a fallback when ``version`` is set); ``notice`` says why the base serves;
    ``repairable`` marks a damaged GGUF LoRA whose PEFT source is intact.
    """

    version: int | None
    artifact: Path | None
    notice: str | None = None
    repairable: bool = False


def stat_signature(path: Path) -> tuple[int, int, int] | None:
    """Identity of a file's current content as far as a stat can tell (rename-replaced files get a new inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class FixedSource:
    """Adapters named by a caller (tests, the evaluation): a path per voice, never re-read."""

    follows_registry = False

    def __init__(self, voice: str, resolver: Callable[[str], Path | None]) -> None:
        self.voice = voice
        self._resolver = resolver

    def changed(self) -> bool:
        return False

    def resolve(self, runtime: str) -> Choice:
        adapter = self._resolver(self.voice)
        path = Path(adapter) if adapter else None
        return Choice(version_of(path), path)

    def version(self, number: int) -> Version | None:
        return None

    def can_rebuild(self, number: int | None) -> bool:
        return False


class RegistrySource:
    """The voice's adapter registry: the active version and the artifact for the backend's runtime."""

    follows_registry = True

    def __init__(
        self, voice: str, paths: Paths | None, rebuild: Rebuild | None = None, *, base_model: str | None = None
    ) -> None:
        """``base_model``: the voice's base setting; an active version trained on another base is not applied."""
        self.voice = voice
        self.base_model = base_model
        self._paths = paths
        self._rebuild = rebuild
        self._registry: Registry | None = None
        self._watched: tuple[Path, ...] = ()
        self._seen: tuple = ()

    def registry(self):
        if self._registry is None:
            from voiced.registry import Registry

            self._registry = Registry.open(self.voice, self._paths, recover=False)
        return self._registry

    @staticmethod
    def _signature(paths: tuple[Path, ...]) -> tuple:
        return tuple(stat_signature(path) for path in paths)

    def changed(self) -> bool:
        """Whether the active pointer (or the watched artifact) changed since the last :meth:`resolve`."""
        watched, seen = self._watched, self._seen
        return not watched or self._signature(watched) != seen

    def _watch(self, *paths: Path, known: tuple = ()) -> None:
        """Record what to stat before each request. Each stat is taken before its file is read (``known``:
        those already taken), so a change made while the registry is read is seen at the next request."""
        signature = known + self._signature(paths[len(known) :])
        self._watched, self._seen = paths, signature

    def resolve(self, runtime: str) -> Choice:
        """Read the active version now; never raises: a problem becomes the base model with a notice."""
        from voiced.registry import CorruptAdapter, RegistryError

        try:
            registry = self.registry()
            self._watch(registry.pointer_path)
            version = registry.active()
        except (RegistryError, OSError) as exc:
            return Choice(
                None,
                None,
                notice=f"Cannot tell which adapter voice {self.voice!r} should use ({_said(exc)}); "
                "the base model serves it. Run `voiced adapters list`.",
            )
        if version is None:
            return Choice(None, None)
        trained_on = version.manifest.base_model.id
        if self.base_model is not None and trained_on and not same_base(trained_on, self.base_model):
            return Choice(version.number, None, notice=other_base_notice(version.number, trained_on, self))
        artifact = version.artifact(runtime)
        self._watch(
            registry.pointer_path,
            _content_file(artifact if artifact is not None else version.path),
            known=self._seen[:1],
        )
        try:
            version.validate(runtime)
        except CorruptAdapter as exc:
            repairable = runtime == "llama.cpp" and self._rebuild is not None and _peft_intact(version)
            return Choice(
                version.number,
                None,
                notice=damaged_notice(version.number, _said(exc), repairable),
                repairable=repairable,
            )
        return Choice(version.number, artifact)

    def version(self, number: int) -> Version | None:
        """The registry's version ``number`` (for a rebuild), or None when it is gone."""
        from voiced.registry import RegistryError

        try:
            return self.registry().get(number)
        except (RegistryError, OSError):
            return None

    def can_rebuild(self, number: int | None) -> bool:
        """Whether version ``number``'s GGUF LoRA can be exported again: a rebuilder was given and the
        version's PEFT source is intact."""
        version = self.version(number) if number is not None and self._rebuild is not None else None
        return version is not None and _peft_intact(version)

    def rebuild(self, version: Version, base_gguf: Path) -> Path:
        """Export ``version``'s GGUF LoRA again (the trainer's exporter, given by whoever built the engine)."""
        if self._rebuild is None:
            raise RuntimeError("this engine was built without a GGUF LoRA exporter")
        return self._rebuild(version, base_gguf)


def other_base_notice(version: int, trained_on: str, source: RegistrySource) -> str:
    """Why the base serves a voice whose active adapter was trained on another base (an adapter only fits
    the weights it was trained on; applied to others it would be noise, or refused)."""
    return (
        f"The active adapter v{version} was trained on base {trained_on!r}, but voice {source.voice!r} now uses "
        f"{source.base_model!r}; the base model serves it. Train the voice on its new base (`voiced train "
        f"{source.voice}`), or set the old base back (`voiced models use {trained_on} --voice {source.voice}`)."
    )


def _content_file(artifact: Path) -> Path:
    """The file whose replacement means new adapter weights: a folder's safetensors, not the folder (whose
    mtime also changes when the registry rewrites the manifest beside them)."""
    for name in ("adapter_model.safetensors", "adapters.safetensors"):
        if (artifact / name).exists():
            return artifact / name
    return artifact


def damaged_notice(version: int, problem: str, rebuilding: bool) -> str:
    said = f"The active adapter v{version} is damaged ({problem}); the base model serves this voice"
    if rebuilding:
        return said + " while its GGUF LoRA is rebuilt from the intact PEFT adapter."
    return f"{said}. {REBUILD_ADVICE}"


def rebuild_failed_notice(version: int, problem: str) -> str:
    return (
        f"The active adapter v{version} is damaged and its GGUF LoRA could not be rebuilt ({problem}); "
        f"the base model serves this voice. {REBUILD_ADVICE}"
    )


def unloadable_notice(version: int | None, problem: str) -> str:
    return (
        f"The active adapter v{version} could not be loaded ({problem}); the base model serves this voice. "
        f"{REBUILD_ADVICE}"
    )


def _said(exc: BaseException) -> str:
    return str(exc).split("\n")[0].rstrip(".")


def _peft_intact(version: Version) -> bool:
    from voiced.registry import CorruptAdapter

    try:
        version.validate("transformers")
    except CorruptAdapter:
        return False
    return True


def version_of(adapter: Path | None) -> int | None:
    """The registry version number from a path like .../versions/<n>/adapter.gguf (or .../versions/<n>)."""
    if adapter is None:
        return None
    parts = Path(adapter).parts
    for before, after in zip(parts, parts[1:], strict=False):
        if before == "versions" and after.isdigit():
            return int(after)
    return None
