"""tools/check_types.py: mypy reads the package as the wheel lays it out, with pyproject.toml's settings.

Each test builds a small checkout (the repository's pyproject.toml, every layer folder with an empty
``__init__.py``) so mypy runs in seconds; `make lint` runs the same tool on the whole tree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
CHECK_TYPES = ROOT / "tools" / "check_types.py"


def _checkout(into: Path, module: str, source: str) -> Path:
    """The layer folders of pyproject.toml's package-dir, empty but for ``module``."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (into / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    for folder in set(tomllib.loads(pyproject)["tool"]["setuptools"]["package-dir"].values()):
        (into / folder).mkdir(parents=True, exist_ok=True)
        (into / folder / "__init__.py").write_text("", encoding="utf-8")
    (into / module).write_text(source, encoding="utf-8")
    return into


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK_TYPES), "--root", str(root)], capture_output=True, text=True, timeout=300
    )


def test_a_typed_module_passes(tmp_path: Path) -> None:
    result = _check(_checkout(tmp_path, "cli/fine.py", "def answer() -> int:\n    return 42\n"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_a_type_error_fails_and_names_the_file_as_the_repository_has_it(tmp_path: Path) -> None:
    result = _check(_checkout(tmp_path, "cli/wrong.py", 'def answer() -> int:\n    return "forty-two"\n'))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cli/wrong.py:2: error: Incompatible return value type" in result.stdout
    assert "voiced/cli/wrong.py" not in result.stdout  # the staged path would send a reader to no file


def test_the_bodies_of_unannotated_functions_are_checked(tmp_path: Path) -> None:
    """pyproject.toml's check_untyped_defs: a function without annotations is not a blind spot."""
    result = _check(_checkout(tmp_path, "trainer/untyped.py", 'def total(rows):\n    return len(3) + "rows"\n'))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "trainer/untyped.py:2: error:" in result.stdout


def test_an_ignore_needs_its_error_code(tmp_path: Path) -> None:
    """ignore-without-code: a bare `# type: ignore` would hide every error on its line, not the one meant."""
    source = 'def answer() -> int:\n    return "forty-two"  # type: ignore\n'
    result = _check(_checkout(tmp_path, "voiced/ignored.py", source))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "voiced/ignored.py:2: error:" in result.stdout
    assert "ignore-without-code" in result.stdout
