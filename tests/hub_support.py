"""A fake Hugging Face hub on loopback: the revision listing and the file downloads, answered as the hub does.

``GET /api/models/<id>/revision/<rev>?blobs=true`` lists the commit and each file's size, git blob id
and, for LFS files, SHA-256; ``GET /<id>/resolve/<commit>/<file>`` serves a small file itself and
redirects an LFS file to ``/cdn/<sha256>`` under another host name, as the hub redirects to its storage. Both honour
``Range: bytes=N-``. Every request is recorded, with the body bytes sent, so a test can say what was
fetched; ``cut`` and ``corrupt`` make the next download of a file break in the two ways a real one does.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin")  # what a model repository's .gitattributes sends to LFS


@dataclass
class HubRepo:
    """A repository at one commit; ``token`` set means it answers 401 to any other bearer token."""

    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    token: str | None = None
    listed_sizes: dict[str, int] = field(default_factory=dict)  # sizes the listing claims instead of the real ones

    def sibling(self, name: str) -> dict:
        data = self.files[name]
        size = self.listed_sizes.get(name, len(data))
        entry: dict = {"rfilename": name, "size": size, "blobId": git_blob_id(data)}
        if name.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": size, "pointerSize": 134}
        return entry


@dataclass
class Served:
    """One request the hub answered."""

    path: str
    range: str | None
    authorization: str | None
    status: int
    file: str | None = None  # the repository file whose bytes the answer carried
    body_bytes: int = 0


@dataclass
class FakeHub:
    repos: dict[str, HubRepo]
    url: str = ""
    served: list[Served] = field(default_factory=list)
    cut: dict[str, int] = field(default_factory=dict)  # file -> bytes sent before the connection drops (once)
    corrupt: set[str] = field(default_factory=set)  # files served with one byte changed

    @property
    def storage_url(self) -> str:
        """Where LFS files are redirected: the same server under another name, so another origin, as the hub's."""
        return self.url.replace("127.0.0.1", "localhost")

    def fetched(self, name: str) -> list[Served]:
        """The answers that carried file ``name``'s bytes (for an LFS file, at the redirect's target)."""
        return [item for item in self.served if item.file == name]

    def downloads(self) -> list[Served]:
        return [item for item in self.served if not item.path.startswith("/api/")]

    def find(self, sha256: str) -> tuple[str, bytes]:
        for repo in self.repos.values():
            for name, data in repo.files.items():
                if hashlib.sha256(data).hexdigest() == sha256:
                    return name, data
        raise KeyError(sha256)


def tiny_llama_files(folder: Path) -> dict[str, bytes]:
    """A two-layer Llama with a word-level tokenizer, saved by transformers in shards: its files by name."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>", *"the voice of a writer is in the rhythm of their sentences".split()]
    vocab = {word: number for number, word in enumerate(dict.fromkeys(words))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder, max_shard_size="40KB")
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@contextmanager
def running_hub(repos: dict[str, HubRepo]) -> Iterator[FakeHub]:
    """Serve ``repos`` on 127.0.0.1 at a free port for the block."""
    hub = FakeHub(repos)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url() -> str:
    """An address where nothing listens: a port the system just handed out and took back."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


_API = re.compile(r"/api/models/([^/]+/[^/]+)/revision/([^/?]+)")
_RESOLVE = re.compile(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)")
_CDN = re.compile(r"/cdn/([0-9a-f]{64})")


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and a Content-Length on every answer, as the hub

        def log_message(self, format: str, *args: object) -> None:  # quiet: pytest shows failures
            pass

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            self.record = Served(path, self.headers.get("Range"), self.headers.get("Authorization"), 0)
            hub.served.append(self.record)
            if match := _CDN.fullmatch(path):
                self.file(*hub.find(match[1]))
            elif match := _API.fullmatch(path):
                self.listing(match[1], match[2])
            elif match := _RESOLVE.fullmatch(path):
                self.resolve(match[1], match[2], match[3])
            else:
                self.answer(404, b"{}", {"X-Error-Code": "EntryNotFound"})

        def repo(self, repo_id: str) -> HubRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self.answer(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
            elif repo.token and self.headers.get("Authorization") != f"Bearer {repo.token}":
                self.answer(401, b'{"error": "Access to this model is restricted"}', {"X-Error-Code": "GatedRepo"})
                return None
            return repo

        def listing(self, repo_id: str, revision: str) -> None:
            repo = self.repo(repo_id)
            if repo is None:
                return
            if revision not in ("main", repo.commit):
                self.answer(404, b"{}", {"X-Error-Code": "RevisionNotFound"})
                return
            siblings = [repo.sibling(name) for name in sorted(repo.files)]
            body = json.dumps({"id": repo_id, "sha": repo.commit, "siblings": siblings}).encode()
            self.answer(200, body, {"Content-Type": "application/json"})

        def resolve(self, repo_id: str, commit: str, name: str) -> None:
            repo = self.repo(repo_id)
            if repo is None:
                return
            if commit != repo.commit or name not in repo.files:
                self.answer(404, b"{}", {"X-Error-Code": "EntryNotFound"})
            elif name.endswith(LFS_SUFFIXES):
                sha256 = hashlib.sha256(repo.files[name]).hexdigest()
                self.answer(302, b"", {"Location": f"{hub.storage_url}/cdn/{sha256}"})
            else:
                self.file(name, repo.files[name])

        def file(self, name: str, data: bytes) -> None:
            self.record.file = name
            if name in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-")) if "Range" in self.headers else 0
            headers = {"Content-Type": "application/octet-stream", "ETag": f'"{git_blob_id(data)}"'}
            if start:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            body = data[start:]
            cut = hub.cut.pop(name, None)
            self.answer(206 if start else 200, body if cut is None else body[:cut], headers, length=len(body))
            if cut is not None:  # the rest never comes: the peer closes midway
                self.connection.shutdown(socket.SHUT_WR)
                self.close_connection = True

        def answer(self, status: int, body: bytes, headers: dict[str, str], *, length: int | None = None) -> None:
            self.record.status = status
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.record.body_bytes = len(body)

    return Handler
