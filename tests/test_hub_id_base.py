"""A voice whose base is a hub id (``OWNER/NAME``): transformers finds it in the Hugging Face cache, so a
model pulled once (here from the fake hub on loopback) loads for training and is served by transformers
with no network (``HF_HUB_OFFLINE``). In a child process, because huggingface_hub reads its environment
when it is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hub_support import HubRepo, running_hub, tiny_llama_files

from voiced.model_pull import pull_model

REPO_ID = "voiced-test/tiny"

CHILD = """
import json, threading
from voiced.inference.generation import GenerationParams
from voiced.inference.hf_backend import TransformersBackend
from voiced.models import resolve_base_model
from voiced.trainer.base_model import base_model_info, load_base_model
from voiced.trainer.serving import serving_runtime

ref = resolve_base_model("voiced-test/tiny")
model, tokenizer = load_base_model(ref)
batch = tokenizer(["the voice of a writer"], return_tensors="pt")
loss = model(**batch, labels=batch["input_ids"]).loss
loss.backward()  # what a training step needs: a loss with gradients through the loaded weights
backend = TransformersBackend(ref.location, n_ctx=64, n_threads=1)
params = GenerationParams(temperature=0.0, seed=1)
reply = "".join(backend.stream_chat([{"role": "user", "content": "the voice"}], params, 4, threading.Event()))
print(json.dumps({
    "kind": ref.kind, "info": base_model_info(ref).to_dict(), "loss": float(loss),
    "runtime": serving_runtime("voiced-test/tiny"), "reply_type": type(reply).__name__,
}))
"""


def test_a_hub_id_in_the_cache_trains_and_serves_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "hf-cache"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    for name in ("HF_ENDPOINT", "HF_TOKEN", "HF_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    with running_hub({REPO_ID: HubRepo(tiny_llama_files(tmp_path / "tiny"))}) as hub:
        pull_model(REPO_ID, endpoint=hub.url)
    env |= {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["kind"] == "hf_id" and out["runtime"] == "transformers"
    assert out["info"]["id"] == REPO_ID and out["info"]["architecture"] == "llama" and out["info"]["n_layers"] == 2
    assert out["loss"] > 0 and out["reply_type"] == "str"
