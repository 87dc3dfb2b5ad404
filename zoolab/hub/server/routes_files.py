"""File downloads: ``HEAD``/``GET /{namespace}/{name}/resolve/{revision}/{path}``, with ranges.

Served by :class:`ResolveMiddleware` ahead of the app's routes; behind nginx, whole-file and
ranged GETs are answered with ``X-Accel-Redirect`` (:mod:`zoolab.hub.server.accel`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from starlette import responses as starlette_responses
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from zoolab.errors import InvalidInputError, ZoolabError
from zoolab.hub.server.accel import accel_uri, wants_accel
from zoolab.hub.server.app import error_response, logger, zoolab_error_response
from zoolab.hub.server.context import raw_segments, reader, repo_id_from, repo_store, state
from zoolab.hub.server.gating import check_file_access, may_read_files
from zoolab.hub.server.guards import download_path, download_revision
from zoolab.hub.store import Store
from zoolab.hub.store.blobs import BlobFiles
from zoolab.hub.store.types import FileEntry
from zoolab.hub.store.refs import RepoAccess

# Files whose download counts as one download of the repo (as on the Hub: the config).
COUNTED_FILES = frozenset({"config.json"})


class BlobResponse(FileResponse):
    """A file response with 4 MiB chunks: far fewer thread hops and event-loop round trips than 64 KiB.

    A Range header Starlette refuses (outside the file: 416; malformed: 400) gets the Hub's error
    form, a JSON ``{"error": ...}`` body with ``X-Error-Message``/``X-Error-Code``, instead of
    Starlette's bare plain-text answer, so clients show why.
    """

    chunk_size = 4 * 1024 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = self._range_problem(scope)
        await (problem or super().__call__)(scope, receive, send)

    def _range_problem(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        http_range = headers.get("range")
        # Starlette >= 0.39 parses ranges (older versions ignore them); If-Range is left to it.
        parse = getattr(self, "_parse_range_header", None)
        if http_range is None or parse is None or "if-range" in headers or scope.get("method") not in ("GET", "HEAD"):
            return None
        size = os.stat(self.path).st_size
        try:
            parse(http_range, size)
        except starlette_responses.RangeNotSatisfiable:
            response = error_response(416, f"Range '{http_range}' is outside the file ({size} bytes)",
                                      "RangeNotSatisfiable")
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        except starlette_responses.MalformedRangeHeader as exc:
            reason = getattr(exc, "content", None) or "malformed"
            return error_response(400, f"bad Range header '{http_range}': {reason}", "InvalidRange")
        return None


@lru_cache(maxsize=4096)
def content_disposition(filename: str) -> str:
    """``attachment`` with the file name quoted per RFC 6266: an ASCII ``filename=`` fallback with
    quotes, backslashes, ``;``, ``%`` and non-ASCII replaced by ``_``, and the exact name percent-encoded
    in ``filename*=UTF-8''...`` (RFC 8187), so no name can add parameters or change what is saved."""
    fallback = "".join(ch if " " <= ch < "\x7f" and ch not in '"\\;%' else "_" for ch in filename)
    encoded = quote(filename.encode("utf-8", "backslashreplace"), safe="!#$&+-.^_`|~")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


@dataclass(frozen=True)
class Found:
    """What a download URL names, for one caller: all a response needs but the method's part."""

    repo_id: str
    revision: str
    path: str
    commit_id: str
    entry: FileEntry | None
    headers: dict[str, str]
    """The file's response headers (copy before changing them)."""


