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
from zoolab.hub.refs import check_repo_type, is_commit, parse_ref
from zoolab.hub.types import CachedRepo, CachedRevision


def _repo_id(folder: Path) -> tuple[str, str] | None:
    """``(repo_type, repo_id)`` of a ``models--org--name`` or ``datasets--org--name`` folder."""
    for kind in ("model", "dataset"):
        prefix = f"{kind}s--"
        if folder.name.startswith(prefix) and len(folder.name) > len(prefix):
            return kind, folder.name[len(prefix):].replace("--", "/")
    return None


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


def scan(source: str | None = None, repo_type: str | None = None) -> list[CachedRepo]:
    """Every cached repository (of one source or all; models and datasets, or only
    ``repo_type``), with its revisions and sizes."""
    dirs = layout.all_cache_dirs()
    if source is not None:
        dirs = {source: layout.cache_dir(source)} if layout.cache_dir(source).is_dir() else {}
    repos = []
    for name, cache in dirs.items():
        for storage in sorted(cache.iterdir()):
            named = _repo_id(storage)
            if named is None or not storage.is_dir() or (repo_type is not None and named[0] != repo_type):
                continue
            kind, repo_id = named
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
                last_accessed=datetime.fromtimestamp(accessed, timezone.utc) if accessed else None, repo_type=kind,
            ))
    return repos


def _matching(repo: str, repo_type: str | None = None) -> list[CachedRepo]:
    source, repo_id = parse_ref(repo)
    kind = check_repo_type(repo_type) if repo_type is not None else None
    found = [r for r in scan(source, kind) if r.repo_id == repo_id]
    if not found:
        what = f"dataset {repo}" if kind == "dataset" else repo
        raise NotFoundError(f"{what} is not in any download cache", hint="see `zoolab cache ls`")
    return found


def _name(r: CachedRepo) -> str:
    """``source:org/name``, with ``dataset`` in front for a dataset repo."""
    return f"{'dataset ' if r.repo_type == 'dataset' else ''}{r.source}:{r.repo_id}"


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


def remove(repo: str, *, revision: str | None = None, repo_type: str | None = None) -> list[str]:
    """Remove ``repo`` (``[SOURCE:]org/name``; unqualified: from every cache holding it) or one revision.

    ``revision`` may be a commit or a cached branch/tag name; ``repo_type`` (``model`` or
    ``dataset``) limits it to that kind when a model and a dataset share the id (default: both).
    Returns one line per thing removed.
    """
    done = []
    for r in _matching(repo, repo_type):
        if revision is None:
            shutil.rmtree(r.path)
            done.append(f"removed {_name(r)} ({r.size} bytes)")
            continue
        commit = revision if is_commit(revision) else layout.read_ref(r.path, revision)
        snap = r.path / "snapshots" / (commit or "")
        if not commit or not snap.is_dir():
            raise NotFoundError(f"{_name(r)} has no cached revision '{revision}'",
                                hint="see `zoolab cache ls`")
        shutil.rmtree(snap)
        for ref in r.path.joinpath("refs").rglob("*") if (r.path / "refs").is_dir() else []:
            if ref.is_file() and ref.read_text().strip() == commit:
                ref.unlink()
        (r.path / "trees" / f"{commit}.json").unlink(missing_ok=True)
        freed = _gc_blobs(r.path)
        done.append(f"removed {_name(r)}@{commit[:12]} ({freed} bytes freed)")
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
                done.append(f"removed detached revision {_name(r)}@{rev.commit[:12]}")
        blobs = r.path / "blobs"
        for part in list(blobs.glob("*.incomplete")) if blobs.is_dir() else []:
            # Only when no process holds the blob's lock, i.e. no download is writing it now.
            # `<etag>.incomplete` (zoolab, older huggingface_hub) or `<etag>.<random>.incomplete`.
            etag = part.name.split(".", 1)[0]
            try:
                with FileLock(str(layout.lock_path(r.path, etag)), timeout=0):
                    size = part.stat().st_size
                    part.unlink()
                    done.append(f"removed partial download {_name(r)} blob {etag[:12]} ({size} bytes)")
            except Timeout:
                continue
        freed = _gc_blobs(r.path)
        if freed:
            done.append(f"freed {freed} bytes of unreferenced blobs in {_name(r)}")
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
                problems.append(f"{_name(r)}: blob {blob.name} does not match its hash")
        snaps = r.path / "snapshots"
        for root, _d, names in os.walk(snaps) if snaps.is_dir() else []:
            for name in names:
                p = Path(root, name)
                if not p.exists():
                    problems.append(f"{_name(r)}: {p.relative_to(snaps)} points to a missing blob")
    return checked, problems


def check_revision_arg(revision: str | None) -> None:
    """Reject an empty ``--revision``."""
    if revision is not None and not revision.strip():
        raise InvalidInputError("--revision must not be empty")
