"""Where the language server logs: stderr and a file in the state directory, never stdout."""

from __future__ import annotations

import logging
import sys

from voiced.paths import get_paths
from voiced.private_files import PrivateRotatingFileHandler


def setup_logging(level: int = logging.INFO) -> None:
    paths = get_paths()
    logs = paths.ensure_private(paths.logs_dir)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = PrivateRotatingFileHandler(logs / "lsp.log", maxBytes=2_000_000, backupCount=2, encoding="utf-8")
    stderr_handler = logging.StreamHandler(sys.stderr)
    for handler in (file_handler, stderr_handler):
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.setLevel(level)
    root.handlers[:] = [file_handler, stderr_handler]
    logging.getLogger("pygls").setLevel(logging.WARNING)