def _lookup(request: Request, namespace: str, name: str, repo_type: str) -> Found:
    repo_id = repo_id_from(namespace, name)
    store = repo_store(request, repo_type)
    viewer = reader(request)
    # Dataset URLs start with one more segment: /datasets/<namespace>/<name>/resolve/...
    segments = raw_segments(request)[1:] if repo_type == "dataset" else raw_segments(request)
    revision, path = (segments[3], "/".join(segments[4:])) if len(segments) >= 5 else ("", "")

    def check(repo: RepoAccess) -> None:  # runs once the repo is known to be visible to viewer
        if not may_read_files(repo, viewer):
            check_file_access(repo, viewer, str(request.base_url))
        if len(segments) < 5:
            raise InvalidInputError("expected /<namespace>/<name>/resolve/<revision>/<path>")
        _valid_revision(revision)  # malformed: the Hub's coded errors, before any lookup
        _valid_path(path)

    # RepoNotFound for the invisible, like the missing; then gating; then revision and path.
    target = store.download_target(repo_id, revision, path, viewer, check)
    entry = target.entry
    headers: dict[str, str] = {}
    if entry is not None:
        headers = {
            "ETag": f'"{entry.etag}"',
            "X-Repo-Commit": target.commit_id,
            "X-Linked-Size": str(entry.size),
            "Accept-Ranges": "bytes",
            "Content-Disposition": content_disposition(path.rsplit("/", 1)[-1]),
            # An immutable address (a commit) may be cached for ever; a branch may move.
            "Cache-Control": "public, max-age=31536000, immutable" if revision == target.commit_id else "no-cache",
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.etag}"'
    return Found(repo_id, revision, path, target.commit_id, entry, headers)


class LookupCache:
    """What :func:`_lookup` found, per URL and Authorization header, for as long as the database
    has not changed: exact, not a time-to-live, so a revoked token, a repo made private or a moved
    branch take effect on the very next request, in every process.

    SQLite's ``PRAGMA data_version`` changes when any other connection (of any process) commits;
    ``total_changes`` counts this connection's own writes. Both are read on the one connection of
    the event loop's thread, the only thread that uses a cache (so it needs no lock). A hub's
    traffic is mostly the same few files fetched again and again between rare writes.
    """

    def __init__(self, max_entries: int = 8192):
        self.max_entries = max_entries
        self._version: tuple[int, int] | None = None
        self._entries: dict[tuple[object, ...], Found] = {}

    def get(self, store: Store, key: tuple[object, ...]) -> Found | None:
        """The cached lookup for ``key``, None if absent or the database changed since."""
        conn = store.db.conn()
        version = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
        if version != self._version:
            self._entries.clear()
            self._version = version
            return None
        return self._entries.get(key)

    def put(self, key: tuple[object, ...], found: Found) -> None:
        """Remember ``found`` (call after a :meth:`get` of the same request)."""
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = found


def _resolve(request: Request, namespace: str, name: str, repo_type: str = "model",
             cache: LookupCache | None = None) -> Response | HeadersOnly:
    store = repo_store(request, repo_type)
    found = None
    if cache is not None:
        scope = request.scope
        auth = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        key = (scope.get("raw_path") or scope["path"], auth)
        found = cache.get(store, key)
    if found is None:
        found = _lookup(request, namespace, name, repo_type)
        if cache is not None:
            cache.put(key, found)
    entry = found.entry
    if entry is None:
        # With the commit id, clients cache the miss (transformers probes many optional files).
        response = error_response(404, f"'{found.path}' not found in '{found.repo_id}' at revision "
                                       f"'{found.revision}'", "EntryNotFound")
        response.headers["X-Repo-Commit"] = found.commit_id
        return response
    headers = dict(found.headers)
    method = request.method
    ranged = "range" in request.headers
    if method == "HEAD" and not ranged:
        # The metadata clients ask before every download: answered from the database alone.
        headers["Content-Length"] = str(entry.size)
        return HeadersOnly(200, headers)
    if (method == "GET" and found.path in COUNTED_FILES
            and request.headers.get("range", "bytes=0-").startswith("bytes=0-")):
        store.record_download(found.repo_id)
    return send_blob(request, store, entry, headers)


