"""Serving downloads from the cache: warm pinned commits, offline mode, unreachable sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from zoolab.errors import OfflineError
from zoolab.hub import layout
from zoolab.hub.frameworks import filter_patterns, files_for
from zoolab.hub.refs import is_commit
from zoolab.hub.types import Snapshot


@dataclass(frozen=True)
class Request:
    """What a download asked for."""

    source: str
    repo_id: str
    revision: str
    include: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    framework: str | None = None

    def select(self, names: Sequence[str]) -> list[str]:
        """The subset of a commit's files this request wants."""
        picked = filter_patterns(sorted(names), self.include, self.exclude)
        if self.framework:
            picked = files_for(self.framework, picked, repo_id=self.repo_id)
        return picked

    @property
    def command(self) -> str:
        """The command that fetches this while online (for error messages)."""
        cmd = f"zoolab download {self.source}:{self.repo_id}"
        if self.revision != "main":
            cmd += f" --revision {self.revision}"
        if self.framework:
            cmd += f" --framework {self.framework}"
        return cmd


def lookup(storage: Path, req: Request, *, require_listing: bool) -> Snapshot | None:
    """The cached snapshot for ``req`` if every wanted file is there, else None.

    With ``require_listing`` the commit's file listing must be cached too, which proves the
    snapshot is complete (a folder holding only some files is not enough).
    """
    commit = req.revision if is_commit(req.revision) else layout.read_ref(storage, req.revision)
    if commit is None:
        return None
    folder = storage / "snapshots" / commit
    tree = layout.read_tree(storage, commit)
    if tree is None:
        if require_listing or not folder.is_dir():
            return None
        wanted = req.select(layout.snapshot_files(folder))
    else:
        wanted = req.select(list(tree))
    if layout.missing_files(folder, wanted) or (not wanted and not folder.is_dir()):
        return None
    return Snapshot(path=folder, repo_id=req.repo_id, source=req.source, commit=commit, files=wanted,
                    revision=req.revision, from_cache=True)


def serve_or_raise(storage: Path, req: Request, *, reason: str, local_dir: Path | None = None) -> Snapshot:
    """Serve ``req`` from the cache (or an existing ``local_dir``) or raise a one-line OfflineError."""
    if local_dir is not None:
        present = _local_dir_files(local_dir)
        if present:
            return Snapshot(path=local_dir, repo_id=req.repo_id, source=req.source,
                            commit=_local_dir_commit(local_dir) or "", files=req.select(present),
                            revision=req.revision, from_cache=True)
        raise OfflineError(f"{local_dir} holds no download of {req.source}:{req.repo_id} and {reason}",
                           hint=f"run `{req.command} --local-dir {local_dir}` when the source is reachable")
    snap = lookup(storage, req, require_listing=False)
    if snap is not None:
        return snap
    commit = req.revision if is_commit(req.revision) else layout.read_ref(storage, req.revision)
    what = f"{req.source}:{req.repo_id} at revision '{req.revision}'"
    if commit is None:
        raise OfflineError(f"{what} is not in the cache and {reason}", hint=f"run `{req.command}` when the source is reachable")
    folder = storage / "snapshots" / commit
    tree = layout.read_tree(storage, commit)
    missing = layout.missing_files(folder, req.select(list(tree))) if tree is not None else []
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    detail = f"lacks {shown}" if missing else "is not in the cache"
    raise OfflineError(f"{what} {detail} and {reason}", hint=f"run `{req.command}` when the source is reachable")


def describe(path: Path, storage: Path | None, req: Request, commit: str, *, from_cache: bool) -> Snapshot:
    """A :class:`Snapshot` for files just downloaded to ``path`` (a snapshot folder or local_dir)."""
    tree = layout.read_tree(storage, commit) if storage is not None else None
    if tree is not None:
        files = [f for f in req.select(list(tree)) if (path / f).exists()]
    else:
        files = req.select(_local_dir_files(path))
    return Snapshot(path=path, repo_id=req.repo_id, source=req.source, commit=commit, files=files,
                    revision=req.revision, from_cache=from_cache)


def _local_dir_files(folder: Path) -> list[str]:
    # huggingface_hub keeps its bookkeeping for local_dir downloads in .cache/huggingface/.
    return [f for f in layout.snapshot_files(folder) if not f.startswith(".cache/")]


def _local_dir_commit(folder: Path) -> str | None:
    meta = folder / ".cache" / "huggingface" / "download"
    if not meta.is_dir():
        return None
    for file in meta.rglob("*.metadata"):
        try:
            first = file.read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError):
            continue
        if is_commit(first):
            return first
    return None
