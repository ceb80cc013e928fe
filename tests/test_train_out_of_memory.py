"""Out of memory: a real allocator failure ends training with a message that says what to change.

The CPU allocator does not raise torch.OutOfMemoryError but a RuntimeError
("DefaultCPUAllocator: can't allocate memory"), so the trainer must recognise
it by its words. The training test runs in a child process whose address space
is capped just above what it has mapped once the model is loaded: the first
large activation cannot be allocated, and nothing else on the machine feels it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voiced.trainer.peft_backend import is_out_of_memory

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import resource, sys

import torch

from tests.train_support import fast_settings, load_embedded
from voiced.trainer.results import TrainingError
from voiced.trainer.training import train

model, _ = load_embedded()
torch.set_num_threads(1)
with torch.no_grad():  # torch's thread pool and allocator are set up before the cap
    model(input_ids=torch.tensor([[1, 2, 3]]))
mapped = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
cap = mapped + (256 << 20)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
ids = list(range(1000, 2024))  # 8 rows x 1,024 tokens: far more than 256 MB of activations
examples = [{"input_ids": ids, "labels": ids} for _ in range(8)]
try:
    train(model, examples, [], fast_settings(batch_size=8, max_steps=1), sys.argv[1])
except TrainingError as exc:
    print("TrainingError:", exc)
    sys.exit(3)
print("trained without running out of memory")
"""


def test_a_real_cpu_allocation_failure_is_recognised():
    import torch

    with pytest.raises(RuntimeError) as caught:
        torch.empty(10**13)  # 40 TB: the CPU allocator refuses at once
    assert is_out_of_memory(caught.value)
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only allocator errors' types


def test_training_that_runs_out_of_memory_says_what_to_change(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "run")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 3, done.stdout + done.stderr[-3000:]
    message = done.stdout.strip().splitlines()[-1]
    assert "ran out of memory at step 1 (batch size 8)" in message
    assert "`training.batch_size`" in message and "`dataset.max_example_tokens`" in message
    assert not (tmp_path / "run" / "best").exists()  # nothing half-written is left as an adapter


def test_the_job_explains_an_allocation_failure_outside_the_loop():
    import torch

    from voiced.daemon.training_job import _expected, _failure_reason

    with pytest.raises(RuntimeError) as caught:
        torch.empty(10**13)
    assert _expected(caught.value)  # the CLI prints the reason, not a traceback
    reason = _failure_reason(caught.value)
    assert reason.startswith("Out of memory; close other programs")
    assert "can't allocate memory" in reason
    assert _failure_reason(RuntimeError("boom")) == "unexpected error: RuntimeError: boom"
