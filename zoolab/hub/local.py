"""The local registry as a source: the embedded store used in-process, without HTTP.

Downloads are written in the Hugging Face cache layout (``<cache>/models--org--name``, see
:mod:`zoolab.hub.layout`) of the ``local`` source, so transformers and timm load them like any
other snapshot. The store is on this machine, so the local source works in offline mode too.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, Sequence

from zoolab import settings
from zoolab.errors import RevisionNotFoundError
from zoolab.hub import cached, layout
from zoolab.hub.frameworks import detect
from zoolab.hub.refs import is_commit
from zoolab.hub.types import FileDetails, PublishResult, RepoDetails, SearchHit, Snapshot

_SORT = {"downloads": "downloads", "likes": "likes", "updated": "updated"}


class LocalSource:
    """The embedded local registry in ``$ZOOLAB_HOME/registry``."""

    name = "local"
    kind = "local"

    def __init__(self, store: Any = None) -> None:
        self._store = store

    @property
    def url(self) -> str:
        return str(settings.registry_dir())

    @property
    def store(self) -> Any:
        """The :class:`zoolab.hub.store.Store` of ``settings.registry_dir()`` (opened once per folder)."""
        if self._store is None:
            self._store = _open_store(settings.registry_dir())
        return self._store

    def search(
        self, query: str, *, task: str | None, library: str | None, author: str | None, sort: str, limit: int,
        repo_type: str = "model",
    ) -> list[SearchHit]:
        """Repositories (models, or datasets) of the local registry matching ``query``."""
        store = self.store.for_type(repo_type)
        repos = store.list_repos(
            search=query or None, author=author, tags=(library,) if library else (), sort=_SORT.get(sort, "downloads"),
            limit=None if task else limit,
        )
        hits = []
        for r in repos:
            if task and r.pipeline_tag != task:
                continue
            files = [f.path for f in store.list_files(r.repo_id, r.sha)] if r.sha else None
            hits.append(
                SearchHit(repo_id=r.repo_id, source=self.name, task=r.pipeline_tag,
                          frameworks=detect(r.library_name, r.tags, files) if repo_type == "model" else (),
                          library=r.library_name, downloads=r.downloads, likes=r.likes, last_updated=r.last_modified,
                          private=r.private, repo_type=repo_type)
            )
        return hits[:limit]

    def info(self, repo_id: str, *, revision: str | None = None, repo_type: str = "model") -> RepoDetails:
        """Card summary, files, branches, tags and frameworks of ``repo_id`` (a model or dataset repo)."""
        from zoolab.hub.cards import card_summary

        from zoolab.hub.store.types import User

        # The local registry is this user's own files: its private repos are theirs to see.
        owner = repo_id.split("/")[0] if "/" in repo_id else repo_id
        store = self.store.for_type(repo_type)
        r = store.repo_info(repo_id, viewer=User(name=owner, orgs=(owner,)))
        refs = store.list_refs(repo_id)
        sha = store.resolve_revision(repo_id, revision) if revision else r.sha
        entries = store.list_files(repo_id, sha) if sha else []
        summary = None
        readme = next((e for e in entries if e.path == "README.md"), None)
        if readme is not None and readme.size < 1 << 20:
            summary = card_summary(store.blob_path(readme.sha256).read_text(encoding="utf-8", errors="replace"))
        return RepoDetails(
            repo_id=r.repo_id, source=self.name, sha=sha, private=r.private, library=r.library_name,
            task=r.pipeline_tag, license=r.card_data.get("license"), tags=list(r.tags),
            frameworks=detect(r.library_name, r.tags, [e.path for e in entries]) if repo_type == "model" else (),
            downloads=r.downloads, likes=r.likes, last_updated=r.last_modified,
            branches={x.name: x.commit_id for x in refs if x.kind == "branch"},
            tags_refs={x.name: x.commit_id for x in refs if x.kind == "tag"},
            files=[FileDetails(path=e.path, size=e.size, lfs=e.lfs) for e in entries], card=dict(r.card_data),
            summary=summary, repo_type=repo_type,
        )

    def download(
        self,
        repo_id: str,
        *,
        revision: str | None,
        include: Sequence[str] | None,
        exclude: Sequence[str] | None,
        framework: str | None,
        local_dir: Path | None,
        progress: bool = True,
        repo_type: str = "model",
    ) -> Snapshot:
        """Copy the wanted files of a revision (of a model or dataset repo) out of the store into
        the HF cache layout (or ``local_dir``)."""
        rev = revision or "main"
        storage = layout.storage_folder(self.name, repo_id, repo_type)
        store = self.store.for_type(repo_type)
        req = cached.Request(self.name, repo_id, rev, include, exclude, framework)
        if local_dir is None and is_commit(rev):
            snap = cached.lookup(storage, req, require_listing=True)
            if snap is not None:
                return snap
        commit = store.resolve_revision(repo_id, rev)
        if commit is None:
            raise RevisionNotFoundError(f"local:{repo_id}: revision '{rev}' not found")
        entries = {e.path: e for e in store.list_files(repo_id, commit)}
        wanted = req.select(list(entries))
        if local_dir is not None:
            for path in wanted:
                _copy_to_dir(store.blob_path(entries[path].sha256), Path(local_dir) / path, entries[path].sha256, progress, path)
            store.record_download(repo_id)
            return Snapshot(path=Path(local_dir), repo_id=repo_id, source=self.name, commit=commit, files=wanted,
                            revision=rev)
        layout.write_tree(
            storage, commit,
            {p: layout.TreeEntry(size=e.size, blob_id=e.git_oid, lfs_sha256=e.sha256 if e.lfs else None)
             for p, e in entries.items()},
        )
        todo = [p for p in wanted if not (storage / "blobs" / entries[p].etag).exists()]
        overall = _files_bar(progress, len(todo))
        for path in wanted:
            e = entries[path]
            layout.put_blob(storage, e.etag, store.blob_path(e.sha256), progress=_bar(progress and path in todo, path, e.size))
            layout.link_snapshot(storage, commit, path, e.etag)
            if overall is not None and path in todo:
                overall.update(1)
        if overall is not None:
            overall.close()
        if rev != commit:
            layout.write_ref(storage, rev, commit)
        store.record_download(repo_id)
        return Snapshot(path=storage / "snapshots" / commit, repo_id=repo_id, source=self.name, commit=commit,
                        files=wanted, revision=rev)

    def publish(
        self,
        folder: Path,
        repo_id: str,
        *,
        files: list[str],
        extra: dict[str, bytes],
        private: bool,
        branch: str,
        message: str,
        progress: bool = True,
        repo_type: str = "model",
    ) -> PublishResult:
        """Create ``repo_id`` (a model or dataset repo) if needed and commit the files in one
        store transaction."""
        from zoolab.hub.store import AddFile

        store = self.store.for_type(repo_type)
        store.create_repo(repo_id, private=private, exist_ok=True)
        head = _unchanged_head(store, repo_id, branch, folder, files, extra)
        if head is not None:
            url = f"local:datasets/{repo_id}" if repo_type == "dataset" else f"local:{repo_id}"
            return PublishResult(repo_id=repo_id, source=self.name, commit_id=head, url=url,
                                 files=sorted([*files, *extra]), branch=branch, changed=False)
        ops = [AddFile(path=f, source=folder / f) for f in files] + [AddFile(path=p, content=d) for p, d in extra.items()]
        if branch != "main":
            names = {r.name for r in store.list_refs(repo_id) if r.kind == "branch"}
            if branch not in names and "main" in names:
                store.create_branch(repo_id, branch, revision="main", exist_ok=True)
        info = store.commit(repo_id, ops, message=message, branch=branch)
        url = f"local:datasets/{repo_id}" if repo_type == "dataset" else f"local:{repo_id}"
        return PublishResult(repo_id=repo_id, source=self.name, commit_id=info.commit_id, url=url,
                             files=sorted([*files, *extra]), branch=branch)


def _unchanged_head(store: Any, repo_id: str, branch: str, folder: Path, files: list[str],
                    extra: dict[str, bytes]) -> str | None:
    """The head of ``branch`` when it already holds every file with the same bytes, else None."""
    import hashlib

    from zoolab.errors import NotFoundError

    try:
        head = store.resolve_revision(repo_id, branch)
        current = {e.path: e for e in store.list_files(repo_id, head)}
    except NotFoundError:
        return None
    for path in files:
        entry = current.get(path)
        if entry is None or entry.size != (folder / path).stat().st_size:
            return None
        if entry.sha256 != layout.sha256_file(folder / path):
            return None
    for path, data in extra.items():
        entry = current.get(path)
        if entry is None or entry.sha256 != hashlib.sha256(data).hexdigest():
            return None
    return head


_STORES: dict[Path, Any] = {}
_STORES_LOCK = threading.Lock()


def _open_store(root: Path) -> Any:
    # Opening a store costs a few milliseconds (schema check); searches and downloads in one
    # process reuse it. The store keeps one SQLite connection per thread, so sharing is safe.
    from zoolab.hub.store import Store

    with _STORES_LOCK:
        store = _STORES.get(root)
        if store is None or not root.is_dir():
            store = _STORES[root] = Store(root=root)
        return store


class _Bar:
    def __init__(self, desc: str, total: int) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, file=sys.stderr, leave=False)

    def __call__(self, n: int) -> None:
        self._bar.update(n)
        if self._bar.n >= (self._bar.total or 0):
            self._bar.close()


BAR_MIN_SIZE = 1 << 20
"""Files from this size on get their own progress bar; smaller ones only advance the file count."""


def _bar(progress: bool, desc: str, total: int) -> _Bar | None:
    return _Bar(desc, total) if progress and total >= BAR_MIN_SIZE else None


def _files_bar(progress: bool, count: int) -> Any:
    if not progress or count == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=count, desc=f"Fetching {count} files", unit="file", file=sys.stderr)


def _copy_to_dir(src: Path, dest: Path, sha256: str, progress: bool, desc: str) -> None:
    """Copy a blob into a plain folder: complete and verified, or not visible at all."""
    import os
    import tempfile

    if dest.is_file() and dest.stat().st_size == src.stat().st_size and layout.sha256_file(dest) == sha256:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".incomplete", dir=dest.parent)
    os.close(fd)
    try:
        layout_bar = _bar(progress, desc, src.stat().st_size)
        with src.open("rb") as fin, open(tmp, "wb") as fout:
            for chunk in iter(lambda: fin.read(1 << 20), b""):
                fout.write(chunk)
                if layout_bar:
                    layout_bar(len(chunk))
        if layout.sha256_file(Path(tmp)) != sha256:
            from zoolab.errors import IntegrityError

            raise IntegrityError(f"copy of {desc} does not match its sha256", hint="the local registry may be damaged: check it with the hub server tools")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
