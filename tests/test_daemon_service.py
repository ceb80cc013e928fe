"""`voiced daemon install|uninstall`: the systemd unit and launchd plist texts, written into temp dirs."""

from __future__ import annotations

import plistlib
from pathlib import Path

from process_support import run_voiced

from voiced.daemon.service import activation_commands, remove_service, voiced_executable, write_service


def test_systemd_unit_runs_the_venv_voiced_and_restarts_on_failure(tmp_path: Path) -> None:
    exe = voiced_executable()
    target = write_service(tmp_path / "systemd" / "user", exe, tmp_path / "logs", platform="linux")
    text = target.read_text()
    assert target.name == "voiced.service" and exe.is_absolute()
    assert f"ExecStart={exe} daemon run\n" in text and "Restart=on-failure\n" in text
    assert "WantedBy=default.target" in text
    assert activation_commands(target, platform="linux")[-1] == [
        "systemctl",
        "--user",
        "enable",
        "--now",
        "voiced.service",
    ]
    assert remove_service(target.parent, platform="linux") == target and not target.exists()
    assert remove_service(target.parent, platform="linux") is None


def test_launchd_plist_round_trips(tmp_path: Path) -> None:
    target = write_service(tmp_path, Path("/opt/venv/bin/voiced"), tmp_path / "logs", platform="darwin")
    agent = plistlib.loads(target.read_bytes())
    assert agent["ProgramArguments"] == ["/opt/venv/bin/voiced", "daemon", "run"]
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["Label"] == target.stem
    assert activation_commands(target, platform="darwin") == [["launchctl", "load", "-w", str(target)]]


def test_install_and_uninstall_commands_without_systemctl(tmp_path: Path) -> None:
    folder = tmp_path / "units"
    out = run_voiced("daemon", "install", "--dir", str(folder), "--no-activate").stdout
    unit = folder / "voiced.service"
    assert f"Wrote {unit}" in out and "systemctl --user enable --now voiced.service" in out
    assert "daemon run" in unit.read_text()
    out = run_voiced("daemon", "uninstall", "--dir", str(folder), "--no-activate").stdout
    assert "systemctl --user disable --now voiced.service" in out and not unit.exists()
    assert "Nothing to remove" in run_voiced("daemon", "uninstall", "--dir", str(folder), "--no-activate").stdout
