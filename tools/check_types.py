"""Type-check the package as installed with mypy (configuration: pyproject.toml, [tool.mypy]).

The folders at the top level map onto one import package (``package-dir`` in
pyproject.toml), so mypy cannot read ``voiced`` from the repository as it stands.
This stages the package as the wheel lays it out (the same tree of symbolic links
as tools/check_layers.py) and runs ``mypy -p voiced`` on it. Exit status: 0 when
the package type-checks, non-zero on any error (mypy's report names file and line,
as the repository's own paths).

    python tools/check_types.py            # the repository
    python tools/check_types.py --root DIR # another checkout
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_layers import stage  # noqa: E402  (a sibling script, not a package)


def repository_paths(root: Path) -> list[tuple[str, str]]:
    """(staged prefix, repository prefix) pairs, longest first: ``voiced/cli/`` is ``cli/``."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    pairs = [
        (package.replace(".", "/") + "/", folder.rstrip("/") + "/")
        for package, folder in setuptools["package-dir"].items()
    ]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def as_repository_path(line: str, prefixes: list[tuple[str, str]]) -> str:
    """mypy names the staged file; a reader wants the file they edit."""
    for staged, folder in prefixes:
        if line.startswith(staged):
            return folder + line[len(staged) :]
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    root = args.root.resolve()
    with tempfile.TemporaryDirectory(prefix="voiced-types-") as staging:
        stage(root, Path(staging))
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        command = [sys.executable, "-m", "mypy", "--config-file", str(root / "pyproject.toml"), "--no-incremental"]
        command += ["-p", "voiced"]
        result = subprocess.run(command, cwd=staging, env=env, capture_output=True, text=True)
    prefixes = repository_paths(root)
    for line in result.stdout.splitlines():
        print(as_repository_path(line, prefixes))
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
