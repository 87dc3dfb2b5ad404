"""The Hugging Face cache layout, read and written without huggingface_hub.

::

    <cache>/models--org--name/
    ├── blobs/<etag>                      file contents, named by ETag: sha256 for LFS files,
    │                                     git blob sha1 for the others
    ├── snapshots/<commit>/<path>         relative symlinks to ../../blobs/<etag>
    ├── refs/<branch-or-tag>              the commit the ref pointed to at the last download
    └── trees/<commit>.json               the file listing of that commit (huggingface_hub's
                                          tree cache, format_version 1)
    <cache>/.locks/models--org--name/<etag>.lock

huggingface_hub writes it for remote sources; zoolab writes the same thing for the local registry
so transformers, timm and keras-hub reuse either. Every visible file appears by an atomic rename
of a complete, verified temporary file, so an interrupted download never leaves a corrupt one.

Cache folders: the ``hf`` source uses the standard cache (``HF_HUB_CACHE``, shared with
transformers); every other source has its own cache of the same layout in
``<HF_HUB_CACHE>/../zoolab-hub/<source>/`` because the layout has no room for the endpoint and two
sources may hold different repos under the same id.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from zoolab import settings
from zoolab.errors import IntegrityError
from zoolab.hub.refs import cache_folder_name

TREE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TreeEntry:
    """One file of a cached tree listing."""

    size: int
    blob_id: str
    lfs_sha256: str | None = None

    @property
    def etag(self) -> str:
        """The blob's name in the cache: sha256 for LFS files, git sha1 otherwise."""
        return self.lfs_sha256 or self.blob_id


def cache_dir(source: str) -> Path:
    """The download cache of ``source`` (see the module docstring for why they differ)."""
    hub = settings.hf_hub_cache()
    return hub if source == "hf" else hub.parent / "zoolab-hub" / source


def all_cache_dirs() -> dict[str, Path]:
    """Every existing cache folder, by source name."""
    out = {"hf": cache_dir("hf")}
    extra = settings.hf_hub_cache().parent / "zoolab-hub"
    if extra.is_dir():
        for child in sorted(extra.iterdir()):
            if child.is_dir():
                out[child.name] = child
    return {k: v for k, v in out.items() if v.is_dir()}


def storage_folder(source: str, repo_id: str, repo_type: str = "model") -> Path:
    """``<cache>/models--org--name`` (``datasets--org--name``) of ``repo_id`` in the cache of ``source``."""
    return cache_dir(source) / cache_folder_name(repo_id, repo_type)


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_ref(storage: Path, revision: str) -> str | None:
    """The commit cached for branch or tag ``revision``, or None."""
    try:
        value = (storage / "refs" / revision).read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return None
    return value or None


def write_ref(storage: Path, revision: str, commit: str) -> None:
    """Record that ``revision`` pointed to ``commit`` (atomic: readers never see an empty ref)."""
    if read_ref(storage, revision) != commit:
        _atomic_write_text(storage / "refs" / revision, commit)


def read_tree(storage: Path, commit: str) -> dict[str, TreeEntry] | None:
    """The cached file listing of ``commit``, or None when it was never written or is unreadable."""
    try:
        data = json.loads((storage / "trees" / f"{commit}.json").read_text(encoding="utf-8"))
        return {
            path: TreeEntry(size=int(info["size"]), blob_id=str(info["blob_id"]), lfs_sha256=info.get("lfs_sha256"))
            for path, info in data["files"].items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_tree(storage: Path, commit: str, entries: dict[str, TreeEntry]) -> None:
    """Cache the file listing of ``commit`` in huggingface_hub's tree-cache format."""
    files = {}
    for path, e in sorted(entries.items()):
        info: dict = {"size": e.size, "blob_id": e.blob_id}
        if e.lfs_sha256:
            info.update(lfs_sha256=e.lfs_sha256, lfs_size=e.size)
        files[path] = info
    _atomic_write_text(storage / "trees" / f"{commit}.json", json.dumps({"format_version": TREE_FORMAT_VERSION, "files": files}, indent=1))


def snapshot_files(snapshot: Path) -> list[str]:
    """Repository paths present (and resolving to an existing blob) in a snapshot folder."""
    if not snapshot.is_dir():
        return []
    out = []
    for root, _dirs, names in os.walk(snapshot):
        for name in names:
            full = Path(root, name)
            if full.exists():
                out.append(full.relative_to(snapshot).as_posix())
    return sorted(out)


def missing_files(snapshot: Path, wanted: Iterable[str]) -> list[str]:
    """Which of ``wanted`` are not (or not completely) in the snapshot folder."""
    return [f for f in wanted if not (snapshot / f).exists()]


def git_blob_sha1(path: Path) -> str:
    """The git blob id of a file: ``sha1(b"blob <size>\\0" + content)``."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def blob_matches(path: Path, etag: str) -> bool:
    """True when the file's content hashes to ``etag`` (sha256 for 64 hex, git sha1 for 40)."""
    if len(etag) == 64:
        return sha256_file(path) == etag
    if len(etag) == 40:
        return git_blob_sha1(path) == etag
    return True  # not a content hash (some servers send opaque ETags): nothing to check against


def lock_path(storage: Path, etag: str) -> Path:
    """The lock file huggingface_hub uses for this blob, so both take the same lock."""
    return storage.parent / ".locks" / storage.name / f"{etag}.lock"


def put_blob(storage: Path, etag: str, src: Path, *, progress: Callable[[int], None] | None = None) -> Path:
    """Copy ``src`` into ``blobs/<etag>`` unless it is there, verifying the hash before it appears.

    Another process copying the same blob waits on the same lock and then finds it done.
    ``progress(n)`` is called with the number of bytes of each chunk copied.
    """
    from filelock import FileLock

    blob = storage / "blobs" / etag
    if blob.exists():
        return blob
    lock = lock_path(storage, etag)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        if blob.exists():
            return blob
        blob.parent.mkdir(parents=True, exist_ok=True)
        tmp = blob.with_name(blob.name + ".incomplete")
        with src.open("rb") as fin, tmp.open("wb") as fout:
            while True:
                chunk = fin.read(1 << 20)
                if not chunk:
                    break
                fout.write(chunk)
                if progress is not None:
                    progress(len(chunk))
            fout.flush()
            os.fsync(fout.fileno())
        if not blob_matches(tmp, etag):
            tmp.unlink(missing_ok=True)
            raise IntegrityError(f"copy of {src} does not match its hash {etag}", hint="run `zoolab cache verify`")
        os.chmod(tmp, 0o644)
        os.replace(tmp, blob)
    return blob


def link_snapshot(storage: Path, commit: str, path: str, etag: str) -> Path:
    """Make ``snapshots/<commit>/<path>`` a relative symlink to ``blobs/<etag>`` (atomically)."""
    pointer = storage / "snapshots" / commit / path
    pointer.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(storage / "blobs" / etag, pointer.parent)
    if pointer.is_symlink() and os.readlink(pointer) == target:
        return pointer
    tmp = pointer.with_name(f".{pointer.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, pointer)
    return pointer


def link_stays_inside(folder: Path, path: Path) -> bool:
    """True when ``path`` (inside ``folder``) resolves inside ``folder``, or, for a snapshot of
    this layout, into its repository's ``blobs/`` (where every snapshot link points)."""
    root = folder.resolve()
    target = path.resolve()
    roots = [root] + ([root.parent.parent / "blobs"] if root.parent.name == "snapshots" else [])
    return any(target.is_relative_to(r) for r in roots)
