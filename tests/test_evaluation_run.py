"""`voiced eval` and `voiced arena` on the real embedded model: rewrites, metrics, the HTML report, choices."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from engine_support import embedded_config, write_lora_gguf
from job_support import make_voice

from voiced.cli import main
from voiced.config import Config, save_config
from voiced.evaluation.arena import ArenaStore, Match, wilson_interval
from voiced.evaluation.arena_web import ArenaServer
from voiced.evaluation.report import render_html
from voiced.evaluation.run import CEILING, FLOOR, EvalPassage, EvalResult, Target, generate_outputs, score_outputs
from voiced.inference.engine import Engine
from voiced.inference.generation import GenerationParams
from voiced.reference_profiles import reference_profiles

PASSAGES = [
    EvalPassage(
        "anne said she <b>would</b> go to Bath on 3 june, but she dint want to.",
        "Anne said that she would go to Bath on the 3rd of June, though she did not wish it.",
    ),
    EvalPassage(
        "the captain come back after 8 years and every body was suprised.",
        "Captain Wentworth returned after eight years, to the surprise of everybody.",
    ),
]


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _register_version(tmp_path: Path, voice: str) -> int:
    from voiced.registry import Registry

    registry = Registry.open(voice)
    version = registry.begin_version({})
    peft = tmp_path / "peft"
    peft.mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (peft / name).write_bytes(b"{}")
    lora = write_lora_gguf(tmp_path / "lora.gguf")
    finished = registry.finish_version(
        version, peft, lora, {"status": "candidate", "losses": {"train": [[1, 3.1], [2, 2.7]], "valid": [[2, 2.9]]}}
    )
    return finished.number


def _voice_with_version(tmp_path: Path, max_tokens: int) -> int:
    """The Persuasion voice with short evaluation rewrites and one registered version."""
    config = make_voice(tmp_path)
    config.evaluation.max_tokens = max_tokens
    config.inference.n_threads = 1
    save_config(config)
    return _register_version(tmp_path, "austen")


def test_report_renders_metrics_plots_and_escaped_samples(tmp_path: Path) -> None:
    lora = write_lora_gguf(tmp_path / "lora.gguf")
    found = [Target("base"), Target("v1", 1, lora)]
    with Engine(embedded_config()) as engine:
        outputs = generate_outputs(
            engine, "default", found, PASSAGES, GenerationParams(temperature=0.0, seed=3, max_tokens=24)
        )
    assert all(len(outputs[label]) == 2 for label in ("base", "v1"))
    assert outputs["base"] != outputs["v1"]  # the adapter was switched in
    result = EvalResult(
        "default", PASSAGES, outputs, losses={"v1": {"train": [[1, 3.0], [2, 2.5]], "valid": [[2, 2.8]]}}
    )
    score_outputs(result, reference_profiles()["austen"], Config().evaluation)
    assert list(result.metrics) == [FLOOR, "base", "v1", CEILING]
    ceiling, floor = result.metrics[CEILING], result.metrics[FLOOR]
    assert ceiling["chrf"] == pytest.approx(100.0) and ceiling["rouge_l"] == pytest.approx(1.0)
    assert ceiling["length_ratio"] == pytest.approx(1.0) and ceiling["sentence_wasserstein"] == 0.0
    assert floor["chrf"] < 100 and floor["towards_char3"] == pytest.approx(0.0)
    html = render_html(result)
    parsed = Elements()
    parsed.feed(html)
    tags = [t for t, _ in parsed.tags]
    assert tags.count("table") == 2 and tags.count("img") == 1
    image = next(attrs for t, attrs in parsed.tags if t == "img")
    assert image["src"].startswith("data:image/png;base64,iVBOR")
    assert "<b>would</b>" not in html and "&lt;b&gt;would&lt;/b&gt;" in html
    assert "http" not in html.replace("http-equiv", "")  # nothing fetched from outside


def test_voiced_eval_cli_writes_report_and_json(tmp_path: Path) -> None:
    version = _voice_with_version(tmp_path, max_tokens=16)
    (tmp_path / "second").mkdir()
    second = _register_version(tmp_path / "second", "austen")
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--n",
            "2",
            "--adapter",
            str(second),
            "--adapter",
            str(version),
            "--no-nll",
            "--html",
            str(report),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"passages": 2' in result.output
    metrics = json.loads(result.output[result.output.index("{") :])["metrics"]
    assert list(metrics) == [FLOOR, "base", f"v{second}", f"v{version}", CEILING]  # each version asked for
    parsed = Elements()
    parsed.feed(report.read_text(encoding="utf-8"))
    assert [t for t, _ in parsed.tags].count("img") == 1  # the loss plot from the manifest
    assert report.stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_fit_uses_the_gates_nll(tmp_path: Path) -> None:
    from voiced.evaluation.run import fit_scores
    from voiced.trainer.dataset import build_voice_dataset

    config = make_voice(tmp_path)
    dataset, _ = build_voice_dataset(config, "austen")
    scores = fit_scores(config, "austen", dataset, [Target("base")], limit=3)
    assert 0.5 < scores["base"]["nll"] < 8 and scores["base"]["tokens"] > 20
    assert scores["base"]["perplexity"] == pytest.approx(2.718281828 ** scores["base"]["nll"], rel=1e-6)


def test_arena_in_the_terminal_records_choices(tmp_path: Path) -> None:
    version = _voice_with_version(tmp_path, max_tokens=12)
    result = CliRunner().invoke(main, ["arena", "--b", str(version), "--n", "2"], input="a\nt\n")
    assert result.exit_code == 0, result.output
    assert "win rate" in result.output and "1 preferences kept" in result.output
    store = ArenaStore.open()
    assert store.count("austen") == 2
    rates = store.win_rates("austen")
    assert set(rates) == {"base", f"v{version}"}
    assert rates["base"]["wins"] + rates[f"v{version}"]["wins"] == 1
    assert (Path(str(store.db.execute("PRAGMA database_list").fetchone()[2])).stat().st_mode & 0o777) == 0o600


def test_arena_web_requires_the_token_and_records(tmp_path: Path) -> None:
    store = ArenaStore(tmp_path / "arena.sqlite3")
    matches = [
        Match("rough <i>one</i>", "base", "plain one", "v2", "voiced one"),
        Match("rough two", "v2", "voiced two", "base", "plain two"),
    ]
    server = ArenaServer("default", matches, store)
    url = server.start()
    try:
        root = url.split("?")[0]
        assert httpx.get(root).status_code == 403
        assert httpx.get(root + "?token=wrong").status_code == 403
        assert httpx.post(root + "choose", data={"match": "0", "choice": "A"}).status_code == 403
        assert store.count("default") == 0
        page = httpx.get(url)
        assert page.status_code == 200 and "rough &lt;i&gt;one&lt;/i&gt;" in page.text
        token = url.split("token=")[1]
        chosen = httpx.post(f"{root}choose?token={token}", data={"match": "0", "choice": "B"})
        assert chosen.status_code == 303
        assert httpx.post(f"{root}choose?token={token}", data={"match": "0", "choice": "B"}).status_code == 409
        assert "rough two" in httpx.get(url).text
    finally:
        server.stop()
    assert store.preferences("default") == [("rough <i>one</i>", "voiced one", "plain one")]
    assert store.win_rates("default")["v2"]["wins"] == 1


def test_wilson_interval_by_hand() -> None:
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_voice_gate_compares_candidate_with_reference(tmp_path: Path) -> None:
    from voiced.evaluation.voice_gate import voice_regression

    settings = Config().evaluation
    settings.max_tokens = 16
    lora = write_lora_gguf(tmp_path / "lora.gguf")
    writer = reference_profiles()["austen"]
    with Engine(embedded_config()) as engine:
        same, reason, towards = voice_regression(engine, "default", PASSAGES, writer, settings, lora, lora)
        assert same and towards["candidate"] == pytest.approx(towards["reference"]) and "voice kept" in reason
        settings.voice_gate_tolerance = -1.0  # any candidate fails a gate that demands a gain of 1
        failed, reason, _ = voice_regression(engine, "default", PASSAGES, writer, settings, lora, None)
    assert not failed and "voice regressed" in reason


def test_the_first_target_is_rewritten_with_its_own_adapter(tmp_path: Path) -> None:
    """On a fresh engine the model loads lazily; an adapter set before that load used to give way to the
    registry's (none here), so the first target of an eval or the voice gate's reference was the base."""
    lora = write_lora_gguf(tmp_path / "lora.gguf")
    params = GenerationParams(temperature=0.0, seed=3, max_tokens=12)
    with Engine(embedded_config()) as engine:
        outputs = generate_outputs(engine, "default", [Target("v1", 1, lora), Target("base")], PASSAGES[:1], params)
    assert outputs["v1"] != outputs["base"]


def test_the_voice_gate_judges_the_rewrites_the_writer_is_served(tmp_path: Path) -> None:
    """The gate's engine has the writer's rewrite guard: a rewrite it rejects on every try is the draft given
    back, so it counts as a copy with no gain (the decision's wording is tests/test_voice_gate_decision.py's)."""
    from voiced.evaluation.voice_gate import run_voice_gate
    from voiced.inference.rewrite_guard import GuardLimits
    from voiced.trainer.dataset import build_voice_dataset

    config = make_voice(tmp_path)
    config.inference.n_threads = 1
    config.inference.guard_min_length_ratio = 50.0  # no rewrite is long enough: every one is rejected
    config.inference.guard_retries = 0
    config.evaluation.gate_passages = 2
    assert config.evaluation.max_tokens == 0  # each paragraph's whole budget: the guard judges every length
    save_config(config)
    dataset, _ = build_voice_dataset(config, "austen")
    lora = write_lora_gguf(tmp_path / "lora.gguf")
    with Engine(config, adapter_resolver=lambda _voice: None) as engine:
        decision = run_voice_gate(
            engine,
            "austen",
            dataset,
            config.evaluation,
            candidate=lora,
            reference=None,
            reference_label="the base model",
            limits=GuardLimits.from_settings(config.inference),
        )
    assert decision.passages == 2 and not decision.promote
    held_out = decision.held_out
    for side in ("reference", "candidate"):  # what came back is the draft: rejected, or copied by the model
        assert held_out[side]["copy"] == 1.0 and held_out[side]["chrf_gain"] == 0.0
    assert held_out["candidate"]["guard_kept_draft"] > 0 and held_out["reference"]["guard_kept_draft"] > 0
    # both sides give back every draft, so copying is not held against the candidate: it is just no better
    assert "are not closer to your own text than the base model's (chrF gain +0.0 against +0.0" in decision.reason
