"""The first adapter's fixed costs: the base model loaded once, its test NLL cached, every phase timed.

Real jobs on the embedded model (a private copy of its GGUF, so the test can change the base's file),
real SQLite and the real `voiced train` subprocess; the counters are spies that call the real functions.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from job_support import make_voice
from process_support import run_voiced

from voiced.config import save_config
from voiced.corpus.scanner import scan
from voiced.corpus.store import CorpusStore
from voiced.daemon.training_job import run_training_job
from voiced.models import embedded_model_path
from voiced.paths import get_paths
from voiced.trainer import nll_cache
from voiced.trainer.base_model import base_model_info
from voiced.trainer.dataset import build_voice_dataset

PHASES = ["dataset", "load", "tokenize", "train", "export", "gate", "record"]


def _voice(tmp_path: Path):
    base = tmp_path / "base" / "SmolLM2-copy.gguf"
    base.parent.mkdir()
    shutil.copy2(embedded_model_path(), base)
    config = make_voice(tmp_path, base_model=str(base))
    config.evaluation.gate_mode = "nll"  # the NLL gate is what is cached; the voice gate: test_job_voice_gate.py
    config.training.max_steps = 1
    config.adapters.gate_min_margin = 100.0  # never promoted: every job is gated against the base alone
    save_config(config)
    return config, base


class Spies:
    """Counts of real calls: model loads (transformers' from_pretrained) and NLL passes (response_nll)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from transformers import AutoModelForCausalLM

        import voiced.trainer.gate as gate

        self.loads = self.nll_passes = 0
        load, score = AutoModelForCausalLM.from_pretrained, gate.response_nll

        def counted_load(*args, **kwargs):
            self.loads += 1
            return load(*args, **kwargs)

        def counted_score(*args, **kwargs):
            self.nll_passes += 1
            return score(*args, **kwargs)

        monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", counted_load)
        monkeypatch.setattr(gate, "response_nll", counted_score)


def _job(config, events: list[dict]):
    return run_training_job(config, "austen", progress=events.append)


def _one(events: list[dict], kind: str) -> dict:
    found = [e for e in events if e.get("event") == kind]
    assert len(found) == 1, (kind, found)
    return found[0]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_base_nll_is_cached_checked_and_recomputed_when_anything_changes(tmp_path: Path, monkeypatch) -> None:
    config, _base = _voice(tmp_path)
    cache = nll_cache.cache_path(get_paths(), "austen")

    # 1. `voiced train --progress-json`, a real subprocess: every phase with its seconds, one model load.
    lines = run_voiced("train", "--progress-json", timeout=1200).stdout.splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    done = [e for e in events if e.get("event") == "phase_done"]
    assert [e["phase"] for e in done] == PHASES
    assert all(isinstance(e["seconds"], float) and e["seconds"] >= 0 for e in done)
    summary = _one(events, "phases")
    assert summary["phases"] == [{"phase": e["phase"], "seconds": e["seconds"]} for e in done]
    assert summary["model_loads"] == 1 and summary["base_nll"] == nll_cache.MISS
    assert summary["total"] >= sum(e["seconds"] for e in done) - 0.01
    first = _one(events, "result")
    assert first["scores"]["base_nll_source"] == nll_cache.MISS
    assert set(PHASES) | {"total"} <= set(first["durations"])
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    computed = _one(events, "base_nll")["nll"]  # at full precision (the manifest rounds to 5 places)
    assert round(computed, 5) == first["scores"]["test_nll"]["base"]

    # 2. Same corpus, same base: the base is not scored again (one NLL pass, the candidate's), one model load.
    spies = Spies(monkeypatch)
    events = []
    second = _job(config, events)
    assert _one(events, "base_nll")["source"] == nll_cache.HIT and _one(events, "phases")["model_loads"] == 1
    assert spies.loads == 1 and spies.nll_passes == 1
    assert [e["phase"] for e in events if e.get("event") == "phase"].count("load") == 1
    cached = _one(events, "base_nll")["nll"]
    assert abs(cached - computed) < 1e-6 and second.scores["base_nll_source"] == nll_cache.HIT

    # 3. A corrupt cache is ignored, the score computed again (the same to 1e-6), and the file rewritten.
    cache.write_text('{"schema": 1, "entries": [{"key": ', encoding="utf-8")
    events = []
    third = _job(config, events)
    assert _one(events, "base_nll")["source"] == nll_cache.CORRUPT and spies.nll_passes == 3
    assert abs(_one(events, "base_nll")["nll"] - cached) < 1e-6
    assert third.status == second.status  # the same decision on the same data
    assert json.loads(cache.read_text())["entries"][0]["nll"] == _one(events, "base_nll")["nll"]
    # ... as is an entry whose figures do not fit the examples it claims to describe.
    data = json.loads(cache.read_text())
    data["entries"][0]["tokens"] += 1
    cache.write_text(json.dumps(data), encoding="utf-8")
    events = []
    _job(config, events)
    assert _one(events, "base_nll")["source"] == nll_cache.CORRUPT and spies.nll_passes == 5
    assert spies.loads == 3

    # 4. A changed test split is a new key: computed again, the old entry kept beside it.
    dataset = build_voice_dataset(config, "austen", get_paths())[0]
    test_doc = next(doc for doc, split in dataset.documents.items() if split == "test")
    note = Path(config.voices["austen"].folders[0]) / test_doc
    note.write_text(
        note.read_text()
        + "\nAnne had never seen the harbour so still, nor the cottages along the shore so bright in the "
        "evening light, and she stood a long while at the window before she went down to the others.\n",
        "utf-8",
    )
    with CorpusStore.open() as store:
        scan(store, config)
    events = []
    _job(config, events)
    assert _one(events, "base_nll")["source"] == nll_cache.STALE
    assert len(json.loads(cache.read_text())["entries"]) == 2


def test_the_key_names_the_base_file_and_a_changed_file_is_a_new_key(tmp_path: Path) -> None:
    _config, base = _voice(tmp_path)
    from voiced.models import resolve_base_model

    ref = resolve_base_model(str(base))
    examples = [{"input_ids": [1, 2, 3, 4], "labels": [-100, -100, 3, 4]}]
    key = nll_cache.cache_key(ref, base_model_info(ref), examples, batch_size=4, device="cpu", dtype="torch.float32")
    assert key is not None and key["base"]["sha256"] == base_model_info(ref).sha256
    path = tmp_path / "state" / "cache.json"
    nll_cache.store(path, key, 1.25, nll_cache.scored_tokens(examples), len(examples))
    assert nll_cache.lookup(path, key, examples) == (nll_cache.CachedNll(1.25, 2, 1), nll_cache.HIT)

    os.utime(base, ns=(base.stat().st_atime_ns, base.stat().st_mtime_ns + 10**9))
    changed = nll_cache.cache_key(
        ref, base_model_info(ref), examples, batch_size=4, device="cpu", dtype="torch.float32"
    )
    assert changed != key and nll_cache.lookup(path, changed, examples) == (None, nll_cache.STALE)
    # Other labels (another test split) or another batch size: new keys too.
    assert (
        nll_cache.cache_key(
            ref,
            base_model_info(ref),
            [{"input_ids": [1, 2, 3, 4], "labels": [-100, 2, 3, 4]}],
            batch_size=4,
            device="cpu",
            dtype="float32",
        )
        != changed
    )
    assert nll_cache.cache_key(ref, base_model_info(ref), examples, batch_size=2, device="cpu", dtype="float32") != (
        changed
    )
    # A base without a content hash (a hub id) is never cached.
    from voiced.models import BaseModelRef
    from voiced.trainer.base_model import BaseModelInfo

    hub = BaseModelInfo("org/model", "hf_id", None, "llama", 9, 3, 576, 30)
    assert (
        nll_cache.cache_key(
            BaseModelRef("org/model", "hf_id", "org/model"), hub, examples, batch_size=4, device="cpu", dtype="float32"
        )
        is None
    )
    assert nll_cache.lookup(path, None, examples) == (None, nll_cache.UNCACHEABLE)


HEAVY = ("torch", "transformers", "peft", "trl")


def _heavy_after(code: str) -> list[str]:
    import subprocess
    import sys

    probe = f"{code}\nimport sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_commands_that_do_not_train_never_import_torch(tmp_path: Path) -> None:
    make_voice(tmp_path, documents=4)
    status = "\n".join(
        ["import sys", "from voiced.cli import main", "sys.argv = ['voiced', 'status']", "try:", "    main()"]
        + ["except SystemExit:", "    pass"]
    )
    assert _heavy_after(status) == []
    # What a daemon imports to start and to serve, and the `voiced train` parent (its child trains).
    modules = "voiced.daemon.server", "voiced.daemon.api", "voiced.cli.train_cmds", "voiced.daemon.training_job"
    assert _heavy_after("\n".join(f"import {m}" for m in modules)) == []


def test_the_voice_gate_reuses_the_base_models_rewrites_and_decides_the_same(tmp_path: Path) -> None:
    from engine_support import write_lora_gguf

    from voiced.daemon.training_job import _Job
    from voiced.evaluation import rewrite_cache
    from voiced.trainer.gate import GateResult

    config = make_voice(tmp_path)
    config.evaluation.gate_passages = 3
    config.evaluation.max_tokens = 32
    config.inference.n_threads = 1
    save_config(config)
    events: list[dict] = []
    job = _Job(config, "austen", {}, events.append, lambda: False, get_paths())
    dataset, _ = job._dataset()
    job.ref, job.info = job._base()
    candidate = write_lora_gguf(tmp_path / "candidate.gguf", seed=3)
    scored = GateResult(
        promote=True, reason="test NLL 2.4 beats the base model's 2.5", scores={"base": 2.5, "candidate": 2.4}
    )

    def gate() -> tuple[dict, dict]:
        events.clear()
        decided = job._promote_voice(scored, dataset, candidate, None, None)
        figures = {k: v for k, v in decided.voice.items() if k not in ("seconds", "base_rewrites")}
        return figures, _one(events, "base_rewrites")

    first, made = gate()
    assert made["cached"] == 0 and made["made"] >= 1
    cache = rewrite_cache.cache_path(get_paths(), "austen")
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    second, reused = gate()
    assert reused == {"event": "base_rewrites", "cached": made["made"], "made": 0}
    assert second == first  # the same figures and decision as when the base rewrote the drafts itself

    cache.write_text("[not json", encoding="utf-8")
    third, remade = gate()
    assert remade["cached"] == 0 and remade["made"] == made["made"] and third == first
    assert any("unreadable" in e.get("message", "") for e in events if e.get("event") == "warning")
    assert json.loads(cache.read_text())["schema"] == rewrite_cache.SCHEMA


def test_the_base_rewrites_cache_keeps_which_drafts_the_guard_gave_back(tmp_path: Path) -> None:
    """The gate judges what the writer is served, so a cached base-model side must say which of its
    "rewrites" were the guard giving the draft back; an entry that does not say is made again."""
    from voiced.evaluation.rewrite_cache import BaseRewrites

    cache = BaseRewrites(tmp_path / "base-rewrites.json", {"base": {"sha256": "0" * 64}})
    drafts = ["one draft.", "two drafts."]
    cache.put(drafts, ["One draft.", "two drafts."], {1: "names_dropped"})
    assert cache.get(drafts) == (["One draft.", "two drafts."], {1: "names_dropped"})
    assert cache.get(["another draft."]) is None

    stored = json.loads(cache.path.read_text(encoding="utf-8"))
    del stored["entries"][0]["kept_draft"]  # as an entry written before the gate judged guarded rewrites
    cache.path.write_text(json.dumps(stored), encoding="utf-8")
    assert cache.get(drafts) is None and "did not match its drafts" in cache.notes[-1]


def test_the_terminal_prints_each_phase_with_its_seconds_and_the_summary() -> None:
    import io

    from voiced.cli.train_cmds import PhaseProgress

    stream = io.StringIO()
    show = PhaseProgress(stream)
    for event in (
        {"event": "phase", "phase": "load"},
        {"event": "phase_done", "phase": "load", "seconds": 8.25},
        {"event": "base_nll", "source": nll_cache.HIT, "nll": 1.5, "tokens": 40},
        {"event": "phases", "phases": [{"phase": "load", "seconds": 8.25}], "total": 9.0, "model_loads": 1},
    ):
        show(event)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Loading the base model..." and lines[1] == "  Loading the base model: 8.2 s"
    assert "reused" in lines[2] and lines[3] == "Phases: load 8.2 s; total 9.0 s."
