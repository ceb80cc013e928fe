"""Where voiced keeps its files.

Everything lives under the platform's per-user directories (platformdirs), never
next to the writer's own files. One environment variable, ``VOICED_HOME``,
relocates all of it under a single folder: tests, demos and portable installs
use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from voiced.private_files import make_private_dirs

APP_NAME = "voiced"
HOME_ENV = "VOICED_HOME"


@dataclass(frozen=True)
class Paths:
    """The four directories voiced writes to, and the well-known files in them."""

    config_dir: Path
    data_dir: Path
    state_dir: Path
    cache_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def corpus_db(self) -> Path:
        return self.data_dir / "corpus.sqlite3"

    @property
    def adapters_dir(self) -> Path:
        return self.data_dir / "adapters"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def ensure_private(self, directory: Path) -> Path:
        """Create ``directory`` (and parents) readable by the user alone."""
        return make_private_dirs(directory)


def get_paths() -> Paths:
    """Resolve the directories now, honouring ``VOICED_HOME`` when it is set."""
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(root / "config", root / "data", root / "state", root / "cache")
    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
    )
