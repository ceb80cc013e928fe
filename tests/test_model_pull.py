"""`pull_model` against a fake hub on loopback (tests/hub_support.py): a tiny Llama saved by transformers, sharded,
is fetched into the hub cache layout that transformers and huggingface_hub read; cut, corrupted, refused and
unauthorised downloads fail with what to do, and a cut one resumes by a Range request."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_support import FakeHub, HubRepo, closed_port_url, git_blob_id, running_hub, tiny_llama_files

from voiced.model_pull import ModelPullError, pull_model

TINY = "voiced-test/tiny"
GATED = "voiced-test/gated"
PICKLED = "voiced-test/pickled"
HUGE = "voiced-test/huge"
# In the repository but never to be fetched: pickled and other-format weights, a second copy of the
# weights beside the shards, and what a model loader never reads.
NOT_FETCHED = ("pytorch_model.bin", "consolidated.safetensors", "README.md", ".gitattributes", "onnx/model.onnx")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A two-layer Llama with a word-level tokenizer, saved by transformers in shards: its files by name."""
    files = tiny_llama_files(tmp_path_factory.mktemp("tiny"))
    assert "model.safetensors.index.json" in files and sum(name.endswith(".safetensors") for name in files) >= 2
    return files


def shards(files: dict[str, bytes]) -> list[str]:
    return sorted(name for name in files if name.endswith(".safetensors"))


@pytest.fixture
def hub(tiny_model: dict[str, bytes]) -> Iterator[FakeHub]:
    extras = {name: f"not for voiced: {name}".encode() for name in NOT_FETCHED}
    single = {"config.json": tiny_model["config.json"], "model.safetensors": tiny_model[shards(tiny_model)[0]]}
    repos = {
        TINY: HubRepo({**tiny_model, **extras}),
        GATED: HubRepo(single, commit="fedcba9876543210fedcba9876543210fedcba98", token="hf_granted"),
        PICKLED: HubRepo({"config.json": b"{}", "pytorch_model.bin": b"pickle"}),
        HUGE: HubRepo(single, listed_sizes={"model.safetensors": 10**18}),  # an exabyte: more than any test disk
    }
    with running_hub(repos) as running:
        yield running


