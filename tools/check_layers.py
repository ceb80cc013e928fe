"""Run the import-linter layers contract (pyproject.toml, [tool.importlinter]) over the package as installed.

The folders at the top level map onto one import package (``package-dir`` in
pyproject.toml): ``cli/`` is ``voiced.cli``. import-linter reads a package from
one folder, so this stages the package as the wheel lays it out (a tree of
symbolic links, no copies) and runs ``lint-imports`` on it. Exit status: 0 when
every contract is kept, 1 when an import goes up a layer (the report names it).

    python tools/check_layers.py            # the repository
    python tools/check_layers.py --root DIR # another checkout (the tests plant an upward import in one)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib


def stage(root: Path, into: Path) -> None:
    """Lay ``root``'s folders out as the installed package: ``into/voiced/cli`` -> ``root/cli``, ..."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapping: dict[str, str] = setuptools["package-dir"]
    for package in sorted(mapping, key=lambda name: name.count(".")):
        target = into.joinpath(*package.split("."))
        source = (root / mapping[package]).resolve()
        if package.count(".") == 0:
            target.mkdir(parents=True)
            for entry in source.iterdir():
                if entry.name != "__pycache__":
                    (target / entry.name).symlink_to(entry)
        else:
            target.symlink_to(source, target_is_directory=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    root = args.root.resolve()
    lint = Path(sys.executable).with_name("lint-imports")
    with tempfile.TemporaryDirectory(prefix="voiced-layers-") as staging:
        stage(root, Path(staging))
        env = {**os.environ, "PYTHONPATH": staging, "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.run([str(lint), str(root / "pyproject.toml"), "--no-cache"], cwd=staging, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
