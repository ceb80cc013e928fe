"""The built wheel, not the editable checkout: it builds without warnings, holds every module and the
reference texts, and works from a fresh virtual environment (`voiced doctor` and a rewrite).

The wheel is built by setuptools' PEP 517 backend (what `python -m build --no-isolation` calls) from a
copy of the tree, so no stale build/ folder can hide a forgotten package. The fresh environment gets the
wheel with --no-deps and sees the heavy dependencies of the project's .venv through a plain path line in
a .pth file: such a line adds the folder without running the .pth files inside it, so the editable
install's finder stays off and `voiced` can only come from the wheel, which the tests assert.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import tomllib
from conftest import REPO

from voiced.daemon.state import read_record

WARNING_MARKS = re.compile(r"warning|deprecat|!!|would be ignored", re.IGNORECASE)
TEXT = (
    "The rain had stopped by the time Anne reached the gate. She stood there for a while, "
    "listening to the water run off the roof, and then she went in."
)
# A rewrite that stays short and deterministic: greedy, few tokens, no guard retries, no background work.
FAST_SETTINGS = """
[inference]
temperature = 0.0
max_tokens_factor = 0.6
max_tokens_extra = 4
guard = false

[daemon]
start_timeout_seconds = 180.0

[scheduler]
enabled = false
"""


def _build_env() -> dict[str, str]:
    """The environment minus PYTHONDONTWRITEBYTECODE, whose 'byte-compiling is disabled' note is not the build's."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _source_files() -> list[str]:
    """The tree a clean checkout has, plus new files not yet committed (tracked or not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (REPO / name).is_file()]


def _package_dirs() -> dict[str, str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["setuptools"]["package-dir"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    """The wheel built from a copy of the tree, and everything the build printed."""
    source = tmp_path_factory.mktemp("wheel-source")
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel-out")
    script = "import sys, setuptools.build_meta as backend; print(backend.build_wheel(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        env=_build_env(),
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    name = result.stdout.strip().splitlines()[-1]
    return out / name, output


def test_the_wheel_builds_without_warnings(built) -> None:
    wheel, output = built
    assert wheel.name == "voiced-0.1.0-py3-none-any.whl" and wheel.is_file()
    warnings = [line for line in output.splitlines() if WARNING_MARKS.search(line)]
    assert not warnings, "the build warned:\n" + "\n".join(warnings)


def test_the_wheel_holds_every_module_and_the_reference_texts(built) -> None:
    """Each .py under the folders mapped onto `voiced`, and voiced/reference/*.txt, and nothing else."""
    wheel, _ = built
    package_dirs = _package_dirs()
    folders = {folder: package.replace(".", "/") for package, folder in package_dirs.items()}
    top_level_packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert top_level_packages <= set(folders), (
        f"folders with an __init__.py missing from package-dir: {top_level_packages - set(folders)}"
    )
    expected = set()
    for name in _source_files():
        folder, _, rest = name.partition("/")
        if folder in folders and (name.endswith(".py") or re.fullmatch(r"voiced/reference/[^/]+\.txt", name)):
            expected.add(f"{folders[folder]}/{rest}")
    assert {"voiced/reference/austen.txt", "voiced/cli/__init__.py", "voiced/inference/engine.py"} <= expected
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if ".dist-info/" not in n}
        entry_points = archive.read("voiced-0.1.0.dist-info/entry_points.txt").decode()
    assert sorted(expected - shipped) == [], "in the tree but not in the wheel (add the package to `packages`)"
    assert sorted(shipped - expected) == [], "in the wheel but not expected"
    assert "voiced = voiced.cli:main" in entry_points


def _site_packages(python: Path) -> Path:
    query = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.run([python, "-c", query], capture_output=True, text=True, check=True).stdout.strip())


@pytest.fixture(scope="module")
def fresh_venv(built, tmp_path_factory) -> Path:
    """A new virtual environment holding the wheel alone, seeing the .venv's dependencies by path."""
    wheel, _ = built
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = _site_packages(python)
    (site / "voiced-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--root-user-action=ignore", "--disable-pip-version-check", wheel],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


def _run(venv: Path, *args: str, home: Path, cwd: Path, stdin: str | None = None, timeout: float = 300):
    env = {**os.environ, "VOICED_HOME": str(home)}
    return subprocess.run(
        [venv / "bin" / "voiced", *args], input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


def test_the_fresh_environment_imports_the_wheel_not_the_checkout(fresh_venv, tmp_path: Path) -> None:
    probe = "import voiced, voiced.cli, voiced.daemon.service; print(voiced.__file__); print(voiced.cli.__file__)"
    result = subprocess.run(
        [fresh_venv / "bin" / "python", "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    site = _site_packages(fresh_venv / "bin" / "python").resolve()
    for where in map(Path, result.stdout.split()):
        assert where.resolve().is_relative_to(site), f"{where} is not in the fresh environment"
        assert not where.resolve().is_relative_to(REPO)
    checked = subprocess.run(
        [sys.executable, "-m", "pip", "--python", fresh_venv / "bin" / "python", "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "voiced" not in checked.stdout, checked.stdout  # the wheel's requirements are all met


@pytest.mark.slow  # 30-60 s on two busy cores: doctor loads torch and the model, the daemon loads it again
def test_the_installed_wheel_runs_doctor_and_a_rewrite(fresh_venv, voiced_home: Path, tmp_path: Path) -> None:
    writing = tmp_path / "writing"
    writing.mkdir()
    (writing / "notes.md").write_text("# Notes\n\n" + TEXT + "\n", encoding="utf-8")
    for args in (("init",), ("add", str(writing))):
        step = _run(fresh_venv, *args, home=voiced_home, cwd=tmp_path)
        assert step.returncode == 0, step.stdout + step.stderr
    config_file = Path(_run(fresh_venv, "config", "path", home=voiced_home, cwd=tmp_path).stdout.strip())
    assert config_file.is_relative_to(voiced_home)
    with config_file.open("a", encoding="utf-8") as handle:
        handle.write(FAST_SETTINGS)

    doctor = _run(fresh_venv, "doctor", home=voiced_home, cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    for line in ("[ok] configuration:", "[ok] embedded model:", "[ok] llama.cpp: loaded and decoded", "[ok] torch:"):
        assert line in doctor.stdout, doctor.stdout

    pid = None
    try:
        rewrite = _run(fresh_venv, "rewrite", home=voiced_home, cwd=tmp_path, stdin=TEXT + "\n")
        assert rewrite.returncode == 0, rewrite.stdout + rewrite.stderr
        assert "Traceback" not in rewrite.stderr
        assert len(re.findall(r"[A-Za-z]{2,}", rewrite.stdout)) >= 3, rewrite.stdout  # words, not just whitespace
        record = read_record()  # the rewrite started the daemon, from the fresh environment's Python:
        assert record is not None
        pid = record.pid
        if Path("/proc").is_dir():
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert command[0].decode() == str(fresh_venv / "bin" / "python"), command
    finally:
        stopped = _run(fresh_venv, "daemon", "stop", home=voiced_home, cwd=tmp_path, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"voiced daemon stopped (pid {pid})" in stopped.stdout, stopped.stdout
    assert read_record() is None
