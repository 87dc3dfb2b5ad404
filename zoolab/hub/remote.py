"""The one remote source implementation: the Hugging Face Hub HTTP API through huggingface_hub.

The built-in ``hf`` source and every zoolab hub server are both a :class:`RemoteSource`; they
differ only in endpoint URL, token and cache folder. Downloads use huggingface_hub's own snapshot
machinery (file locks, ``.incomplete`` files, resume, retries); zoolab adds the per-source cache
folder, framework-aware file selection, a no-network path for cached pinned commits and its own
offline handling (huggingface_hub reads ``HF_HUB_OFFLINE`` only once, at import).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

from zoolab import settings
from zoolab._version import __version__
from zoolab.errors import (
    AuthenticationError,
    ConflictError,
    EntryNotFoundError,
    InvalidInputError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RepoNotFoundError,
    RevisionNotFoundError,
    SourceUnavailableError,
    ZoolabError,
)
from zoolab.hub import cached, layout
from zoolab.hub.frameworks import detect
from zoolab.hub.refs import is_commit
from zoolab.hub.types import FileDetails, PublishResult, RepoDetails, SearchHit, Snapshot

_SORT = {"downloads": "downloads", "likes": "likes", "updated": "last_modified"}
_XET_LOCK = threading.Lock()
DOWNLOAD_WORKERS = 8
"""Parallel file downloads per group (huggingface_hub's default)."""
LARGE_FILE = 8 * 2**20
"""Files from this size on are downloaded as their own group, started first."""


class RemoteSource:
    """A Hugging Face Hub compatible server: huggingface.co (``hf``) or a zoolab hub server."""

    def __init__(self, name: str, url: str, *, token: str | None = None, kind: str = "zoolab") -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.kind = kind
        self._token = token

    def __repr__(self) -> str:
        return f"RemoteSource({self.name!r}, {self.url!r})"

    # --- plumbing ------------------------------------------------------------------------------
    @property
    def token(self) -> str | bool | None:
        """The token huggingface_hub sends.

        ``hf``: the configured token, else ``HF_TOKEN``, else huggingface_hub's own stored login.
        A zoolab server gets only its own configured token and never the Hugging Face one
        (``False`` tells huggingface_hub to send none).
        """
        if self._token:
            return self._token
        if self.kind == "hf":
            return settings.hf_token()
        return False

    def api(self, *, headers: dict[str, str] | None = None) -> Any:
        """An ``HfApi`` bound to this source's endpoint and token."""
        _sync_offline_flag()
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.url, token=self.token, library_name="zoolab", library_version=__version__,
                     headers=headers)

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Translate huggingface_hub and transport errors about ``what`` into zoolab errors."""
        with translate_errors(self, what):
            yield

    # --- operations ----------------------------------------------------------------------------
    def search(
        self, query: str, *, task: str | None, library: str | None, author: str | None, sort: str, limit: int,
        repo_type: str = "model",
    ) -> list[SearchHit]:
        """Models (or datasets) matching ``query`` on this server (the Hub's ``GET /api/models``,
        ``GET /api/datasets``)."""
        import httpx2

        self.check_reachable()
        api = self.api()

        def listing() -> list[Any]:
            if repo_type == "dataset":
                # Datasets have no task or library: `library` filters by tag, as `filter=` does.
                return list(api.list_datasets(search=query or None, author=author, filter=library,
                                              sort=_SORT.get(sort, "downloads"), limit=limit, full=True))
            return list(
                api.list_models(
                    search=query or None, author=author, pipeline_tag=task, filter=library,
                    sort=_SORT.get(sort, "downloads"), limit=limit, full=True,
                )
            )

        with self.errors("search"):
            try:
                models = listing()
            except (RuntimeError, httpx2.TransportError):
                # huggingface_hub shares one HTTP client between threads and closes it when any
                # request hits a connection error, which can break this source's request while
                # another source is the one failing: try once more.
                models = listing()
        hits = []
        for m in models:
            if repo_type == "dataset":
                hits.append(SearchHit(repo_id=m.id, source=self.name, downloads=m.downloads, likes=m.likes,
                                      last_updated=m.last_modified or m.created_at, private=bool(m.private),
                                      repo_type="dataset"))
                continue
            files = [s.rfilename for s in m.siblings] if m.siblings else None
            hits.append(
                SearchHit(
                    repo_id=m.id, source=self.name, task=m.pipeline_tag,
                    frameworks=detect(m.library_name, m.tags or (), files), library=m.library_name,
                    downloads=m.downloads, likes=m.likes, last_updated=m.last_modified or m.created_at,
                    private=bool(m.private),
                )
            )
        return hits

    def check_reachable(self, timeout: float = 3.0) -> None:
        """Raise :class:`SourceUnavailableError` at once when nothing listens at the source's address.

        huggingface_hub retries refused connections for ~15 s with backoff; a search that merges
        several sources would rather name the dead one right away. Skipped behind a proxy.
        """
        import socket
        from urllib.parse import urlsplit
        from urllib.request import getproxies

        if getproxies():
            return
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
        except OSError as exc:
            raise unreachable(self, exc) from None

    def info(self, repo_id: str, *, revision: str | None = None, repo_type: str = "model") -> RepoDetails:
        """Card summary, files with sizes, branches and tags, frameworks of ``repo_id`` (a model
        or, with ``repo_type="dataset"``, a dataset repo: ``GET /api/datasets/{id}``)."""
        api = self.api()
        what = f"{self.name}:{repo_id}"
        with self.errors(what):
            m = api.repo_info(repo_id, revision=revision, files_metadata=True, repo_type=repo_type)
            refs = api.list_repo_refs(repo_id, repo_type=repo_type)
        files = [FileDetails(path=s.rfilename, size=s.size, lfs=s.lfs is not None) for s in (m.siblings or [])]
        card = m.card_data.to_dict() if m.card_data is not None else {}
        summary = None
        if any(f.path == "README.md" for f in files) and m.sha:
            summary = self._readme_summary(repo_id, m.sha, repo_type)
        # DatasetInfo has no library or task; a dataset has no framework.
        library, task = getattr(m, "library_name", None), getattr(m, "pipeline_tag", None)
        return RepoDetails(
            repo_id=m.id, source=self.name, sha=m.sha, private=bool(m.private), library=library,
            task=task, license=card.get("license"), tags=list(m.tags or []), repo_type=repo_type,
            frameworks=detect(library, m.tags or (), [f.path for f in files]) if repo_type == "model" else (),
            downloads=m.downloads, likes=m.likes, last_updated=m.last_modified,
            branches={b.name: b.target_commit for b in refs.branches},
            tags_refs={t.name: t.target_commit for t in refs.tags}, files=files, card=card, summary=summary,
        )

    def _readme_summary(self, repo_id: str, sha: str, repo_type: str = "model") -> str | None:
        # Read the card text without caching it: a README alone in the snapshot folder would look
        # like a (partial) download of that commit.
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session

        from zoolab.hub.cards import card_summary

        try:
            url = hf_hub_url(repo_id, "README.md", revision=sha, endpoint=self.url, repo_type=repo_type)
            resp = get_session().get(url, headers=build_hf_headers(token=self.token), timeout=10, follow_redirects=True)
            if resp.status_code != 200 or len(resp.content) > 1 << 20:
                return None
            return card_summary(resp.text)
        except Exception:  # noqa: BLE001 - the summary is optional decoration of `info`
            return None

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
        """A snapshot of ``repo_id`` (a model or dataset repo) in this source's cache (or ``local_dir``)."""
        rev = revision or "main"
        storage = layout.storage_folder(self.name, repo_id, repo_type)
        request = cached.Request(self.name, repo_id, rev, include, exclude, framework)
        if local_dir is None and is_commit(rev):
            snap = cached.lookup(storage, request, require_listing=True)
            if snap is not None:
                return snap  # immutable commit, complete in the cache: no network call at all
        if settings.is_offline():
            return cached.serve_or_raise(
                storage, request, reason="offline mode is on (ZOOLAB_OFFLINE or HF_HUB_OFFLINE)", local_dir=local_dir
            )
        try:
            return self._download_online(repo_id, storage, request, local_dir, progress, repo_type)
        except SourceUnavailableError as exc:
            return cached.serve_or_raise(storage, request, reason=str(exc), local_dir=local_dir)

    def _download_online(
        self, repo_id: str, storage: Path, req: cached.Request, local_dir: Path | None, progress: bool,
        repo_type: str = "model",
    ) -> Snapshot:
        from concurrent.futures import ThreadPoolExecutor

        from huggingface_hub import snapshot_download

        api = self.api()
        with self.errors(f"{self.name}:{repo_id}@{req.revision}"):
            # One listing pins the commit (every file then comes from the same commit even if the
            # branch moves meanwhile), picks the framework's files and tells large from small.
            m = api.repo_info(repo_id, revision=req.revision, files_metadata=True, repo_type=repo_type)
            commit = m.sha
            sizes = {s.rfilename: s.size or 0 for s in (m.siblings or [])}
            names = req.select(list(sizes))

            def fetch(group: list[str]) -> str:
                return snapshot_download(
                    repo_id, revision=commit, cache_dir=str(layout.cache_dir(self.name)), repo_type=repo_type,
                    local_dir=str(local_dir) if local_dir is not None else None, endpoint=self.url,
                    token=self.token, allow_patterns=[_literal(n) for n in group], max_workers=DOWNLOAD_WORKERS,
                    tqdm_class=None if progress else _silent_tqdm(), library_name="zoolab",
                    library_version=__version__,
                )

            # Large files start at once, next to the small ones, instead of after them in name
            # order: a repo of many small files and one big one takes max(...) rather than sum(...).
            large = [n for n in names if sizes.get(n, 0) >= LARGE_FILE]
            small = [n for n in names if sizes.get(n, 0) < LARGE_FILE]
            groups = [g for g in (large, small) if g]
            if len(groups) == 2:
                with ThreadPoolExecutor(2) as pool:
                    paths = list(pool.map(fetch, groups))
                path = paths[0]
            elif groups:
                path = fetch(groups[0])
            else:
                path = str(local_dir) if local_dir is not None else str(storage / "snapshots" / commit)
                Path(path).mkdir(parents=True, exist_ok=True)
        if local_dir is None and commit != req.revision and not is_commit(req.revision):
            layout.write_ref(storage, req.revision, commit)
        return cached.describe(Path(path), storage if local_dir is None else None, req, commit, from_cache=False)

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
        """Create ``repo_id`` (a model or dataset repo) if needed and commit ``files`` (plus
        ``extra`` contents) to ``branch``."""
        from huggingface_hub import CommitOperationAdd

        if settings.is_offline():
            raise SourceUnavailableError(
                f"cannot publish to '{self.name}' in offline mode", hint="unset ZOOLAB_OFFLINE / HF_HUB_OFFLINE"
            )
        # A zoolab server answers `regular` (content inline in the commit) unless asked for the
        # Hub's LFS split; zoolab asks, and uploads LFS files through Git LFS rather than Xet.
        api = self.api(headers={"X-Zoolab-Upload-Mode": "lfs"} if self.kind != "hf" else None)
        ops = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(folder / f)) for f in files]
        ops += [CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in extra.items()]
        with self.errors(f"{self.name}:{repo_id}"), self._upload_protocol(), _progress_bars(progress):
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type=repo_type)
            if branch != "main":
                try:
                    api.create_branch(repo_id, branch=branch, exist_ok=True, repo_type=repo_type)
                except Exception as exc:  # noqa: BLE001 - an empty repo has no commit to branch from
                    if _status(exc) not in (400, 404, 409):
                        raise
            head = _branch_head(api, repo_id, branch, repo_type)
            # huggingface_hub skips a commit that changes nothing (and warns); zoolab says so itself.
            with _logger_level("huggingface_hub.hf_api", logging.ERROR):
                info = api.create_commit(repo_id, operations=ops, commit_message=message, revision=branch,
                                         repo_type=repo_type)
        web = f"{self.url}/datasets/{repo_id}" if repo_type == "dataset" else f"{self.url}/{repo_id}"
        return PublishResult(
            repo_id=repo_id, source=self.name, commit_id=info.oid, url=web,
            files=sorted([*files, *extra]), branch=branch, changed=head is None or info.oid != head,
        )

    @contextlib.contextmanager
    def _upload_protocol(self) -> Iterator[None]:
        """Upload large files to zoolab servers through Git LFS, not Xet.

        With ``hf_xet`` installed huggingface_hub sends every LFS-mode file through Xet storage,
        with no fallback, and a zoolab server is not a Xet server (see docs/hub-server.md). The
        switch is read when uploading, so it is turned off for this source's commit only; the
        Hugging Face Hub keeps Xet.
        """
        if self.kind == "hf":
            yield
            return
        from huggingface_hub import constants

        with _XET_LOCK:
            old = constants.HF_HUB_DISABLE_XET
            constants.HF_HUB_DISABLE_XET = True
            try:
                yield
            finally:
                constants.HF_HUB_DISABLE_XET = old


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """Turn huggingface_hub's upload bars off for one call when ``enabled`` is False."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if enabled or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


def _branch_head(api: Any, repo_id: str, branch: str, repo_type: str) -> str | None:
    """The commit ``branch`` points to, or None for an empty repo or a new branch."""
    from huggingface_hub import errors as hf

    try:
        return api.repo_info(repo_id, revision=branch, repo_type=repo_type).sha
    except (hf.RevisionNotFoundError, hf.RepositoryNotFoundError):
        return None


@contextlib.contextmanager
def _logger_level(name: str, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    old = logger.level
    logger.setLevel(max(level, old))
    try:
        yield
    finally:
        logger.setLevel(old)


def _literal(path: str) -> str:
    """An ``allow_patterns`` glob that matches exactly ``path`` (escape fnmatch's specials)."""
    return "".join(f"[{c}]" if c in "[]*?" else c for c in path)


def _sync_offline_flag() -> None:
    # huggingface_hub froze HF_HUB_OFFLINE at import; follow the environment as it is now.
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = settings.is_offline()


def _silent_tqdm() -> type:
    from tqdm.auto import tqdm

    class _Silent(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return _Silent


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _server_message(exc: BaseException) -> str:
    msg = getattr(exc, "server_message", None) or str(exc)
    return " ".join(str(msg).split())[:300]


_MAY_NOT_WRITE = re.compile(r"'(?P<user>[^']+)' may not write to '(?P<namespace>[^']+)'")


def _permission_denied(what: str, detail: str, login: str) -> PermissionDeniedError:
    """A 403 that says the way out: membership of the organisation, or a write token."""
    found = _MAY_NOT_WRITE.search(detail)
    if found:
        user, namespace = found["user"], found["namespace"]
        return PermissionDeniedError(
            f"{what}: permission denied: '{user}' may not write to '{namespace}'",
            hint=f"members of the organisation '{namespace}' may: the server's admin runs `zoolab hub org add-member "
                 f"{namespace} {user}`; or log in as another user ({login})",
        )
    if "read-only" in detail:
        return PermissionDeniedError(f"{what}: permission denied: this token is read-only",
                                     hint=f"log in with a write token ({login}); the server's admin makes one with "
                                          "`zoolab hub token create --user NAME --write`")
    return PermissionDeniedError(f"{what}: permission denied ({detail})", hint=f"use a write token ({login})")


@contextlib.contextmanager
def translate_errors(source: RemoteSource, what: str) -> Iterator[None]:
    """Map huggingface_hub / httpx errors onto zoolab's hierarchy with a message that says the fix."""
    import httpx2
    from huggingface_hub import errors as hf

    login = f"`zoolab login --source {source.name}`"
    try:
        yield
    except ZoolabError:
        raise
    except hf.RepositoryNotFoundError:
        raise RepoNotFoundError(
            f"{what} not found", hint=f"check the id; a private repo needs a token ({login})"
        ) from None
    except hf.RevisionNotFoundError:
        raise RevisionNotFoundError(f"{what}: revision not found", hint="see branches and tags with `zoolab info`") from None
    except hf.RemoteEntryNotFoundError:
        raise EntryNotFoundError(f"{what}: file not found") from None
    except hf.LocalEntryNotFoundError as exc:
        # snapshot_download could not reach the server and found nothing usable in the cache.
        raise unreachable(source, exc) from None
    except hf.HfHubHTTPError as exc:
        status = _status(exc) or 0
        detail = _server_message(exc)
        if status == 401:
            raise AuthenticationError(f"{what}: authentication required or token invalid", hint=f"run {login}") from None
        if status == 403:
            raise _permission_denied(what, detail, login) from None
        if status == 409:
            raise ConflictError(f"{what}: {detail}") from None
        if status == 413:
            raise PayloadTooLargeError(f"{what}: {detail}") from None
        if 400 <= status < 500:
            raise InvalidInputError(f"{what}: {detail}") from None
        raise SourceUnavailableError(f"source '{source.name}' ({source.url}) failed: {detail}") from None
    except (httpx2.TransportError, hf.OfflineModeIsEnabled, ConnectionError, TimeoutError) as exc:
        if settings.is_offline():
            raise SourceUnavailableError(
                f"{what}: offline mode is on, source '{source.name}' is not asked",
                hint="unset ZOOLAB_OFFLINE / HF_HUB_OFFLINE",
            ) from None
        raise unreachable(source, exc) from None


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in the same words whichever layer (socket, httpx) noticed."""
    import socket

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).lower()
        if isinstance(current, socket.gaierror) or "name or service not known" in text \
                or "nodename nor servname" in text or "temporary failure in name resolution" in text:
            return "its name does not resolve"
        if isinstance(current, ConnectionRefusedError) or "connection refused" in text:
            return "the connection was refused"
        if isinstance(current, (TimeoutError, socket.timeout)) or "timed out" in text:
            return "the connection timed out"
        current = current.__cause__ or current.__context__
    return "no connection could be made"


def unreachable(source: RemoteSource, exc: BaseException) -> SourceUnavailableError:
    """The error for a source whose host cannot be reached: names the host and says what still works."""
    from urllib.parse import urlsplit

    host = urlsplit(source.url).netloc or source.url
    if source.kind == "hf":
        fix = "check your network (or HF_ENDPOINT)"
    else:
        fix = f"check the URL with `zoolab source list` and that the server at {host} is running"
    return SourceUnavailableError(
        f"could not reach {host} (source '{source.name}'): {_reason(exc)}",
        hint=f"{fix}; set ZOOLAB_OFFLINE=1 to use only what is in the cache",
    )

