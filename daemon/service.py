"""Run the daemon at login: a systemd user unit on Linux, a launchd agent on macOS.

Writers take the target directory as an argument (tests write into temp
dirs; VOICED_HOME does not move systemd's or launchd's folders). Activation
(systemctl / launchctl) is a separate step the CLI runs when the tool exists.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import sys
from pathlib import Path

UNIT_NAME = "voiced.service"
AGENT_LABEL = "org.voiced.daemon"


def voiced_executable() -> Path:
    """The `voiced` script beside this interpreter (the venv's), absolute."""
    beside = Path(sys.executable).parent / "voiced"
    found = beside if beside.exists() else Path(shutil.which("voiced") or beside)
    return found.absolute()


def systemd_unit_text(executable: Path) -> str:
    return (
        "[Unit]\n"
        "Description=voiced: rewrite in your own voice (local model daemon)\n"
        "After=default.target\n\n"
        "[Service]\n"
        f"ExecStart={executable} daemon run\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "Nice=5\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launchd_plist_bytes(executable: Path, log_dir: Path) -> bytes:
    return plistlib.dumps(
        {
            "Label": AGENT_LABEL,
            "ProgramArguments": [str(executable), "daemon", "run"],
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ProcessType": "Background",
            "StandardOutPath": str(log_dir / "launchd.log"),
            "StandardErrorPath": str(log_dir / "launchd.log"),
        }
    )


def default_service_dir() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "LaunchAgents"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"


def service_file(directory: Path) -> Path:
    return directory / (f"{AGENT_LABEL}.plist" if sys.platform == "darwin" else UNIT_NAME)


def write_service(directory: Path, executable: Path, log_dir: Path, *, platform: str = sys.platform) -> Path:
    """Write the unit (Linux) or the agent plist (macOS) into ``directory``; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    if platform == "darwin":
        target = directory / f"{AGENT_LABEL}.plist"
        target.write_bytes(launchd_plist_bytes(executable, log_dir))
    else:
        target = directory / UNIT_NAME
        target.write_text(systemd_unit_text(executable), encoding="utf-8")
    return target


def activation_commands(target: Path, *, platform: str = sys.platform, install: bool = True) -> list[list[str]]:
    """The commands that (de)activate the written service."""
    if platform == "darwin":
        return [["launchctl", "load" if install else "unload", "-w", str(target)]]
    if install:
        return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT_NAME]]
    return [["systemctl", "--user", "disable", "--now", UNIT_NAME], ["systemctl", "--user", "daemon-reload"]]


def remove_service(directory: Path, *, platform: str = sys.platform) -> Path | None:
    target = directory / (f"{AGENT_LABEL}.plist" if platform == "darwin" else UNIT_NAME)
    if not target.exists():
        return None
    target.unlink()
    return target