@pytest.fixture(autouse=True)
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hub cache in the test's folder, no token, no endpoint from the environment."""
    for name in ("HF_TOKEN", "HF_ENDPOINT", "HF_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "hf-cache"


def wanted(files: dict[str, bytes]) -> set[str]:
    return {name for name in files if name not in NOT_FETCHED}


def test_a_pull_fills_the_hub_cache_layout_that_transformers_and_huggingface_hub_read(
    hub: FakeHub, hub_cache: Path, tiny_model: dict[str, bytes]
) -> None:
    import huggingface_hub
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from voiced.models import resolve_base_model

    events: list[dict] = []
    snapshot = pull_model(TINY, endpoint=hub.url, progress=events.append)

    repo = hub.repos[TINY]
    repo_dir = hub_cache / "models--voiced-test--tiny"
    assert snapshot == repo_dir / "snapshots" / repo.commit
    assert (repo_dir / "refs" / "main").read_text() == repo.commit
    assert {path.name for path in snapshot.iterdir()} == wanted(tiny_model)
    for name in wanted(tiny_model):
        link = snapshot / name
        blob = repo.sibling(name).get("lfs", {}).get("sha256") or git_blob_id(tiny_model[name])
        assert link.is_symlink() and os.readlink(link) == f"../../blobs/{blob}"
        assert link.read_bytes() == tiny_model[name]
    assert not list(repo_dir.glob("blobs/*.incomplete"))
    assert {item.file for item in hub.downloads() if item.file} == wanted(tiny_model)  # nothing else was fetched

    total = sum(len(tiny_model[name]) for name in wanted(tiny_model))
    assert events[-1]["done_bytes"] == events[-1]["total_bytes"] == total
    assert [event["done_bytes"] for event in events] == sorted(event["done_bytes"] for event in events)
    assert all(0 <= event["file_done_bytes"] <= event["file_total_bytes"] for event in events)

    # transformers reads the snapshot folder, and the repository id from the cache, with no network
    assert AutoConfig.from_pretrained(snapshot, local_files_only=True).hidden_size == 32
    assert AutoConfig.from_pretrained(TINY, cache_dir=hub_cache, local_files_only=True).hidden_size == 32  # refs/main
    tokenizer = AutoTokenizer.from_pretrained(snapshot, local_files_only=True)
    assert tokenizer.convert_ids_to_tokens(tokenizer("the voice of a writer")["input_ids"])[-1] == "writer"
    model = AutoModelForCausalLM.from_pretrained(snapshot, local_files_only=True)
    shard = shards(tiny_model)[0]
    with safe_open(str(snapshot / shard), "pt") as weights:
        key = next(iter(weights.keys()))
        assert torch.equal(model.state_dict()[key], weights.get_tensor(key))
    # huggingface_hub sees a complete snapshot in its own cache
    assert huggingface_hub.snapshot_download(TINY, cache_dir=hub_cache, local_files_only=True) == str(snapshot)
    assert resolve_base_model(str(snapshot)).kind == "hf_dir"


def test_a_second_pull_downloads_nothing_and_still_reports_the_whole(hub: FakeHub, tiny_model: dict) -> None:
    first = pull_model(TINY, endpoint=hub.url)
    hub.served.clear()
    events: list[dict] = []
    assert pull_model(TINY, endpoint=hub.url, progress=events.append) == first
    assert not hub.downloads(), [item.path for item in hub.downloads()]
    assert events[-1]["done_bytes"] == events[-1]["total_bytes"] > 0


def test_a_download_cut_midway_resumes_with_a_range_request(
    hub: FakeHub, hub_cache: Path, tiny_model: dict[str, bytes]
) -> None:
    shard = shards(tiny_model)[-1]
    size = len(tiny_model[shard])
    hub.cut[shard] = size // 2
    with pytest.raises(ModelPullError) as cut:
        pull_model(TINY, endpoint=hub.url)
    assert "run the command again" in cut.value.fix and "resumes" in cut.value.fix
    sha256 = hashlib.sha256(tiny_model[shard]).hexdigest()
    blobs = hub_cache / "models--voiced-test--tiny" / "blobs"
    assert (blobs / f"{sha256}.incomplete").stat().st_size == size // 2
    assert not (blobs / sha256).exists()
    assert not (blobs.parent / "snapshots" / hub.repos[TINY].commit / shard).exists()

    snapshot = pull_model(TINY, endpoint=hub.url)
    served = hub.fetched(shard)
    assert [item.range for item in served] == [None, f"bytes={size // 2}-"]
    assert [item.status for item in served] == [200, 206]
    assert sum(item.body_bytes for item in served) == size  # one file's bytes in all, not one and a half
    assert (snapshot / shard).read_bytes() == tiny_model[shard]


@pytest.mark.parametrize("name", ["model-00001-of-00002.safetensors", "config.json"], ids=["lfs", "small"])
def test_a_corrupted_download_fails_its_checksum_and_leaves_no_file(
    hub: FakeHub, hub_cache: Path, tiny_model: dict[str, bytes], name: str
) -> None:
    assert name in tiny_model
    hub.corrupt.add(name)
    with pytest.raises(ModelPullError) as bad:
        pull_model(TINY, endpoint=hub.url)
    assert name in bad.value.message and "deleted" in bad.value.message
    assert ("sha256" if name.endswith(".safetensors") else "git blob id") in bad.value.message
    repo_dir = hub_cache / "models--voiced-test--tiny"
    assert not (repo_dir / "snapshots" / hub.repos[TINY].commit / name).exists()
    blob = hub.repos[TINY].sibling(name).get("lfs", {}).get("sha256") or git_blob_id(tiny_model[name])
    assert not (repo_dir / "blobs" / blob).exists() and not (repo_dir / "blobs" / f"{blob}.incomplete").exists()

    hub.corrupt.clear()  # served right, the next run fetches it afresh
    assert (pull_model(TINY, endpoint=hub.url) / name).read_bytes() == tiny_model[name]


def test_a_repository_without_safetensors_is_refused_before_any_download(hub: FakeHub, hub_cache: Path) -> None:
    with pytest.raises(ModelPullError) as refused:
        pull_model(PICKLED, endpoint=hub.url)
    assert "pytorch_model.bin" in refused.value.message and "only safetensors" in refused.value.message
    assert not hub.downloads()
    assert not (hub_cache / "models--voiced-test--pickled").exists()


def test_a_model_larger_than_the_free_disk_space_is_refused_before_any_download(hub: FakeHub) -> None:
    with pytest.raises(ModelPullError) as full:
        pull_model(HUGE, endpoint=hub.url)
    assert "not enough room" in full.value.message and "1000000000.0 GB are to be fetched" in full.value.message
    assert "HF_HUB_CACHE" in full.value.fix
    assert not hub.downloads()


def test_an_unknown_repository_or_revision_says_so(hub: FakeHub) -> None:
    with pytest.raises(ModelPullError) as unknown:
        pull_model("voiced-test/missing", endpoint=hub.url)
    assert "no model voiced-test/missing" in unknown.value.message and "HF_TOKEN" in unknown.value.fix
    with pytest.raises(ModelPullError) as revision:
        pull_model(TINY, revision="v9", endpoint=hub.url)
    assert "no revision 'v9'" in revision.value.message


def test_a_gated_repository_asks_for_hf_token_and_the_token_is_sent(
    hub: FakeHub, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelPullError) as refused:
        pull_model(GATED, endpoint=hub.url)
    assert "no token was sent" in refused.value.message and "set HF_TOKEN" in refused.value.fix

    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(ModelPullError) as wrong:
        pull_model(GATED, endpoint=hub.url)
    assert "the token in HF_TOKEN" in wrong.value.message

    monkeypatch.setenv("HF_TOKEN", "hf_granted")
    hub.served.clear()
    snapshot = pull_model(GATED, endpoint=hub.url)  # one model.safetensors, no index
    assert {path.name for path in snapshot.iterdir()} == {"config.json", "model.safetensors"}
    to_hub = [item for item in hub.served if not item.path.startswith("/cdn/")]
    to_storage = [item for item in hub.served if item.path.startswith("/cdn/")]
    assert to_hub and all(item.authorization == "Bearer hf_granted" for item in to_hub)
    assert to_storage and all(item.authorization is None for item in to_storage)  # the token stays with the hub


def test_the_endpoint_and_cache_come_from_the_environment(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url + "/")
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    snapshot = pull_model(TINY)
    assert snapshot.parent.parent == tmp_path / "hf-home" / "hub" / "models--voiced-test--tiny"


def test_an_unreachable_hub_says_to_check_the_network() -> None:
    with pytest.raises(ModelPullError) as down:
        pull_model(TINY, endpoint=closed_port_url())
    assert "failed" in down.value.message and "network" in down.value.fix


@pytest.mark.parametrize("repo_id", ["tiny", "a/b/c", "../x", "a/.."])
def test_an_id_that_is_not_owner_slash_name_is_refused(repo_id: str) -> None:
    with pytest.raises(ModelPullError, match="not a Hugging Face model id"):
        pull_model(repo_id, endpoint=closed_port_url())


def test_a_page_that_is_not_a_listing_is_a_clear_error(hub_cache: Path) -> None:
    """A proxy or a wrong HF_ENDPOINT that answers 200 with a web page, or JSON of another shape."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies = [b"<html><body>Sign in to the network</body></html>", b"[1, 2, 3]", b'{"sha": 7, "siblings": [4]}']

    class Portal(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies[0]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        while bodies:
            with pytest.raises(ModelPullError, match="did not answer with a model listing|without a commit id"):
                pull_model(TINY, endpoint=f"http://127.0.0.1:{server.server_address[1]}")
            bodies.pop(0)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert not hub_cache.exists() or not any(hub_cache.rglob("*.safetensors"))


@pytest.mark.parametrize("revision", ["/tmp/elsewhere", "..", "a\\b", "C:main"])
def test_a_revision_that_names_a_path_is_refused(revision: str, hub: FakeHub) -> None:
    with pytest.raises(ModelPullError, match="is not a revision"):
        pull_model(TINY, revision=revision, endpoint=hub.url)
    assert not hub.downloads()


def test_a_shared_cache_keeps_its_folder_modes(hub: FakeHub, hub_cache: Path) -> None:
    """Folders that exist (a cache other users or tools share) are not narrowed; new ones are private."""
    repo_dir = hub_cache / "models--voiced-test--tiny"
    (repo_dir / "blobs").mkdir(parents=True)
    for folder in (hub_cache, repo_dir, repo_dir / "blobs"):
        folder.chmod(0o775)
    snapshot = pull_model(TINY, endpoint=hub.url)
    assert all((folder.stat().st_mode & 0o777) == 0o775 for folder in (hub_cache, repo_dir, repo_dir / "blobs"))
    assert snapshot.stat().st_mode & 0o077 == 0  # made by the pull: the user's alone
