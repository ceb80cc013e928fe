"""The daemon follows its config file: a changed file is applied, an invalid one is ignored.

End to end (a real daemon, `voiced add` and `voiced remove`) in test_daemon_process.py.
"""

from __future__ import annotations

from pathlib import Path

from process_support import wait_for

from voiced.config import Config, VoiceConfig, load_config, save_config
from voiced.daemon.config_watch import ConfigWatch
from voiced.paths import Paths


def test_the_daemon_reloads_a_changed_config_file_and_keeps_the_old_one_when_invalid(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "config", tmp_path / "data", tmp_path / "state", tmp_path / "cache")
    save_config(Config(voices={"v": VoiceConfig(name="v")}), paths)
    seen: list[Config] = []
    watch = ConfigWatch(paths, load_config(paths), seen.append, quiet_seconds=0.05)
    watch.start()
    try:
        save_config(Config(voices={"v": VoiceConfig(name="v", folders=[str(tmp_path)])}), paths)
        wait_for(lambda: seen, "the changed configuration")
        assert seen[-1].voices["v"].folders == [str(tmp_path)]
        paths.config_file.write_text("[voices.v\nbroken", encoding="utf-8")
        wait_for(lambda: watch.error, "the invalid file to be noticed")
        assert len(seen) == 1  # the daemon keeps what it had
        save_config(seen[-1], paths)  # the same content again: nothing to apply
        wait_for(lambda: watch.error is None, "the file to be read again")
        assert len(seen) == 1 and watch.reloads == 1
    finally:
        watch.stop()
