"""The adapter registry on real files: versions, the active pointer, recovery, privacy, a full disk."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from job_support import fake_adapter

from voiced.registry import GGUF_FILE, MANIFEST, DiskFullError, Registry, RegistryError


def finished(registry: Registry, tmp_path: Path, status: str = "candidate", words: int = 100):
    version = registry.begin_version({"corpus": {"words": words}})
    source = fake_adapter(tmp_path / f"src{version.number}")
    return registry.finish_version(version, source, source / "adapter.gguf", {"status": status})


def test_a_finished_version_holds_adapter_gguf_and_manifest(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    version = finished(registry, tmp_path)
    names = sorted(p.name for p in version.path.iterdir())
    assert names == sorted(["adapter_model.safetensors", "adapter_config.json", GGUF_FILE, MANIFEST])
    manifest = json.loads((version.path / MANIFEST).read_text())
    assert manifest["status"] == "candidate" and manifest["version"] == 1 and manifest["voice"] == "austen"
    assert manifest["corpus"] == {"words": 100} and manifest["finished"]
    assert [v.number for v in registry.versions()] == [1]


def test_files_and_folders_are_private(tmp_path: Path, voiced_home: Path) -> None:
    registry = Registry.open("austen")
    version = finished(registry, tmp_path)
    registry.activate(version.number)
    for path in [registry.root, *registry.root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_activate_rollback_and_history(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    v1, v2 = finished(registry, tmp_path), finished(registry, tmp_path)
    registry.activate(v1.number)
    registry.activate(v2.number)
    assert registry.active_version() == 2 and registry.get(2).status == "active"
    assert registry.get(1).status == "candidate"
    assert registry.rollback() == 1
    assert registry.active_version() == 1
    assert registry.rollback() is None  # before v1 there was the base model alone
    with pytest.raises(RegistryError, match="no earlier active adapter"):
        registry.rollback()


def test_failed_versions_cannot_be_activated(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    version = registry.begin_version({})
    registry.mark_failed(version.number, "out of memory")
    with pytest.raises(RegistryError, match="failed.*out of memory"):
        registry.activate(version.number)
    with pytest.raises(RegistryError, match="no adapter version 9"):
        registry.get(9)


def test_remove_refuses_the_active_one_without_force(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    v1, v2 = finished(registry, tmp_path), finished(registry, tmp_path)
    registry.activate(v1.number)
    registry.activate(v2.number)
    with pytest.raises(RegistryError, match="active adapter.*--force"):
        registry.remove(2)
    assert registry.get(2).path.is_dir()
    registry.remove(2, force=True)
    assert registry.active_version() == 1
    assert [v.number for v in registry.versions()] == [1]
    assert not list(registry.root.glob(".tmp-*"))
    registry.remove(1, force=True)
    assert registry.active_version() is None


def test_the_next_number_follows_the_highest_version_on_disk(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    finished(registry, tmp_path)
    v2 = finished(registry, tmp_path)
    registry.remove(1)
    assert finished(registry, tmp_path).number == v2.number + 1


def test_open_removes_leftover_temporaries_and_fails_dead_training_runs(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    active = finished(registry, tmp_path)
    registry.activate(active.number)
    # a training run in a process that is gone: start it in a child that exits at once
    code = (
        "import sys; from voiced.registry import Registry; "
        "r = Registry.open('austen'); v = r.begin_version({}); "
        "(r.work_dir(v) / 'partial.bin').write_bytes(b'x'); print(v.number)"
    )
    number = int(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=os.environ.copy()
        ).stdout
    )
    leftover = registry.root / ".tmp-final-7"
    fake_adapter(leftover)
    (registry.root / ".tmp-active.json.abcd").write_text("{")

    reopened = Registry.open("austen")
    assert not list(reopened.root.glob(".tmp-*"))
    dead = reopened.get(number)
    assert dead.status == "failed" and "interrupted" in dead.reason
    assert not (dead.path / "work").exists()
    assert reopened.active_version() == active.number
    assert any("failed" in note for note in reopened.notes)


def test_a_live_training_run_is_left_alone_by_open(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    version = registry.begin_version({})  # this process is alive
    assert Registry.open("austen").get(version.number).status == "training"


def test_a_swap_cut_in_half_is_completed_at_open(tmp_path: Path) -> None:
    registry = Registry.open("austen")
    version = registry.begin_version({})
    # the state between the two renames of finish_version: old moved aside, complete new not yet in place
    final = registry.root / f".tmp-final-{version.number}"
    fake_adapter(final)
    (final / MANIFEST).write_text(json.dumps({"version": version.number, "status": "candidate"}))
    os.replace(version.path, registry.root / f".tmp-old-{version.number}")
    assert version.number not in [v.number for v in Registry(registry.root, "austen").versions()]

    reopened = Registry.open("austen")
    assert reopened.get(version.number).status == "candidate"
    assert (reopened.get(version.number).path / "adapter_model.safetensors").is_file()
    assert not list(reopened.root.glob(".tmp-*"))


def test_a_kill_during_finish_leaves_no_half_version(tmp_path: Path) -> None:
    """SIGKILL a child at random points of finish_version; every reopen sees a whole version or a failed one."""
    source = fake_adapter(tmp_path / "big", b"\1" * 8_000_000)
    code = (
        "import sys, pathlib; from voiced.registry import Registry; "
        "r = Registry.open('austen'); v = r.begin_version({}); print(v.number, flush=True); "
        "p = pathlib.Path(sys.argv[1]); "
        "[r.finish_version(v, p, p / 'adapter.gguf', {'status': 'candidate'}) for _ in range(1000)]"
    )
    for delay in (0.05, 0.2, 0.4):
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(source)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
        )
        number = int(child.stdout.readline())
        try:
            child.wait(timeout=delay + 0.5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        registry = Registry.open("austen")
        version = registry.get(number)
        assert not list(registry.root.glob(".tmp-*"))
        if version.status == "failed":  # killed before the first finish completed
            assert not (version.path / "adapter_model.safetensors").exists()
        else:
            assert version.status == "candidate"
            assert (version.path / "adapter_model.safetensors").stat().st_size == 8_000_000
            assert (version.path / GGUF_FILE).stat().st_size == 8_000_004


def test_a_full_disk_is_a_clear_error_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """A real write failure: a child process limited to 1 MB files (RLIMIT_FSIZE) finishes a 4 MB adapter."""
    source = fake_adapter(tmp_path / "big", b"\1" * 4_000_000)
    registry = Registry.open("austen")
    keep = finished(registry, tmp_path)
    registry.activate(keep.number)
    code = (
        "import resource, signal, sys, pathlib\n"
        "from voiced.registry import Registry, DiskFullError\n"
        "r = Registry.open('austen'); v = r.begin_version({})\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.RLIM_INFINITY))\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "try:\n    r.finish_version(v, p, p / 'adapter.gguf', {'status': 'candidate'})\n"
        "except DiskFullError as exc:\n    print(v.number); print(exc); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(source)], capture_output=True, text=True, env=os.environ.copy()
    )
    assert result.returncode == 3, result.stderr
    number, message = result.stdout.split("\n", 1)
    assert "disk is full" in message and "active adapter is the same" in message
    after = Registry.open("austen")
    assert not list(after.root.glob(".tmp-*"))
    assert after.active_version() == keep.number
    assert after.get(int(number)).status == "failed"  # its process is gone, so open marks it


def test_disk_full_errno_is_translated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC itself cannot be produced without a small filesystem; inject it at os.write for this one check."""
    import errno

    from voiced import registry as registry_module

    registry = Registry.open("austen")
    version = registry.begin_version({})
    source = fake_adapter(tmp_path / "src")

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(registry_module.os, "write", full)
    with pytest.raises(DiskFullError, match="disk is full"):
        registry.finish_version(version, source, None, {"status": "candidate"})
    monkeypatch.undo()
    assert not list(registry.root.glob(".tmp-*"))
    assert registry.get(version.number).status == "training"
