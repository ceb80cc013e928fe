"""Download a base model from the Hugging Face hub into the hub's own cache: safetensors only, resumable, verified.

The files land where every Hugging Face tool looks (``HF_HUB_CACHE``, else
``HF_HOME/hub``, else ``~/.cache/huggingface/hub``) in the hub's layout:
``models--owner--name/blobs/<sha>``, ``snapshots/<commit>/<file>`` linking to
the blob, ``refs/<revision>`` holding the commit. So transformers, and voiced
through ``base_model = "<snapshot folder>"``, read the result with no network.

Only what a causal language model needs is fetched: the configuration, the
tokenizer files and the safetensors weights (for a sharded model, the shards its
``model.safetensors.index.json`` names). Pickle-based weights (``*.bin``,
``*.pt``, ``*.pth``, ``*.pkl``) are never fetched: loading them can run code.

Why httpx and not huggingface_hub's ``snapshot_download``: huggingface_hub
checks a download's size, not its SHA-256, before it moves the file into the
cache, so a corrupted file would become a snapshot file; it reports progress only
through a tqdm class, not a callback; and it is not among voiced's declared
dependencies (transformers brings it in). httpx is, and the protocol is two
requests: the revision's listing (commit, files, sizes, SHA-256) and one GET
per file. The cache layout, blob names and lock files are huggingface_hub's, so
both tools share one cache and never write the same file at once.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from voiced.errors import VoicedError
from voiced.private_files import PRIVATE_FILE_MODE, make_private_dirs, open_private, sync_folder, write_private

DEFAULT_ENDPOINT = "https://huggingface.co"
ENDPOINT_ENV = "HF_ENDPOINT"
TOKEN_ENV = "HF_TOKEN"

# The non-weight files a causal LM loads with (transformers' config, generation and tokenizer files).
MODEL_FILES = frozenset(
    {
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "tokenizer.model",
        "chat_template.jinja",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
    }
)
WEIGHTS_INDEX = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")

CHUNK_BYTES = 1 << 20
TIMEOUT = httpx.Timeout(30.0)  # per read, not per file: a slow large download is fine while bytes arrive
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a git commit or blob id, or a SHA-256
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a top-level file: no folder, drive or parent part

Progress = Callable[[dict], None]
_FIX_ENDPOINT = "Check HF_ENDPOINT (unset it for the public hub) and run the command again."


class ModelPullError(VoicedError):
    """A model that could not be downloaded: unknown, gated, not safetensors, unreachable, corrupted, no room."""


@dataclass(frozen=True)
class RepoFile:
    """One file of the revision as the listing describes it.

    ``blob`` is its name in the cache's ``blobs/``: the SHA-256 for an LFS file
    (the weights), the git blob id for a small one, as huggingface_hub names them.
    """

    name: str
    size: int
    blob: str
    sha256: str | None


def hub_cache_dir() -> Path:
    """The hub cache folder, read from the environment now (huggingface_hub reads it once, at import)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):  # the second is the older spelling, still honoured
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "huggingface" / "hub"


def repo_folder_name(repo_id: str) -> str:
    """``owner/name`` -> ``models--owner--name``, the cache's folder for a model repository."""
    return "models--" + repo_id.replace("/", "--")