def send_blob(request: Request, store: Store, entry: FileEntry, headers: dict[str, str],
              media_type: str = "application/octet-stream", *, bare: bool = True) -> Response | HeadersOnly:
    """The bytes of an authorised download: a presigned redirect for a large blob where the store
    can presign, an ``X-Accel-Redirect`` behind nginx, otherwise the file itself.

    Access has been checked by the caller; the API's resolve route and the pages' raw route both end
    here. ``bare`` answers nginx with :class:`HeadersOnly` (the resolve route's raw ASGI path);
    routes that go through the framework's routing take a :class:`Response`.
    """
    config = state(request).config
    if request.method == "GET" and entry.size >= config.presign_min_bytes:
        # As the Hub redirects to its CDN: stock clients follow, and drop their token for the other host.
        url = store.blobs.presigned_url(entry.sha256, content_disposition=headers["Content-Disposition"])
        if url is not None:
            return Response(status_code=302, headers={**headers, "Location": url})
    if (request.method == "GET" and config.accel_redirect and _local_blobs(store)
            and wants_accel(request.scope["headers"])):
        # Checked and decided here; nginx sends the bytes (and answers Range) from its internal location.
        headers["X-Accel-Redirect"] = accel_uri(entry.sha256)
        headers["Content-Length"] = "0"
        if not bare:
            return Response(status_code=200, headers=headers, media_type=media_type)
        return HeadersOnly(200, headers)
    return BlobResponse(store.blob_path(entry.sha256), headers=headers, media_type=media_type)


# Syntax checks of the names in a URL are pure functions of the text: the names clients ask for
# again and again are checked once (failures are not cached, and raise every time).
_valid_revision = lru_cache(maxsize=4096)(download_revision)
_valid_path = lru_cache(maxsize=4096)(download_path)


class HeadersOnly:
    """A response without a body (HEAD, or the X-Accel-Redirect answer nginx replaces), sent as two
    ASGI messages: no header normalisation or body handling, which cost more than the lookups."""

    def __init__(self, status: int, headers: dict[str, str]):
        self.status_code = status
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        raw.append((b"content-type", b"application/octet-stream"))
        await send({"type": "http.response.start", "status": self.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": b""})


def _local_blobs(store: Store) -> bool:
    """True for the embedded blob folder (not a subclass such as the S3 store's local cache)."""
    return type(store.blobs) is BlobFiles


_DATASET_URL = re.compile(r"/datasets/([^/]+)/([^/]+)/resolve/")
_MODEL_URL = re.compile(r"/([^/]+)/([^/]+)/resolve/")


class ResolveMiddleware:
    """``HEAD``/``GET .../resolve/...`` answered before FastAPI's routing, dependency resolution
    and thread-pool hop: most of a hub's requests are these, and most of their cost was the
    framework's. The checks are the same (:func:`_resolve` is the one code path).

    With the embedded store (SQLite, blob folder) the few indexed lookups run on the event loop:
    WAL-mode readers never wait for a writer, and a thread hop costs more than the queries. A
    request that writes (a counted download) or a store behind the network (PostgreSQL, S3) runs
    in a worker thread, so the loop never waits on a lock or a round trip. On the loop, lookups
    are remembered until the database changes (:class:`LookupCache`).

    No other route of the app matches these paths (those of the API start with ``/api/``, the
    pages' ones end in ``/tree``, ``/blob``, ``/raw`` or ``/commits``).
    """

    def __init__(self, app: ASGIApp):
        self.app = app
        self.cache = LookupCache()
        """Used on the event loop's thread only (see :class:`LookupCache`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        match = _DATASET_URL.match(path) if path.startswith("/datasets/") else None
        repo_type = "dataset" if match else "model"
        match = match or _MODEL_URL.match(path)
        if match is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        request = Request(scope, receive)
        if method not in ("GET", "HEAD"):
            response: Response | HeadersOnly = error_response(405, "Method Not Allowed")
            response.headers["Allow"] = "GET, HEAD"
        elif _inline(state(request).store, method, path):
            response = _answer(request, match.group(1), match.group(2), repo_type, self.cache)
        else:
            response = await run_in_threadpool(_answer, request, match.group(1), match.group(2), repo_type)
        await response(scope, receive, send)


def _inline(store: Store, method: str, path: str) -> bool:
    counted = method == "GET" and path.rsplit("/", 1)[-1] in COUNTED_FILES
    return getattr(store.db, "dialect", None) == "sqlite" and _local_blobs(store) and not counted


def _answer(request: Request, namespace: str, name: str, repo_type: str,
            cache: LookupCache | None = None) -> Response | HeadersOnly:
    """:func:`_resolve`'s response, or the error response the app's handlers would give."""
    try:
        return _resolve(request, namespace, name, repo_type, cache)
    except ZoolabError as exc:
        return zoolab_error_response(exc)
    except Exception as exc:  # a bug: logged, and answered like the app's own handler does
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}")
