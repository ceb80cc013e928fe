"""A real daemon process with the real embedded model: lifecycle, auth, generation, limits, crashes.

Each daemon runs as `python -m voiced daemon ...` in its own VOICED_HOME, on
an OS-assigned loopback port. Requests ask for few tokens so the model's part
stays short; waits poll with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from process_support import kill9, wait_for

from voiced.config import Config, VoiceConfig, load_config, save_config
from voiced.daemon.client import DaemonClient, DaemonError, DaemonUnavailable
from voiced.daemon.process import answers
from voiced.daemon.state import live_record, log_path, read_record, record_path
from voiced.paths import Paths

VOICE = "me"
BROKEN = "broken"
PROSE = "The rain had stopped by the time Anne reached the gate."


def home_paths(home: Path) -> Paths:
    return Paths(home / "config", home / "data", home / "state", home / "cache")


def write_config(home: Path, folders: list[str] | None = None, broken_model: Path | None = None) -> Paths:
    """One voice on the embedded model; with ``broken_model``, a second voice whose model cannot load."""
    paths = home_paths(home)
    config = Config(voices={VOICE: VoiceConfig(name=VOICE, folders=folders or [])})
    if broken_model is not None:
        config.voices[BROKEN] = VoiceConfig(name=BROKEN, base_model=str(broken_model))
    config.daemon.max_body_bytes = 20_000
    config.daemon.max_text_chars = 500
    config.daemon.start_timeout_seconds = 120
    config.inference.continue_tokens = 6  # requests that set no max_tokens (the CLI's) stay short
    config.inference.max_tokens_factor = 0.5
    config.inference.max_tokens_extra = 2
    config.inference.guard = False  # streamed token by token; the guard holds a paragraph (test_rewrite_guard_*.py)
    save_config(config, paths)
    return paths


def voiced(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "VOICED_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "voiced", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """One daemon shared by the tests that only send requests."""
    home = tmp_path_factory.mktemp("daemon-home")
    writing = home / "writing"
    writing.mkdir()
    (writing / "first.md").write_text("# Notes\n\n" + PROSE + " She did not look back at the house.\n")
    junk = home / "junk.gguf"
    junk.write_bytes(b"this is not a model")
    paths = write_config(home, [str(writing)], broken_model=junk)
    started = voiced(home, "daemon", "start")
    assert started.returncode == 0, started.stderr
    record = read_record(paths)
    yield home, paths, record
    stopped = voiced(home, "daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr


def _http(record, token: str | None = "default") -> httpx.Client:
    headers = {} if token is None else {"Authorization": f"Bearer {record.token if token == 'default' else token}"}
    return httpx.Client(base_url=record.base_url, headers=headers, timeout=120)


def test_record_is_private_and_the_token_is_required(daemon):
    home, paths, record = daemon
    assert stat.S_IMODE(record_path(paths).stat().st_mode) == 0o600
    data = json.loads(record_path(paths).read_text())
    assert set(data) >= {"token", "port", "pid", "started_at"} and data["port"] > 0
    assert record.host == "127.0.0.1" and len(record.token) >= 32
    with _http(record, None) as anonymous, _http(record, "wrong-token") as wrong, _http(record) as good:
        assert anonymous.get("/v1/status").status_code == 401
        assert wrong.get("/v1/status").status_code == 401
        assert wrong.post("/v1/rewrite", json={"text": PROSE}).status_code == 401
        status = good.get("/v1/status").json()
    assert status["pid"] == record.pid and status["voices"] == [VOICE, BROKEN] and status["engine_error"] is None


def test_rewrite_json_and_streaming_with_the_real_model(daemon):
    _, _, record = daemon
    with DaemonClient(record) as client:
        text = client.rewrite(VOICE, PROSE, max_tokens=8, temperature=0)
        pieces = list(client.stream_rewrite(VOICE, PROSE, max_tokens=8, temperature=0))
    assert text.strip()
    assert len(pieces) >= 2 and "".join(pieces) == text  # greedy: the same text, in pieces


def test_openai_chat_completions_plain_and_streamed(daemon):
    _, _, record = daemon
    body = {
        "model": VOICE,
        "max_tokens": 6,
        "temperature": 0,
        "messages": [{"role": "user", "content": "Describe the sea in one sentence."}],
    }
    with _http(record) as http:
        assert [m["id"] for m in http.get("/v1/models").json()["data"]] == [VOICE, BROKEN]
        answer = http.post("/v1/chat/completions", json=body).json()
        content = answer["choices"][0]["message"]["content"]
        assert answer["object"] == "chat.completion" and content.strip()
        with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == content
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_limits_and_bad_requests_on_the_live_server(daemon):
    _, _, record = daemon
    with _http(record) as http:
        too_big = http.post("/v1/rewrite", json={"text": "x" * 30_000})
        too_long = http.post("/v1/rewrite", json={"text": "word " * 200})
        empty = http.post("/v1/rewrite", json={"text": ""})
        malformed = http.post("/v1/rewrite", content=b"{'text': 1", headers={"Content-Type": "application/json"})
        unknown = http.post("/v1/rewrite", json={"text": PROSE, "voice": "stranger"})
    assert too_big.status_code == 413 and "max_body_bytes" in too_big.json()["error"]["message"]
    assert too_long.status_code == 422 and "at most 500" in too_long.json()["error"]["message"]
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["error"]["message"]
    assert unknown.status_code == 404 and "stranger" in unknown.json()["error"]["message"]


def test_cancel_by_request_id_stops_a_real_generation(daemon):
    _, paths, record = daemon
    with DaemonClient(record) as reader, DaemonClient(record) as canceller:
        pieces = reader.stream_continue(VOICE, PROSE, request_id="stop-me", max_tokens=1500)
        assert next(pieces)
        assert canceller.cancel("stop-me") is True
        with pytest.raises(DaemonError) as excinfo:
            for _ in pieces:
                pass
        assert excinfo.value.code == "cancelled"  # stopped by someone else: never taken for complete
        assert canceller.cancel("stop-me") is False  # already over
        assert canceller.status()["requests_in_flight"] == 0
        # cancelled through the same client: the caller knows, the stream just ends
        mine = reader.stream_continue(VOICE, PROSE, request_id="mine", max_tokens=1500)
        assert next(mine)
        assert reader.cancel("mine") is True
        list(mine)  # ends without raising
    assert "request mine ended: cancelled" in log_path(paths).read_text()


def test_a_model_that_cannot_load_is_503_with_the_engine_message(daemon):
    _, _, record = daemon
    with _http(record) as http:
        response = http.post("/v1/rewrite", json={"text": PROSE, "voice": BROKEN})
        assert response.status_code == 503
        assert "junk.gguf" in response.json()["error"]["message"]
        assert http.post("/v1/rewrite", json={"text": PROSE, "voice": VOICE, "max_tokens": 2}).status_code == 200


def test_a_client_leaving_a_stream_cancels_the_generation(daemon):
    _, paths, record = daemon
    body = {"text": PROSE, "voice": VOICE, "stream": True, "max_tokens": 1500, "request_id": "leaver-1"}
    with _http(record) as http:
        with http.stream("POST", "/v1/continue", json=body) as response:
            lines = response.iter_lines()
            assert json.loads(next(lines))["type"] == "start"
            assert json.loads(next(lines))["type"] == "piece"
        # the connection is closed here, long before 1500 tokens
        wait_for(
            lambda: "request leaver-1 ended: cancelled" in log_path(paths).read_text(),
            "the daemon to log the cancelled request",
            timeout=60,
        )
        assert http.get("/v1/status").json()["requests_in_flight"] == 0


def test_the_daemon_keeps_the_corpus_current(daemon):
    home, _, record = daemon

    def documents() -> int:
        with _http(record) as http:
            voices = http.get("/v1/corpus").json()["voices"]
        return voices.get(VOICE, {}).get("documents", 0)

    wait_for(lambda: documents() == 1, "the start-up scan to record first.md", timeout=60)
    (home / "writing" / "second.md").write_text("The letter lay unopened on the table for three whole days.\n")
    wait_for(lambda: documents() == 2, "the watcher to record second.md", timeout=60)
    with _http(record) as http:
        watch = http.get("/v1/status").json()["corpus_watch"]
    assert watch["watching"] and watch["changes"] >= 1


def test_the_daemon_follows_folders_added_and_removed_while_it_runs(daemon):
    home, paths, record = daemon
    later = home / "later"
    later.mkdir()

    def passages_in_later() -> int:
        with _http(record) as http:
            folders = http.get("/v1/corpus").json()["voices"].get(VOICE, {}).get("folders", {})
        return sum(stats["passages"] for folder, stats in folders.items() if Path(folder).name == "later")

    added = voiced(home, "add", str(later), "--voice", VOICE, timeout=60)
    assert added.returncode == 0, added.stderr
    (later / "note.md").write_text(
        "# Harbour\n\nThe boats came in late that evening, low in the water and quiet, and nobody on the "
        "quay said a word until the last of them was tied up and the lamps were lit along the wall.\n"
    )
    first = wait_for(passages_in_later, "the passages of a note in a folder added while the daemon runs", timeout=60)
    (later / "second.md").write_text(
        "By morning the wind had turned, and the same boats lay on their sides in the mud, their ropes slack, "
        "while the gulls walked between them as if the whole harbour belonged to them alone.\n"
    )
    wait_for(lambda: passages_in_later() > first, "the watcher to follow edits inside the added folder", timeout=60)
    removed = voiced(home, "remove", str(later), timeout=60)
    assert removed.returncode == 0, removed.stderr
    wait_for(lambda: passages_in_later() == 0, "the removed folder's passages to leave the corpus", timeout=60)
    assert "configuration reloaded" in log_path(paths).read_text()


def test_limits_inference_and_schedule_apply_without_a_restart(daemon):
    """A hand edit of [daemon] max_text_chars, [inference] n_threads and [scheduler] nightly_at reaches
    the running daemon: the new limit refuses a text the old one took, the model is let go to be opened
    with the new threads, the schedule moves; putting the file back restores them."""
    _, paths, record = daemon
    original = load_config(paths)
    text = "word " * 70  # 350 characters: within the fixture's 500, beyond 300

    def answer() -> httpx.Response:
        with _http(record) as http:
            return http.post("/v1/rewrite", json={"text": text, "voice": VOICE, "max_tokens": 1})

    def status() -> dict:
        with _http(record) as http:
            return http.get("/v1/status").json()

    def loaded() -> bool:
        return status()["engine"][VOICE]["loaded"]

    assert answer().status_code == 200 and loaded()
    changed = load_config(paths)
    changed.daemon.max_text_chars = 300
    changed.inference.n_threads = 1
    changed.scheduler.nightly_at = "04:15"
    try:
        save_config(changed, paths)
        message = wait_for(
            lambda: (r := answer()).status_code == 422 and r.json()["error"]["message"],
            "the new max_text_chars to apply",
            timeout=30,
        )
        assert "at most 300" in message
        assert not loaded()  # opened again, with one thread, by the next request
        assert status()["scheduler"]["nightly_at"] == "04:15"
    finally:
        save_config(original, paths)
    wait_for(lambda: answer().status_code == 200, "the original limit to come back", timeout=30)
    assert loaded() and status()["scheduler"]["nightly_at"] == original.scheduler.nightly_at


def test_cli_rewrite_streams_through_the_daemon(daemon):
    home, _, _ = daemon
    result = subprocess.run(
        [sys.executable, "-m", "voiced", "rewrite", "--voice", VOICE, "-"],
        input=PROSE,
        capture_output=True,
        text=True,
        env={**os.environ, "VOICED_HOME": str(home)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


# --- lifecycle: each test has its own home (the autouse VOICED_HOME) and its own daemon ---------


def test_two_daemons_at_once_one_wins(voiced_home: Path):
    paths = write_config(voiced_home)
    command = [sys.executable, "-m", "voiced", "daemon", "run"]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        loser = wait_for(
            lambda: next((p for p in both if p.poll() is not None), None),
            "one of the two daemons to give up",
            timeout=120,
        )
        winner = next(p for p in both if p is not loser)
        assert loser.returncode == 1
        assert "already running" in loser.stderr.read()
        record = wait_for(lambda: live_record(paths), "the winner's record", timeout=60)
        assert record.pid == winner.pid and answers(record)
    finally:
        for process in both:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    assert winner.returncode == 0
    assert not record_path(paths).exists()  # a clean exit removes the record


def test_stale_record_after_kill9_is_replaced_by_the_next_start(voiced_home: Path):
    paths = write_config(voiced_home)
    assert voiced(voiced_home, "daemon", "start").returncode == 0
    first = read_record(paths)
    kill9(first.pid, paths)
    assert read_record(paths) == first  # the crash left its record behind
    status = voiced(voiced_home, "daemon", "status")
    assert "not running" in status.stdout and "crashed daemon" in status.stdout
    started = voiced(voiced_home, "daemon", "start")
    assert started.returncode == 0, started.stderr
    second = read_record(paths)
    try:
        assert second.pid != first.pid and second.token != first.token and answers(second)
        assert f"pid {second.pid}" in voiced(voiced_home, "daemon", "status").stdout
        restarted = voiced(voiced_home, "daemon", "restart")
        assert restarted.returncode == 0 and f"stopped (pid {second.pid})" in restarted.stdout
        third = read_record(paths)
        assert third.pid != second.pid and answers(third)
    finally:
        stopped = voiced(voiced_home, "daemon", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert live_record(paths) is None
    logs = voiced(voiced_home, "daemon", "logs", "-n", "200")
    assert logs.stdout.count("listening on 127.0.0.1:") == 3  # every start, from the log file


def test_connect_says_clearly_when_the_daemon_cannot_start(voiced_home: Path):
    with pytest.raises(DaemonUnavailable) as excinfo:
        DaemonClient.connect(start_if_needed=True)  # no configuration yet
    message = str(excinfo.value)
    assert "did not start" in message and "voiced init" in message
    with pytest.raises(DaemonUnavailable, match="not running"):
        DaemonClient.connect(start_if_needed=False)


def test_a_host_other_than_loopback_is_refused(voiced_home: Path):
    from voiced.config import load_config

    paths = write_config(voiced_home)
    config = load_config(paths)
    config.daemon.host = "0.0.0.0"
    save_config(config, paths)
    result = voiced(voiced_home, "daemon", "run")
    assert result.returncode == 1
    assert "only listens on this machine" in result.stderr and "127.0.0.1" in result.stderr
    assert read_record(paths) is None


def test_daemon_killed_mid_request_gives_a_clear_error_and_the_next_start_recovers(voiced_home: Path):
    write_config(voiced_home)
    client = DaemonClient.connect(start_if_needed=True)
    pid = client.record.pid
    try:
        pieces = client.stream_continue(VOICE, PROSE, max_tokens=1500)
        assert next(pieces)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(DaemonUnavailable) as excinfo:
            for _ in pieces:
                pass
        assert "the voiced daemon stopped while continuing the text; run `voiced daemon start`" in str(excinfo.value)
    finally:
        client.close()
    with DaemonClient.connect(start_if_needed=True) as again:
        assert again.record.pid != pid
        assert again.status()["voices"] == [VOICE]
        again_pid = again.record.pid
    os.kill(again_pid, signal.SIGTERM)
    wait_for(lambda: live_record() is None, "the daemon to stop", timeout=30)