def pull_model(
    repo_id: str,
    *,
    revision: str = "main",
    endpoint: str | None = None,
    progress: Callable[[dict], None] | None = None,
) -> Path:
    """Download ``repo_id``'s configuration, tokenizer and safetensors weights; returns the snapshot folder.

    ``endpoint`` defaults to ``HF_ENDPOINT``, then the public hub; ``HF_TOKEN``
    is sent when set. Files already in the cache are not fetched again; a file
    a previous run left half done resumes where it stopped.

    ``progress`` gets ``{"file", "done_bytes", "total_bytes", "file_done_bytes",
    "file_total_bytes"}``: ``done_bytes``/``total_bytes`` count over all the
    files (one bar), the ``file_`` pair over the file being fetched. Files found
    in the cache are reported once, complete, so the last call has
    ``done_bytes == total_bytes``.
    """
    if not _REPO_ID.fullmatch(repo_id):
        raise ModelPullError(
            f"{repo_id!r} is not a Hugging Face model id.", "Give it as owner/name, e.g. HuggingFaceTB/SmolLM2-135M."
        )
    if not revision or revision.startswith("/") or "\\" in revision or ":" in revision or ".." in revision.split("/"):
        raise ModelPullError(f"{revision!r} is not a revision.", "Give a branch, tag or commit, e.g. main.")
    base = (endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")
    cache = hub_cache_dir()
    try:
        with _client() as client:
            return _pull(client, base, repo_id, revision, cache, progress or (lambda event: None))
    except httpx.HTTPError as exc:  # the connection, a timeout, a redirect loop
        raise ModelPullError(
            f"The download from {base} failed: {str(exc) or type(exc).__name__}.",
            "Check the network connection (and HF_ENDPOINT, if set), then run the command again: "
            "files already downloaded are kept and a file cut off midway resumes where it stopped.",
        ) from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(cache) from exc
        raise ModelPullError(
            f"Cannot write the model into the cache {cache}: {exc.strerror or exc}.",
            "Check that the folder is yours and writable, or set HF_HUB_CACHE to another folder.",
        ) from exc


def _client() -> httpx.Client:
    """One connection pool for the listing and the files; redirects (to the hub's file storage) followed.

    httpx drops the Authorization header on a redirect to another host, so the
    token never reaches the storage the hub redirects to. ``identity`` keeps the
    bytes on the wire the file's own, which resuming by byte offset needs.
    """
    headers = {"Accept-Encoding": "identity", "User-Agent": "voiced"}
    token = os.environ.get(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(headers=headers, follow_redirects=True, timeout=TIMEOUT)


def _pull(client: httpx.Client, base: str, repo_id: str, revision: str, cache: Path, progress: Progress) -> Path:
    commit, listed = _list_revision(client, base, repo_id, revision)
    repo_dir = cache / repo_folder_name(repo_id)
    fetch = _Fetcher(client, base, repo_id, commit, repo_dir, cache / ".locks" / repo_folder_name(repo_id))
    names = _weight_files(listed, repo_id, lambda name: fetch.file(listed[name], _Tracker.silent()))
    # config.json last: a snapshot cut off midway has no config.json, so nothing takes it for a whole model
    names += sorted((name for name in MODEL_FILES if name in listed), key=lambda name: (name == "config.json", name))
    plan = [listed[name] for name in names]
    tracker = _Tracker(progress, total=sum(item.size for item in plan))
    _check_space(repo_dir, sum(item.size for item in plan if not fetch.cached(item)))
    for item in plan:
        fetch.file(item, tracker)
    if revision != commit:  # a revision given as the commit itself names no ref, as in huggingface_hub
        write_private(repo_dir / "refs" / revision, commit)
    return fetch.snapshot_dir


def _list_revision(client: httpx.Client, base: str, repo_id: str, revision: str) -> tuple[str, dict[str, RepoFile]]:
    """The revision's commit and its top-level files, with sizes and checksums (``blobs=true``)."""
    url = f"{base}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
    response = client.get(url, params={"blobs": "true"})
    _raise_for_status(response, repo_id, revision)
    try:
        info = response.json()
        commit = info.get("sha", "")
        files = {}
        for sibling in info.get("siblings", []):
            name = sibling.get("rfilename", "")
            if not _FILE_NAME.fullmatch(name):  # only the top level (subfolders hold other formats), plain names
                continue
            lfs = sibling.get("lfs") or {}
            sha256 = lfs.get("sha256")
            blob = sha256 or sibling.get("blobId", "")
            size = lfs.get("size", sibling.get("size"))
            if isinstance(blob, str) and _HEX.fullmatch(blob) and isinstance(size, int):
                files[name] = RepoFile(name, size, blob, sha256)
    except (ValueError, TypeError, AttributeError) as exc:  # not JSON, or not the listing's shape (a proxy's page)
        raise ModelPullError(
            f"{base} did not answer with a model listing for {repo_id} ({exc}).", _FIX_ENDPOINT
        ) from exc
    if not isinstance(commit, str) or not _HEX.fullmatch(commit):
        raise ModelPullError(f"{base} answered for {repo_id} without a commit id.", _FIX_ENDPOINT)
    return commit, files


def _raise_for_status(response: httpx.Response, repo_id: str, revision: str) -> None:
    """Turn the hub's refusals into what to do; the hub names the cause in ``X-Error-Code``."""
    if response.is_success:
        return
    code = response.headers.get("X-Error-Code", "")
    status = response.status_code
    if code == "RevisionNotFound":
        raise ModelPullError(
            f"{repo_id} has no revision {revision!r}.", "Give a branch, tag or commit the repository has."
        )
    if code == "EntryNotFound":
        raise ModelPullError(
            f"The hub lists {response.url.path.rsplit('/', 1)[-1]} in {repo_id} but does not serve it.",
            "Run the command again later.",
        )
    if code == "RepoNotFound" or status == 404:
        raise ModelPullError(
            f"There is no model {repo_id} on the hub (or it is private).",
            "Check the id (owner/name, as on the model's page); for a private model set HF_TOKEN to a token "
            "that can read it.",
        )
    if status in (401, 403):
        has_token = bool(os.environ.get(TOKEN_ENV))
        raise ModelPullError(
            f"{repo_id} needs access the hub did not grant"
            + (" to the token in HF_TOKEN." if has_token else " (no token was sent)."),
            "Accept the model's terms on its page if it is gated, create a read token in your hub account "
            "settings and set HF_TOKEN to it, then run the command again.",
        )
    raise ModelPullError(f"The hub answered {status} for {response.url}.", "Run the command again later.")


def _weight_files(listed: dict[str, RepoFile], repo_id: str, read: Callable[[str], Path]) -> list[str]:
    """The safetensors to fetch: the shards the index names when there is one, else every top-level one.

    The index decides because some repositories also keep the same weights in
    another single file (``consolidated.safetensors``), which would double the download.
    """
    if WEIGHTS_INDEX in listed:
        try:
            shards = sorted(set(json.loads(read(WEIGHTS_INDEX).read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            raise ModelPullError(
                f"{repo_id}'s {WEIGHTS_INDEX} is not a weights index ({exc}).", "Pick another revision or model."
            ) from exc
        missing = [name for name in shards if not isinstance(name, str) or name not in listed]
        if missing or not shards:
            named = f"shards the repository does not list: {', '.join(missing)}" if missing else "no shards"
            raise ModelPullError(
                f"{repo_id}'s {WEIGHTS_INDEX} names {named}.",
                "The repository is incomplete; pick another revision or model.",
            )
        return [WEIGHTS_INDEX, *shards]
    weights = sorted(name for name in listed if name.endswith(".safetensors"))
    if not weights:
        pickled = sorted(name for name in listed if name.endswith(PICKLE_SUFFIXES))
        raise ModelPullError(
            f"{repo_id} has no safetensors weights"
            + (f" (only {', '.join(pickled)})" if pickled else "")
            + "; voiced loads only safetensors, because loading pickled weights can run code.",
            "Pick a model that publishes *.safetensors (most do), or convert these weights to safetensors yourself.",
        )
    return weights


class _Fetcher:
    """Fetches one revision's files into blobs/ and links them from snapshots/<commit>/."""

    def __init__(
        self, client: httpx.Client, base: str, repo_id: str, commit: str, repo_dir: Path, locks_dir: Path
    ) -> None:
        self.client, self.base, self.repo_id, self.commit = client, base, repo_id, commit
        self.blobs_dir = repo_dir / "blobs"
        self.snapshot_dir = repo_dir / "snapshots" / commit
        self.locks_dir = locks_dir

    def cached(self, item: RepoFile) -> bool:
        """A blob exists only once verified (it is renamed into place after its checksum), so its size suffices."""
        blob = self.blobs_dir / item.blob
        return blob.is_file() and blob.stat().st_size == item.size

    def file(self, item: RepoFile, tracker: _Tracker) -> Path:
        """The file in the snapshot, fetched unless its blob is already there."""
        with self._locked(item):  # another pull (voiced or huggingface_hub) of the same blob waits here
            if self.cached(item):
                tracker.report(item.name, item.size, item.size)
            else:
                self._download(item, tracker)
        link = self.snapshot_dir / item.name
        _link(link, self.blobs_dir / item.blob)
        tracker.finished(item.size)
        return link

    @contextmanager
    def _locked(self, item: RepoFile) -> Iterator[None]:
        from filelock import FileLock  # huggingface_hub's own lock: an flock on POSIX, msvcrt on Windows

        _make_dirs(self.locks_dir)
        with FileLock(self.locks_dir / f"{item.blob}.lock", mode=PRIVATE_FILE_MODE):
            yield

    def _download(self, item: RepoFile, tracker: _Tracker) -> None:
        """Append to ``<blob>.incomplete`` from where it stopped, verify it, then rename it into blobs/."""
        _make_dirs(self.blobs_dir)
        partial = self.blobs_dir / f"{item.blob}.incomplete"
        offset = partial.stat().st_size if partial.exists() else 0
        if offset < item.size or not partial.exists():
            url = f"{self.base}/{self.repo_id}/resolve/{self.commit}/{quote(item.name)}"
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            with self.client.stream("GET", url, headers=headers) as response:
                _raise_for_status(response, self.repo_id, self.commit)
                resumed = offset > 0 and response.status_code == 206  # a 200 is the whole file: start over
                _write_body(response, partial, offset if resumed else 0, item, tracker)
        _verify(partial, item, self.base)
        os.replace(partial, self.blobs_dir / item.blob)
        sync_folder(self.blobs_dir)


def _write_body(response: httpx.Response, partial: Path, offset: int, item: RepoFile, tracker: _Tracker) -> None:
    """Write the body to ``partial`` after its first ``offset`` bytes, each chunk as it comes, so a cut keeps them."""
    fd = open_private(partial, os.O_WRONLY | (os.O_APPEND if offset else os.O_TRUNC))
    with os.fdopen(fd, "wb") as out:
        done = offset
        tracker.report(item.name, done, item.size)
        for chunk in response.iter_raw():  # as they arrive: a chunk size would buffer, and a cut would lose the buffer
            out.write(chunk)
            done += len(chunk)
            tracker.report(item.name, done, item.size)
        out.flush()
        os.fsync(out.fileno())


def _verify(partial: Path, item: RepoFile, base: str) -> None:
    """Check a finished download against the listing: SHA-256 for LFS files, the git blob id for small ones.

    A short file is a download cut off (kept, to resume); anything else that
    differs is corrupt and deleted, so the next run fetches it afresh.
    """
    size = partial.stat().st_size
    if size < item.size:
        raise ModelPullError(
            f"The download of {item.name} stopped at {size} of {item.size} bytes.",
            "Run the command again: it resumes where it stopped.",
        )
    if item.sha256:
        kind, digest = "sha256", _digest(partial, hashlib.sha256())
    else:  # git's id of a file: the sha1 of a "blob <size>\0" header and the bytes
        kind, digest = "git blob id", _digest(partial, hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False))
    if size != item.size or digest != item.blob:
        partial.unlink()
        raise ModelPullError(
            f"{item.name} from {base} does not match its {kind} (expected {item.blob}, got {digest}, "
            f"{size} of {item.size} bytes); the bad download was deleted.",
            "Run the command again to fetch it afresh; if it fails again, something between you and the hub "
            "(a proxy, or the mirror in HF_ENDPOINT) is altering files.",
        )


def _digest(path: Path, digest: hashlib._Hash) -> str:
    """``digest`` fed the file's bytes, in chunks (``hashlib.file_digest`` is Python 3.11+)."""
    with path.open("rb") as stream:
        while block := stream.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _make_dirs(folder: Path) -> None:
    """Missing levels are made 0700; folders that exist are left as they are (a cache shared with other users
    or tools keeps its modes: weights are not private, and another user's folder is not ours to change)."""
    if not folder.is_dir():
        make_private_dirs(folder)


def _link(link: Path, blob: Path) -> None:
    """Point ``snapshots/<commit>/<name>`` at its blob by a relative symlink, swapped in atomically."""
    _make_dirs(link.parent)
    target = os.path.relpath(blob, link.parent)
    if link.is_symlink() and os.readlink(link) == target:
        return
    temporary = link.with_name(f".{link.name}.{os.getpid()}.link")  # two pulls of one repository at once
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    os.replace(temporary, link)


def _check_space(repo_dir: Path, needed: int) -> None:
    """Refuse before downloading when the disk cannot hold what is left to fetch."""
    existing = next(folder for folder in (repo_dir, *repo_dir.parents) if folder.exists())
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise _disk_full(repo_dir.parent, f": {needed / 1e9:.1f} GB are to be fetched and {free / 1e9:.1f} GB are free")


def _disk_full(cache: Path, detail: str = "") -> ModelPullError:
    return ModelPullError(
        f"There is not enough room on the disk holding the model cache {cache}{detail}.",
        "Free some space, or set HF_HUB_CACHE to a folder on a larger disk, and run the command again "
        "(a file cut off midway resumes).",
    )


class _Tracker:
    """Turns per-file byte counts into the overall count the progress callback gets."""

    def __init__(self, callback: Progress, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    @classmethod
    def silent(cls) -> _Tracker:
        """For the weights index, fetched before the total is known: it is reported again, as cached, in the plan."""
        return cls(lambda event: None, 0)

    def report(self, name: str, file_done: int, file_total: int) -> None:
        self.callback(
            {
                "file": name,
                "done_bytes": self.done + file_done,
                "total_bytes": self.total,
                "file_done_bytes": file_done,
                "file_total_bytes": file_total,
            }
        )

    def finished(self, size: int) -> None:
        self.done += size
