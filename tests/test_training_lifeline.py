"""A training run never outlives the process that started it, and one voice never trains twice at once.

Real processes: a parent that starts a child through ``voiced.trainer.lifeline`` and is killed with
SIGKILL (each guard alone: the pipe, and Linux's parent-death signal), and runs that hold the voice's
training lock in another process.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from process_support import gone, wait_for

from voiced.paths import get_paths
from voiced.registry import Registry
from voiced.trainer.voice_lock import TrainingRunning, lock_path, running_training, training_lock

CHILD = textwrap.dedent("""
    import sys, time
    from voiced.trainer import lifeline
    parent = int(sys.argv[sys.argv.index("--parent") + 1])
    if sys.argv[1] == "pipe":
        lifeline.arm(None, sys.stdin.fileno())
    else:
        lifeline.arm(parent, None)
    print("armed", flush=True)
    time.sleep(120)
""")

PARENT = textwrap.dedent("""
    import sys, time
    from voiced.trainer import lifeline
    child = lifeline.spawn([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    print(child.pid, flush=True)
    time.sleep(120)
""")


@pytest.mark.parametrize("guard", ["pipe", "pdeathsig"])
def test_a_child_dies_when_its_parent_is_killed(guard: str) -> None:
    if guard == "pdeathsig" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, guard], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "armed"
        time.sleep(0.3)
        assert not gone(child)  # a live parent keeps it alive
        parent.kill()
        parent.wait()
        wait_for(lambda: gone(child), f"the child to die with its parent ({guard})", timeout=5)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


HOLDER = textwrap.dedent("""
    import time
    from voiced.paths import get_paths
    from voiced.trainer.voice_lock import training_lock
    with training_lock("austen", get_paths()):
        print("held", flush=True)
        time.sleep(120)
""")


def test_a_second_run_of_a_voice_is_refused_while_the_first_lives() -> None:
    paths = get_paths()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert holder.stdout.readline().strip() == "held"
        assert running_training("austen", paths) == holder.pid
        assert running_training("other", paths) is None
        assert stat.S_IMODE(lock_path("austen", paths).stat().st_mode) == 0o600
        with pytest.raises(TrainingRunning) as refused:
            with training_lock("austen", paths):
                raise AssertionError("a second run was let in")
        assert f"Training for voice 'austen' is already running (pid {holder.pid})" in str(refused.value)
        with training_lock("other", paths):  # another voice trains meanwhile
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert running_training("austen", paths) is None  # the kernel let go of the lock with the process
        with training_lock("austen", paths):
            assert running_training("austen", paths) == os.getpid()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_taking_the_lock_fails_versions_left_training_by_a_run_that_is_gone() -> None:
    registry = Registry.open("austen")
    left = registry.begin_version({})  # "training", with a pid that still answers (this process)
    assert Registry.open("austen").get(left.number).status == "training"
    with training_lock("austen", get_paths()):
        version = Registry.open("austen").get(left.number)
        assert version.status == "failed" and "interrupted" in version.reason
