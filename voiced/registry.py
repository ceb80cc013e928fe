"""The adapter registry: numbered versions per voice and an atomically switched active pointer.

Layout under ``adapters_dir / voice``::

    versions/<n>/ adapter_model.safetensors, adapter_config.json, adapter.gguf, manifest.json
    active.json   {"version": n | null, "history": [...previously active...], "changed": "..."}
    .tmp-*        work in progress; never visible as a version

Every write goes to a temporary name inside the registry, is fsynced, then
renamed into place, so a process killed at any moment leaves either the old
or the new state. ``Registry.open`` removes leftovers and marks versions that
were still "training" (by a process that is gone) as failed. Folders and files
are the user's alone (voiced.private_files): adapters are derived from the
writer's prose. Manifests are read as :class:`voiced.manifest.Manifest`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from voiced.errors import VoicedError
from voiced.manifest import SCHEMA, Manifest
from voiced.paths import Paths, get_paths
from voiced.private_files import make_private_dir, make_private_dirs, open_private, sync_folder, write_private

MANIFEST = "manifest.json"
ACTIVE = "active.json"
VERSIONS = "versions"
TMP_PREFIX = ".tmp-"
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
GGUF_FILE = "adapter.gguf"
MLX_DIR = "mlx"
# Runtime -> what it loads from a version, relative to the version folder ("." is the PEFT folder itself).
RUNTIMES = ("llama.cpp", "transformers", "mlx")
STATUSES = ("training", "candidate", "active", "rejected", "failed")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class RegistryError(VoicedError):
    """An expected registry problem (unknown version, refused removal), saying what to do."""


class DiskFullError(RegistryError):
    """The disk (or quota, or file size limit) ran out while writing; nothing visible was changed."""


class NotFound(RegistryError):
    """The voice has no such version (or no earlier active one to roll back to)."""


class NotUsable(RegistryError):
    """The version exists but cannot be made active (still training, or failed)."""


class CorruptAdapter(RegistryError):
    """A version's adapter file is missing or unreadable; ``path`` names the broken file."""

    def __init__(
        self,
        message: str,
        fix: str = "",
        *,
        path: Path | None = None,
        version: int | None = None,
        runtime: str | None = None,
    ) -> None:
        super().__init__(message, fix)
        self.path = path
        self.version = version
        self.runtime = runtime


def runtime_for_base(kind: str, *, apple_silicon: bool | None = None) -> str:
    """The runtime that serves a base of this kind ("gguf", "hf_dir", "hf_id"): the daemon's own choice."""
    if kind == "gguf":
        return "llama.cpp"
    if apple_silicon is None:
        import platform

        apple_silicon = platform.system() == "Darwin" and platform.machine() == "arm64"
    return "mlx" if apple_silicon else "transformers"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- private, durable writes


def _no_space(exc: OSError, where: Path) -> DiskFullError:
    return DiskFullError(
        f"The disk is full (or over quota) while writing {where} ({os.strerror(exc.errno or 0)}). "
        "Nothing was changed: the active adapter is the same.",
        "Free some space on that disk and train again.",
    )


def _write_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    """Write chunks into a private file and fsync it; a full disk becomes :class:`DiskFullError`.

    For files inside a folder that is itself renamed into place (a finished
    version), so the file needs no temporary name of its own.
    """
    try:
        fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise _no_space(exc, path) from exc
        raise


def write_private_bytes(path: Path, data: bytes) -> None:
    _write_chunks(path, [data])


def copy_private(source: Path, target: Path) -> None:
    """Copy a file in blocks (adapters can be large) into a private, fsynced file."""
    with open(source, "rb") as handle:
        _write_chunks(target, iter(lambda: handle.read(1 << 20), b""))


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace a JSON file in one step (voiced.private_files: temp file beside it, fsync, rename, fsync the
    folder); a full disk becomes :class:`DiskFullError` and leaves the old file."""
    try:
        write_private(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise _no_space(exc, path) from exc
        raise


def _leftovers(folder: Path) -> list[Path]:
    """What an interrupted write left in ``folder``: the registry's own temporary names, and
    voiced.private_files' ``.<name>.*.tmp`` beside the JSON files."""
    found = set(folder.glob(TMP_PREFIX + "*"))
    for name in (MANIFEST, ACTIVE):
        found.update(folder.glob(f".{name}.*.tmp"))
    return sorted(found)


