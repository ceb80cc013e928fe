"""`voiced adapters ...` end to end: the real CLI in a subprocess over a real registry."""

from __future__ import annotations

import json
from pathlib import Path

from adapter_support import real_adapter
from process_support import run_voiced

from voiced.config import Config, VoiceConfig, save_config
from voiced.registry import Registry


def two_versions(tmp_path: Path) -> Registry:
    save_config(Config(voices={"austen": VoiceConfig(name="austen")}))
    registry = Registry.open("austen")
    for number, (status, nll) in enumerate([("candidate", 2.31), ("rejected", 2.52)], start=1):
        version = registry.begin_version({"corpus": {"documents": 3, "passages": 40, "words": 1234 * number}})
        source = real_adapter(tmp_path / f"a{number}", seed=number)
        registry.finish_version(
            version,
            source,
            source / "adapter.gguf",
            {
                "status": status,
                "reason": "test NLL 2.520 is not better than active v1's 2.310" if number == 2 else "",
                "scores": {"test_nll": {"base": 2.6, "candidate": nll}},
                "losses": {"train": [[1, 3.0], [2, 2.5]], "valid": [[2, 2.7]]},
            },
        )
    registry.activate(1)
    return registry


def test_list_show_activate_rollback(tmp_path: Path) -> None:
    two_versions(tmp_path)
    listed = run_voiced("adapters", "list").stdout
    lines = listed.splitlines()
    assert "v1" in lines[1] and "active" in lines[1] and "1234" in lines[1] and "2.310 / base 2.600" in lines[1]
    assert "v2" in lines[2] and "rejected" in lines[2]
    assert "is not better than active v1's 2.310" in lines[3]
    as_json = json.loads(run_voiced("adapters", "list", "--json", "--voice", "austen").stdout)
    assert [(v["version"], v["status"]) for v in as_json] == [(1, "active"), (2, "rejected")]

    shown = run_voiced("adapters", "show", "2").stdout
    assert "v2 (rejected)" in shown and "words: 2468" in shown and "losses.train: 2 points, last [2, 2.5]" in shown

    assert "v2 is now the active adapter" in run_voiced("adapters", "activate", "2").stdout
    assert Registry.open("austen").active_version() == 2
    assert "now uses v1" in run_voiced("adapters", "rollback").stdout
    assert "now uses the base model alone" in run_voiced("adapters", "rollback").stdout
    failed = run_voiced("adapters", "rollback", check=False)
    assert failed.returncode == 1 and "no earlier active adapter" in failed.stderr


def test_remove_refuses_the_active_version_and_explains(tmp_path: Path) -> None:
    two_versions(tmp_path)
    refused = run_voiced("adapters", "remove", "1", check=False)
    assert refused.returncode == 1
    assert "v1 is the active adapter" in refused.stderr and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert Registry.open("austen").get(1).path.is_dir()
    assert "Removed v2. Active adapter: v1." in run_voiced("adapters", "remove", "2").stdout
    assert "Active adapter: none (base model)" in run_voiced("adapters", "remove", "1", "--force").stdout
    assert "has no adapters yet" in run_voiced("adapters", "list").stdout


def test_unknown_versions_and_voices_are_clear_errors(tmp_path: Path) -> None:
    two_versions(tmp_path)
    missing = run_voiced("adapters", "show", "7", check=False)
    assert missing.returncode == 1 and "no adapter version 7 (versions: v1, v2)" in missing.stderr
    voice = run_voiced("adapters", "list", "--voice", "nobody", check=False)
    assert voice.returncode == 1 and "no voice named 'nobody'" in voice.stderr
