"""Keeping the best adapter: written beside, then swapped in whole, readable by the user only.

A crash or a cancel at any moment leaves either the previous best or the new
one in ``out_dir/best``, never a half-written folder under that name.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voiced.private_files import make_private_dir, make_private_dirs, make_private_tree
from voiced.trainer.results import BEST_ADAPTER_DIR, TRAINING_STATE_FILE


def save_best(out_dir: Path, write: Callable[[Path], None], state: dict[str, Any]) -> Path:
    """Write an adapter with ``write(folder)`` plus ``state`` as JSON, then swap it in as ``best``."""
    make_private_dirs(out_dir)
    target = out_dir / BEST_ADAPTER_DIR
    partial = out_dir / f".{BEST_ADAPTER_DIR}.partial"
    old = out_dir / f".{BEST_ADAPTER_DIR}.old"
    for leftover in (partial, old):
        shutil.rmtree(leftover, ignore_errors=True)
    make_private_dir(partial)
    try:
        write(partial)
        (partial / TRAINING_STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
        make_private_tree(partial)
        if target.exists():
            os.replace(target, old)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return target


def discard_partial(out_dir: Path) -> None:
    """Remove anything a killed run may have left half-written (a run killed mid-swap gets its old best back)."""
    old = out_dir / f".{BEST_ADAPTER_DIR}.old"
    if old.is_dir() and not (out_dir / BEST_ADAPTER_DIR).exists():
        os.replace(old, out_dir / BEST_ADAPTER_DIR)
    for name in (f".{BEST_ADAPTER_DIR}.partial", f".{BEST_ADAPTER_DIR}.old"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
