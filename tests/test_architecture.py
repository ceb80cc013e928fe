"""The layers are enforced: the contract holds on the tree, breaks on an upward import, and docs show it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
CHECK_LAYERS = ROOT / "tools" / "check_layers.py"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK_LAYERS), "--root", str(root)], capture_output=True, text=True, timeout=300
    )


def _copy_package(into: Path) -> None:
    """The folders the package is built from, and pyproject.toml: what the contract reads."""
    shutil.copy(ROOT / "pyproject.toml", into / "pyproject.toml")
    for folder in set(_pyproject()["tool"]["setuptools"]["package-dir"].values()):
        shutil.copytree(ROOT / folder, into / folder, ignore=shutil.ignore_patterns("__pycache__", "*.txt"))


def test_the_tree_keeps_the_layers_contract() -> None:
    result = _check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    "module, planted, reported",
    [
        # the floor reaching the daemon from inside a function: what used to hide cycles
        (
            "voiced/paths.py",
            "\n\ndef _planted():\n    from voiced.daemon import client\n\n    return client\n",
            "voiced.paths -> voiced.daemon.client",
        ),
        # the trainer reaching the evaluation above it at module level
        (
            "trainer/prose.py",
            "\nimport voiced.evaluation.stylometry  # noqa: E402\n",
            "voiced.trainer.prose -> voiced.evaluation.stylometry",
        ),
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, planted: str, reported: str) -> None:
    _copy_package(tmp_path)
    with (tmp_path / module).open("a", encoding="utf-8") as handle:
        handle.write(planted)
    result = _check(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert reported in result.stdout


def test_a_module_outside_every_layer_breaks_the_contract(tmp_path: Path) -> None:
    """``exhaustive``: a new floor module must name its layer before anything may import it."""
    _copy_package(tmp_path)
    (tmp_path / "voiced" / "unlisted.py").write_text('"""Not in any layer."""\n', encoding="utf-8")
    result = _check(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "voiced.unlisted" in result.stdout


def _contract_layers() -> list[str]:
    (contract,) = _pyproject()["tool"]["importlinter"]["contracts"]
    return contract["layers"]


def test_docs_show_the_layers_as_the_folders_are() -> None:
    """docs/architecture.md's layer table lists the folders in the contract's order, each with its package."""
    package_dir = _pyproject()["tool"]["setuptools"]["package-dir"]
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d) \| `([\w/-]+)/` \| `([\w.]+)` \|", text, flags=re.MULTILINE)
    assert rows, "docs/architecture.md has no layer table"
    documented = [(folder, package) for _number, folder, package in rows]
    subpackages = [layer for layer in reversed(_contract_layers()) if ":" not in layer and layer != "__main__"]
    expected = [("voiced", "voiced")] + [(package_dir[f"voiced.{name}"], f"voiced.{name}") for name in subpackages]
    assert documented == expected
    # every top-level folder of Python code is a layer of the package
    python_folders = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert python_folders == {folder for folder, _ in documented}
