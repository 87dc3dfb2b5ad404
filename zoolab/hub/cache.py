"""``zoolab cache``: list, remove, prune and verify the download caches of every source.

Works on the Hugging Face cache layout (see :mod:`zoolab.hub.layout`), so it also sees and
manages what transformers or timm downloaded into the standard cache.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from zoolab.errors import InvalidInputError, NotFoundError
from zoolab.hub import layout
from zoolab.hub.refs import is_commit, parse_ref
from zoolab.hub.types import CachedRepo, CachedRevision


def _repo_id(folder: Path) -> str | None:
    if not folder.name.startswith("models--"):
        return None
    return folder.name[len("models--"):].replace("--", "/")


def _refs(storage: Path) -> dict[str, list[str]]:
    """commit -> ref names (``main``, ``v1.0``, ``refs/pr/1``)."""
    out: dict[str, list[str]] = {}
    root = storage / "refs"
    if root.is_dir():
        for ref in sorted(p for p in root.rglob("*") if p.is_file()):
            commit = layout.read_ref(storage, ref.relative_to(root).as_posix())
            if commit:
                out.setdefault(commit, []).append(ref.relative_to(root).as_posix())
    return out


def _blob_sizes(storage: Path, snapshot: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for root, _d, names in os.walk(snapshot):
        for name in names:
            p = Path(root, name)
            target = p.resolve()
            if target.exists():
                sizes[str(target)] = target.stat().st_size
    return sizes


def scan(source: str | None = None) -> list[CachedRepo]:
    """Every cached repository (of one source or all), with its revisions and sizes."""
    dirs = layout.all_cache_dirs()
    if source is not None:
        dirs = {source: layout.cache_dir(source)} if layout.cache_dir(source).is_dir() else {}
    repos = []
    for name, cache in dirs.items():
        for storage in sorted(cache.iterdir()):
            repo_id = _repo_id(storage)
            if repo_id is None or not storage.is_dir():
                continue
            refs = _refs(storage)
            revisions = []
            snaps = storage / "snapshots"
            for snap in sorted(snaps.iterdir()) if snaps.is_dir() else []:
                sizes = _blob_sizes(storage, snap)
                revisions.append(CachedRevision(commit=snap.name, refs=refs.get(snap.name, []),
                                                size=sum(sizes.values()), files=len(layout.snapshot_files(snap))))
            blobs = storage / "blobs"
            size = sum(b.stat().st_size for b in blobs.iterdir() if b.is_file()) if blobs.is_dir() else 0
            accessed = max((b.stat().st_atime for b in blobs.iterdir()), default=None) if blobs.is_dir() else None
            repos.append(CachedRepo(
                repo_id=repo_id, source=name, path=storage, size=size, revisions=revisions,
                last_accessed=datetime.fromtimestamp(accessed, timezone.utc) if accessed else None,
            ))
    return repos


def _matching(repo: str) -> list[CachedRepo]:
    source, repo_id = parse_ref(repo)
    found = [r for r in scan(source) if r.repo_id == repo_id]
    if not found:
        raise NotFoundError(f"{repo} is not in any download cache", hint="see `zoolab cache ls`")
    return found


def _gc_blobs(storage: Path) -> int:
    """Delete blobs no snapshot links to; return bytes freed."""
    used = set()
    snaps = storage / "snapshots"
    if snaps.is_dir():
        for root, _d, names in os.walk(snaps):
            for name in names:
                used.add(os.path.realpath(os.path.join(root, name)))
    freed = 0
    blobs = storage / "blobs"
    for blob in list(blobs.iterdir()) if blobs.is_dir() else []:
        if blob.name.endswith(".incomplete"):
            continue  # possibly a download in progress elsewhere; `prune` handles stale ones
        if str(blob.resolve()) not in used:
            freed += blob.stat().st_size
            blob.unlink()
    return freed


def remove(repo: str, *, revision: str | None = None) -> list[str]:
    """Remove ``repo`` (``[SOURCE:]org/name``; unqualified: from every cache holding it) or one revision.

    ``revision`` may be a commit or a cached branch/tag name. Returns one line per thing removed.
    """
    done = []
    for r in _matching(repo):
        if revision is None:
            shutil.rmtree(r.path)
            done.append(f"removed {r.source}:{r.repo_id} ({r.size} bytes)")
            continue
        commit = revision if is_commit(revision) else layout.read_ref(r.path, revision)
        snap = r.path / "snapshots" / (commit or "")
        if not commit or not snap.is_dir():
            raise NotFoundError(f"{r.source}:{r.repo_id} has no cached revision '{revision}'",
                                hint="see `zoolab cache ls`")
        shutil.rmtree(snap)
        for ref in r.path.joinpath("refs").rglob("*") if (r.path / "refs").is_dir() else []:
            if ref.is_file() and ref.read_text().strip() == commit:
                ref.unlink()
        (r.path / "trees" / f"{commit}.json").unlink(missing_ok=True)
        freed = _gc_blobs(r.path)
        done.append(f"removed {r.source}:{r.repo_id}@{commit[:12]} ({freed} bytes freed)")
    return done


def prune() -> list[str]:
    """Remove revisions no branch or tag points to, unreferenced blobs and abandoned partial files."""
    from filelock import FileLock, Timeout

    done = []
    for r in scan():
        for rev in r.revisions:
            if not rev.refs:
                shutil.rmtree(r.path / "snapshots" / rev.commit)
                (r.path / "trees" / f"{rev.commit}.json").unlink(missing_ok=True)
                done.append(f"removed detached revision {r.source}:{r.repo_id}@{rev.commit[:12]}")
        blobs = r.path / "blobs"
        for part in list(blobs.glob("*.incomplete")) if blobs.is_dir() else []:
            # Only when no process holds the blob's lock, i.e. no download is writing it now.
            # `<etag>.incomplete` (zoolab, older huggingface_hub) or `<etag>.<random>.incomplete`.
            etag = part.name.split(".", 1)[0]
            try:
                with FileLock(str(layout.lock_path(r.path, etag)), timeout=0):
                    size = part.stat().st_size
                    part.unlink()
                    done.append(f"removed partial download {r.source}:{r.repo_id} blob {etag[:12]} ({size} bytes)")
            except Timeout:
                continue
        freed = _gc_blobs(r.path)
        if freed:
            done.append(f"freed {freed} bytes of unreferenced blobs in {r.source}:{r.repo_id}")
    return done


def verify(repo: str | None = None) -> tuple[int, list[str]]:
    """Recompute every blob's hash (sha256 for 64-hex names, git blob sha1 for 40-hex names).

    Returns (files checked, problems): one line per blob whose content does not match its name
    and per snapshot link pointing to a missing blob.
    """
    repos = _matching(repo) if repo else scan()
    checked, problems = 0, []
    for r in repos:
        blobs = r.path / "blobs"
        for blob in sorted(blobs.iterdir()) if blobs.is_dir() else []:
            if blob.name.endswith(".incomplete") or not blob.is_file():
                continue
            checked += 1
            if not layout.blob_matches(blob, blob.name):
                problems.append(f"{r.source}:{r.repo_id}: blob {blob.name} does not match its hash")
        snaps = r.path / "snapshots"
        for root, _d, names in os.walk(snaps) if snaps.is_dir() else []:
            for name in names:
                p = Path(root, name)
                if not p.exists():
                    problems.append(f"{r.source}:{r.repo_id}: {p.relative_to(snaps)} points to a missing blob")
    return checked, problems


def check_revision_arg(revision: str | None) -> None:
    """Reject an empty ``--revision``."""
    if revision is not None and not revision.strip():
        raise InvalidInputError("--revision must not be empty")