def _write_manifest_into(folder: Path, manifest: dict[str, Any]) -> None:
    """The manifest of a version folder that is about to be renamed into place, and the folder, fsynced."""
    write_private_bytes(folder / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    sync_folder(folder)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _checked_pointer(data: Any) -> dict[str, Any]:
    """The pointer's fields, or ValueError when they are not what the registry writes."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    version, history, serial = data.get("version"), data.get("history", []), data.get("serial", 0)
    if not (version is None or (isinstance(version, int) and not isinstance(version, bool))):
        raise ValueError(f"version {version!r} is not a number")
    if not isinstance(history, list) or not all(
        h is None or (isinstance(h, int) and not isinstance(h, bool)) for h in history
    ):
        raise ValueError("history is not a list of version numbers")
    if not isinstance(serial, int):
        raise ValueError("serial is not a number")
    return {"version": version, "history": list(history), "serial": serial}


def _pid_alive(pid: Any, host: Any) -> bool:
    """Whether the process that wrote a "training" manifest still runs (on this machine)."""
    if not isinstance(pid, int) or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- the registry


@dataclass
class Version:
    """One version on disk; ``status`` shows "active" only for the version the pointer names."""

    number: int
    path: Path
    manifest: Manifest
    is_active: bool = False

    @property
    def status(self) -> str:
        return "active" if self.is_active else self.verdict

    @property
    def verdict(self) -> str:
        """What training and the gate decided (training, candidate, rejected, failed), active or not."""
        recorded = self.manifest.status
        return "candidate" if recorded == "active" else recorded  # older registries recorded "active" here

    @property
    def reason(self) -> str:
        return self.manifest.reason

    @property
    def adapter_dir(self) -> Path:
        return self.path

    @property
    def gguf_path(self) -> Path:
        return self.path / GGUF_FILE

    @property
    def artifacts(self) -> dict[str, str]:
        """Runtime -> relative path of what it loads; recorded at finish, inferred for older manifests."""
        recorded = self.manifest.artifacts
        if recorded is not None:
            return {k: v for k, v in recorded.items() if k in RUNTIMES and isinstance(v, str)}
        if self.manifest.status in ("training", "failed"):
            return {}
        found = {}
        gguf_base = self.manifest.base_model.kind == "gguf"
        if gguf_base or (self.path / GGUF_FILE).exists():
            found["llama.cpp"] = GGUF_FILE  # a GGUF base always got one: a missing file is damage
        if any((self.path / name).exists() for name in ADAPTER_FILES):
            found["transformers"] = "."
        if (self.path / MLX_DIR).is_dir():
            found["mlx"] = MLX_DIR
        return found

    def artifact(self, runtime: str) -> Path | None:
        """What ``runtime`` ("llama.cpp", "transformers", "mlx") loads for this version, or None.

        The path is returned even when the file has since gone missing, so
        :meth:`validate` can name it; None means the version never had one
        for that runtime.
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r} (expected one of {', '.join(RUNTIMES)})")
        relative = self.artifacts.get(runtime)
        if relative is None:
            return None
        return self.path if relative == "." else self.path / relative

    def validate(self, runtime: str | None = None) -> None:
        """Raise :class:`CorruptAdapter` naming the broken file when an artifact cannot be loaded.

        ``runtime`` checks what that runtime loads (a version without an
        artifact for it is refused too); None checks every recorded artifact.
        Only headers and tensor shapes are read, so this runs at every load.
        """
        from voiced.adapter_check import AdapterDamaged, check_gguf_lora, check_mlx_folder, check_peft_folder

        checks = {"llama.cpp": check_gguf_lora, "transformers": check_peft_folder, "mlx": check_mlx_folder}
        runtimes = [runtime] if runtime is not None else list(self.artifacts)
        if not runtimes:
            raise CorruptAdapter(
                f"v{self.number} has no adapter files" + (f" ({self.reason})" if self.reason else "") + ".",
                "Pick another version (`voiced adapters list`) or train again.",
                path=self.path,
                version=self.number,
            )
        for name in runtimes:
            target = self.artifact(name)
            if target is None:
                raise CorruptAdapter(
                    f"v{self.number} has no adapter for {name} (it has: {', '.join(self.artifacts) or 'none'}).",
                    "Train a new version for this base model with `voiced train`, or pick another version.",
                    path=self.path,
                    version=self.number,
                    runtime=name,
                )
            try:
                checks[name](target)
            except AdapterDamaged as exc:
                raise CorruptAdapter(
                    f"The {name} adapter of v{self.number} is damaged: {exc.path}: {exc.problem}.",
                    _repair_advice(self, name),
                    path=exc.path,
                    version=self.number,
                    runtime=name,
                ) from None


def _repair_advice(version: Version, runtime: str) -> str:
    """What really helps: a GGUF LoRA is derived data and is rebuilt from an intact PEFT source."""
    others = "`voiced adapters rollback` or `voiced adapters activate N` with another version (`voiced adapters list`)"
    if runtime == "llama.cpp":
        return (
            f"It is derived from the version's PEFT adapter: `voiced adapters activate {version.number}` "
            f"rebuilds it when that is intact (a running daemon does so by itself). Otherwise use {others}, "
            "or train again."
        )
    if runtime == "mlx":
        return f"Use {others}, or train again."
    return f"The PEFT adapter is the source of truth and cannot be rebuilt: use {others}, or train again."


class Registry:
    """The versions of one voice. Use :meth:`open`, which also recovers from interrupted runs."""

    def __init__(self, root: Path, voice: str) -> None:
        self.root = Path(root)
        self.voice = voice
        self.versions_dir = self.root / VERSIONS
        for folder in (self.root.parent, self.root, self.versions_dir):
            make_private_dirs(folder)  # every level it creates, not only the last (and each one private)
        self.notes: list[str] = []

    @property
    def pointer_path(self) -> Path:
        """The active pointer (active.json); every change of the active version replaces it (new mtime)."""
        return self.root / ACTIVE

    @classmethod
    def open(cls, voice: str, paths: Paths | None = None, *, recover: bool = True) -> Registry:
        paths = paths or get_paths()
        registry = cls(paths.adapters_dir / voice, voice)
        if recover:
            registry.recover()
        return registry

    # ------------------------------------------------------------ locking and recovery

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time per voice (the CLI, the daemon and a training child may overlap)."""
        fd = open_private(self.root / ".lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def recover(self) -> list[str]:
        """Finish or undo what an interrupted process left; returns what was done, in words."""
        notes: list[str] = []
        with self._locked():
            notes += self._recover_swaps()
            notes += self._recover_pointer()
            folders = [self.root, self.versions_dir, *(p for p in self.versions_dir.iterdir() if p.is_dir())]
            for leftover in sorted(p for folder in folders for p in _leftovers(folder)):
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
                notes.append(f"removed the unfinished {leftover.name}")
            for version in self._scan():
                if version.manifest.status == "training" and not _pid_alive(
                    version.manifest.pid, version.manifest.host
                ):
                    self._mark_failed_locked(version, "training was interrupted (the process ended before it finished)")
                    notes.append(f"marked v{version.number} failed: its training process is gone")
        self.notes = notes
        return notes

    def _recover_swaps(self) -> list[str]:
        """A kill between the two renames of :meth:`finish_version`: put the complete new folder in place."""
        notes = []
        for old in self.root.glob(f"{TMP_PREFIX}old-*"):
            number = old.name.rsplit("-", 1)[-1]
            final = self.root / f"{TMP_PREFIX}final-{number}"
            target = self.versions_dir / number
            if final.is_dir() and not target.exists():
                os.replace(final, target)
                sync_folder(self.versions_dir)
                notes.append(f"completed the interrupted save of v{number}")
        return notes

    def _recover_pointer(self) -> list[str]:
        """A missing or damaged active.json (with manifests that hold copies) is rewritten, atomically."""
        before = len(self.notes)
        pointer = self._pointer()
        if len(self.notes) == before:
            return []
        self._write_pointer(pointer, pointer["version"], pointer["history"])
        return self.notes[before:]

    # ------------------------------------------------------------ reading

    def _manifests(self) -> list[tuple[int, Path, Manifest | None]]:
        """Each version folder with its manifest (None when missing, not JSON or not a JSON object)."""
        found = []
        for entry in self.versions_dir.iterdir():
            if not entry.name.isdigit() or not entry.is_dir():
                continue
            try:
                manifest = _read_json(entry / MANIFEST)
            except (OSError, ValueError):
                manifest = None
            found.append((int(entry.name), entry, Manifest.from_dict(manifest) if isinstance(manifest, dict) else None))
        return sorted(found, key=lambda item: item[0])

    def _scan(self) -> list[Version]:
        active = self.active_version()
        return [
            Version(
                number,
                path,
                manifest
                if manifest is not None
                else Manifest.from_dict(
                    {"version": number, "status": "failed", "reason": "its manifest is missing or unreadable"}
                ),
                number == active,
            )
            for number, path, manifest in self._manifests()
        ]

    def versions(self) -> list[Version]:
        return self._scan()

    def get(self, number: int) -> Version:
        for version in self._scan():
            if version.number == number:
                return version
        known = ", ".join(f"v{v.number}" for v in self._scan()) or "none yet"
        raise NotFound(
            f"Voice {self.voice!r} has no adapter version {number} (versions: {known}).", "See `voiced adapters list`."
        )

    def _pointer(self) -> dict[str, Any]:
        """The active pointer; a missing or damaged one is rebuilt from the manifests' copies (see
        :meth:`_rebuilt_pointer`) and the rebuild is noted, so no reader ever crashes on it."""
        try:
            data = _read_json(self.pointer_path)
            return _checked_pointer(data)
        except FileNotFoundError:
            problem = "is missing"
        except (OSError, ValueError) as exc:
            problem = f"is unreadable ({exc})"
        rebuilt = self._rebuilt_pointer()
        if problem == "is missing" and rebuilt["serial"] == 0:
            return rebuilt  # a new voice: nothing was ever activated
        note = (
            f"{self.pointer_path} {problem}; rebuilt it from the versions' manifests: active adapter "
            + (f"v{rebuilt['version']}" if rebuilt["version"] is not None else "none (the base model)")
            + (
                " (no manifest held a copy of the pointer, so the base model is used; choose a version with "
                "`voiced adapters activate V`)"
                if rebuilt["serial"] == 0
                else ""
            )
            + "."
        )
        if note not in self.notes:
            self.notes.append(note)
        return rebuilt

    def _rebuilt_pointer(self) -> dict[str, Any]:
        """The newest copy of the pointer that any manifest holds, without versions that are gone."""
        manifests = {number: manifest for number, _path, manifest in self._manifests() if manifest is not None}
        copies = []
        for manifest in manifests.values():
            try:
                copies.append(_checked_pointer(manifest.pointer))
            except ValueError:
                continue
        if not copies:
            return {"version": None, "history": [], "serial": 0}
        newest = max(copies, key=lambda copy: copy["serial"])
        usable = {n for n, m in manifests.items() if m.status not in ("training", "failed")}
        version = newest["version"] if newest["version"] in usable else None
        history = [h for h in newest["history"] if h is None or h in usable]
        return {"version": version, "history": history, "serial": newest["serial"]}

    def pointer_notes(self) -> list[str]:
        """Warnings about the pointer (it was rebuilt), for the CLI to show."""
        self._pointer()
        return [note for note in self.notes if str(self.pointer_path) in note]

    def active_version(self) -> int | None:
        return self._pointer()["version"]

    def active(self) -> Version | None:
        number = self.active_version()
        return self.get(number) if number is not None else None

    def history(self) -> list[int | None]:
        return self._pointer()["history"]

    # ------------------------------------------------------------ writing versions

    def begin_version(self, fields: dict[str, Any]) -> Version:
        """Reserve the next number and create ``versions/<n>`` holding a "training" manifest.

        The folder is built under a temporary name and renamed into place, so
        it appears complete; the manifest records this process so a later
        open can tell a live run from a dead one.
        """
        with self._locked():
            numbers = [v.number for v in self._scan()]
            number = max(numbers, default=0) + 1
            manifest = {
                "schema": SCHEMA,
                "voice": self.voice,
                "version": number,
                "status": "training",
                "reason": "",
                "created": now_iso(),
                "pid": os.getpid(),
                "host": socket.gethostname(),
                **fields,
            }
            tmp = make_private_dir(self.root / f"{TMP_PREFIX}new-{number}-{uuid.uuid4().hex[:8]}")
            try:
                _write_manifest_into(tmp, manifest)
                os.replace(tmp, self.versions_dir / str(number))
                sync_folder(self.versions_dir)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return Version(number, self.versions_dir / str(number), Manifest.from_dict(manifest))

    def work_dir(self, version: Version) -> Path:
        """Scratch space for the training run (checkpoints); dropped when the version is finished."""
        return make_private_dir(version.path / "work", exist_ok=True)

    def update_manifest(self, number: int, **changes: Any) -> Manifest:
        """Rewrite a version's manifest atomically with ``changes`` merged in (every other key kept as it was)."""
        with self._locked():
            version = self.get(number)
            manifest = {**version.manifest.to_dict(), **changes}
            write_json_atomic(version.path / MANIFEST, manifest)
            return Manifest.from_dict(manifest)

    def finish_version(
        self,
        version: Version,
        adapter_dir: Path,
        gguf_path: Path | None,
        manifest_changes: dict[str, Any],
        *,
        mlx_dir: Path | None = None,
    ) -> Version:
        """Make a trained version complete in one step: adapter, GGUF LoRA, MLX adapter and manifest together.

        The manifest's ``artifacts`` records what each runtime loads
        (``transformers`` the PEFT folder, ``llama.cpp`` the GGUF LoRA when
        there is one, ``mlx`` the MLX adapter folder when there is one).

        The finished folder is built beside the registry's versions, fsynced,
        then swapped for the "training" one (old renamed aside, new renamed in;
        :meth:`recover` completes a swap cut in half). On any error (a full
        disk included) the temporary folder is removed and the version is left
        as it was.
        """
        number = version.number
        final = self.root / f"{TMP_PREFIX}final-{number}"
        old = self.root / f"{TMP_PREFIX}old-{number}"
        with self._locked():
            artifacts = {"transformers": "."}
            if gguf_path is not None:
                artifacts["llama.cpp"] = GGUF_FILE
            if mlx_dir is not None:
                artifacts["mlx"] = MLX_DIR
            manifest = {
                **self.get(number).manifest.to_dict(),
                **manifest_changes,
                "artifacts": artifacts,
                "finished": now_iso(),
            }
            shutil.rmtree(final, ignore_errors=True)
            make_private_dir(final)
            try:
                for name in ADAPTER_FILES:
                    copy_private(Path(adapter_dir) / name, final / name)
                if gguf_path is not None:
                    copy_private(Path(gguf_path), final / GGUF_FILE)
                if mlx_dir is not None:
                    make_private_dir(final / MLX_DIR)
                    for item in sorted(Path(mlx_dir).iterdir()):
                        if item.is_file() and not item.name.startswith("."):
                            copy_private(item, final / MLX_DIR / item.name)
                    sync_folder(final / MLX_DIR)
                _write_manifest_into(final, manifest)
                os.replace(version.path, old)
                os.replace(final, version.path)
                sync_folder(self.versions_dir)
            except BaseException:
                shutil.rmtree(final, ignore_errors=True)
                if old.exists() and not version.path.exists():
                    os.replace(old, version.path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        return Version(number, version.path, Manifest.from_dict(manifest), number == self.active_version())

    def mark_failed(self, number: int, reason: str) -> None:
        """Record a run that did not produce a usable adapter; its partial files are dropped."""
        with self._locked():
            self._mark_failed_locked(self.get(number), reason)

    def _mark_failed_locked(self, version: Version, reason: str) -> None:
        shutil.rmtree(version.path / "work", ignore_errors=True)
        manifest = {**version.manifest.to_dict(), "status": "failed", "reason": reason, "finished": now_iso()}
        write_json_atomic(version.path / MANIFEST, manifest)

    # ------------------------------------------------------------ the active pointer

    def _write_pointer(self, old: dict[str, Any], version: int | None, history: list[int | None]) -> dict[str, Any]:
        """Replace active.json, then keep a copy in the manifests involved, so a damaged pointer can be rebuilt.

        The copy goes to the newly and the previously active versions and to
        the newest version; ``serial`` orders the copies.
        """
        pointer = {"version": version, "history": history[-50:], "changed": now_iso(), "serial": old["serial"] + 1}
        write_json_atomic(self.pointer_path, pointer)
        manifests = self._manifests()
        keepers = {version, old.get("version"), max((n for n, _p, _m in manifests), default=None)}
        for number, path, manifest in manifests:
            if number in keepers and manifest is not None:
                try:
                    write_json_atomic(path / MANIFEST, {**manifest.to_dict(), "pointer": pointer})
                except OSError:
                    pass  # best effort: active.json itself is written and is the truth
        return pointer

    def pointer_snapshot(self) -> dict[str, Any]:
        """The pointer as it is now, to hand back to :meth:`restore_pointer` when a change must be undone."""
        return self._pointer()

    def restore_pointer(self, snapshot: dict[str, Any], expected_serial: int) -> bool:
        """Put ``snapshot`` back, unless someone changed the pointer after ``expected_serial``; True when done.

        The daemon uses it when the engine could not switch to a newly activated version.
        """
        with self._locked():
            current = self._pointer()
            if current["serial"] != expected_serial:
                return False
            self._write_pointer(current, snapshot["version"], list(snapshot["history"]))
            return True

    def activate(self, number: int, *, runtime: str | None = None) -> Version:
        """Make a finished version the active adapter (the previous one goes onto the history).

        With ``runtime`` (the one that will serve it, see :func:`runtime_for_base`)
        its artifact is validated first, so the pointer never names a version
        that runtime cannot load (:class:`CorruptAdapter`). The gate's verdict
        stays in the manifest: a rejected version made active is still
        recorded as rejected, with its reason.
        """
        with self._locked():
            version = self.get(number)
            if version.manifest.status in ("training", "failed"):
                raise NotUsable(
                    f"v{number} is {version.manifest.status} and has no usable adapter"
                    + (f" ({version.reason})" if version.reason else "")
                    + ".",
                    "Pick another version (`voiced adapters list`).",
                )
            if runtime is not None:
                version.validate(runtime)
            pointer = self._pointer()
            if pointer["version"] == number:
                return version
            self._write_pointer(pointer, number, pointer["history"] + [pointer["version"]])
        return self.get(number)

    def rollback_target(self) -> int | None:
        """The version :meth:`rollback` would go back to (None: the base model); NotFound when there is none."""
        return self._rollback_step(self._pointer())[0]

    def _rollback_step(self, pointer: dict[str, Any]) -> tuple[int | None, list[int | None]]:
        """The newest usable entry of the history, and the history left below it."""
        history = list(pointer["history"])
        existing = {v.number: v for v in self._scan()}
        while history:
            previous = history.pop()
            if previous is None or (previous in existing and existing[previous].status not in ("failed", "training")):
                return previous, history
        raise NotFound(
            "There is no earlier active adapter to roll back to.",
            "Use `voiced adapters activate V` to choose a version.",
        )

    def rollback(self, *, runtime: str | None = None) -> int | None:
        """Go back to the previously active version (None: the base model alone); returns it.

        With ``runtime`` the version rolled back to is validated first
        (:class:`CorruptAdapter`, and the pointer is left as it was).
        """
        with self._locked():
            pointer = self._pointer()
            previous, history = self._rollback_step(pointer)
            if previous is not None and runtime is not None:
                self.get(previous).validate(runtime)
            self._write_pointer(pointer, previous, history)
            return previous

    def remove(self, number: int, *, force: bool = False) -> None:
        """Delete a version; the active one only with ``force`` (then the previous one becomes active)."""
        version = self.get(number)
        if version.is_active and not force:
            raise RegistryError(
                f"v{number} is the active adapter of voice {self.voice!r}, so it was not removed. "
                "Activate another version (`voiced adapters activate V` or `voiced adapters rollback`) first, "
                "or pass --force to remove it and fall back to the previous active adapter (or the base model)."
            )
        if version.is_active:
            try:
                self.rollback()
            except RegistryError:
                with self._locked():
                    self._write_pointer(self._pointer(), None, [])
        with self._locked():
            trash = self.root / f"{TMP_PREFIX}removed-{number}-{uuid.uuid4().hex[:8]}"
            os.replace(version.path, trash)
            sync_folder(self.versions_dir)
            shutil.rmtree(trash, ignore_errors=True)
            # Rewritten even when unchanged: the removed version may have held the newest copy.
            pointer = self._pointer()
            self._write_pointer(pointer, pointer["version"], [h for h in pointer["history"] if h != number])

    def set_status(self, number: int, status: str, reason: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self.update_manifest(number, status=status, reason=reason)
