"""File downloads: ``HEAD``/``GET /{namespace}/{name}/resolve/{revision}/{path}``, with ranges.

Served by :class:`Downloads` ahead of the app's middleware and routes; behind nginx, whole-file and
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
from starlette.types import Receive, Scope, Send

from zoolab.errors import InvalidInputError, ZoolabError
from zoolab.hub.server.accel import accel_uri, wants_accel
from zoolab.hub.server.app import error_response, unexpected_error_response, zoolab_error_response
from zoolab.hub.server.context import ServerState, raw_segments, reader, repo_id_from, repo_store, state
from zoolab.hub.server.gating import check_file_access, may_read_files
from zoolab.hub.server.guards import download_path, download_revision
from zoolab.hub.server.request_ids import request_id, sending_request_id
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
    head: list[tuple[bytes, bytes]] | None = None
    """The header lines of the answer to a ``HEAD`` without Range (None if there is no file)."""
    head_block: bytes = b""
    """The same lines as sent on the wire (``name: value\\r\\n`` each)."""


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
        head = _raw_headers({**headers, "Content-Length": str(entry.size)})
        block = b"".join(b"%s: %s\r\n" % line for line in head)
        return Found(repo_id, revision, path, target.commit_id, entry, headers, head, block)
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
        key = (_raw_path(scope), next((v for k, v in scope["headers"] if k == b"authorization"), None))
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
    method = request.method
    if method == "HEAD" and found.head is not None and "range" not in request.headers:
        # The metadata clients ask before every download: answered from the database alone.
        return HeadersOnly(200, raw=found.head)
    headers = dict(found.headers)
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
    ASGI messages: no header normalisation or body handling, which cost more than the lookups.

    ``raw``: the header lines already encoded (:func:`_raw_headers`), instead of ``headers``."""

    def __init__(self, status: int, headers: dict[str, str] | None = None, *,
                 raw: list[tuple[bytes, bytes]] | None = None):
        self.status_code = status
        self.raw = _raw_headers(headers or {}) if raw is None else raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": list(self.raw)})
        await send({"type": "http.response.body", "body": b""})


def _raw_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """ASGI header lines of a bodiless octet-stream answer with ``headers``."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-type", b"application/octet-stream"))
    return raw


def _local_blobs(store: Store) -> bool:
    """True for the embedded blob folder (not a subclass such as the S3 store's local cache)."""
    return type(store.blobs) is BlobFiles


_DATASET_URL = re.compile(r"/datasets/([^/]+)/([^/]+)/resolve/")
_MODEL_URL = re.compile(r"/([^/]+)/([^/]+)/resolve/")


class Downloads:
    """``HEAD``/``GET .../resolve/...``, answered by :class:`~zoolab.hub.server.app.HubApp` ahead
    of FastAPI's middleware, routing, dependency resolution and thread-pool hop: most of a hub's
    requests are these, and most of their cost was the framework's. The checks are the same
    (:func:`_resolve` is the one code path); the request id and the answer to a bug are this
    class's own, as the app's middleware never sees these requests.

    With the embedded store (SQLite, blob folder) the few indexed lookups run on the event loop:
    WAL-mode readers never wait for a writer, and a thread hop costs more than the queries. A
    request that writes (a counted download) or a store behind the network (PostgreSQL, S3) runs
    in a worker thread, so the loop never waits on a lock or a round trip. On the loop, lookups
    are remembered until the database changes (:class:`LookupCache`), and a remembered ``HEAD``
    is sent as the header lines it got the first time, by the server's protocol itself where it
    can (:meth:`quick_head`).

    No other route of the app matches these paths (those of the API start with ``/api/``, the
    pages' ones end in ``/tree``, ``/blob``, ``/raw`` or ``/commits``).
    """

    def __init__(self, hub: ServerState):
        self.hub = hub
        self.cache = LookupCache()
        """Used on the event loop's thread only (see :class:`LookupCache`)."""
        store = hub.store
        self.on_loop = getattr(store.db, "dialect", None) == "sqlite" and _local_blobs(store)
        """Lookups may run on the event loop (the embedded store; see above)."""
        self._stores = {kind: store.for_type(kind) for kind in ("model", "dataset")}

    def match(self, path: str) -> tuple[str, str, str] | None:
        """(namespace, name, repo type) of a resolve URL; None for every other path."""
        if path.startswith("/datasets/"):
            found = _DATASET_URL.match(path)
            if found is not None:
                return found.group(1), found.group(2), "dataset"
        found = _MODEL_URL.match(path)
        return None if found is None else (found.group(1), found.group(2), "model")

    async def __call__(self, scope: Scope, receive: Receive, send: Send, match: tuple[str, str, str]) -> None:
        rid = request_id(scope["headers"])
        method = scope["method"]
        request = Request(scope, receive)
        namespace, name, repo_type = match
        if method not in ("GET", "HEAD"):
            response: Response | HeadersOnly = error_response(405, "Method Not Allowed")
            response.headers["Allow"] = "GET, HEAD"
        elif self.on_loop and not (method == "GET" and scope["path"].rsplit("/", 1)[-1] in COUNTED_FILES):
            response = _answer(request, namespace, name, repo_type, self.cache)
        else:
            response = await run_in_threadpool(_answer, request, namespace, name, repo_type)
        await response(scope, receive, sending_request_id(send, rid))

    def quick_head(self, path: str, raw_path: bytes, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        """The response header lines, as sent on the wire, of a remembered ``200`` answer to a
        ``HEAD`` of ``path``, request id included; None where the app must answer (not a
        remembered download, a Range). Called by the server's protocol before any ASGI work
        (:func:`.limits.httptools_protocol`)."""
        match = self.match(path) if self.on_loop else None
        found = None if match is None else self._remembered(raw_path, headers, match[2])
        if found is None or found.head is None:
            return None
        return b"%sx-request-id: %s\r\n" % (found.head_block, request_id(headers))

    def _remembered(self, raw_path: bytes, headers: list[tuple[bytes, bytes]], repo_type: str) -> Found | None:
        """The remembered lookup for a ``HEAD`` without Range, None if there is none."""
        auth = None
        for key, value in headers:
            if key == b"range":
                return None
            if key == b"authorization" and auth is None:
                auth = value  # the first, the one the app authenticates
        # Filed as :func:`_resolve` files it: the raw URL path and the (first) Authorization header.
        return self.cache.get(self._stores[repo_type], (raw_path, auth))


def _raw_path(scope: Scope) -> bytes:
    """The URL path as sent (remembered lookups are filed under it and the Authorization header)."""
    raw = scope.get("raw_path")
    return raw if raw else scope["path"].encode("utf-8")


def _answer(request: Request, namespace: str, name: str, repo_type: str,
            cache: LookupCache | None = None) -> Response | HeadersOnly:
    """:func:`_resolve`'s response, or the error response the app's handlers would give."""
    try:
        return _resolve(request, namespace, name, repo_type, cache)
    except ZoolabError as exc:
        return zoolab_error_response(exc)
    except Exception as exc:  # a bug: logged, and answered by the app's own handler's code
        return unexpected_error_response(request, exc)
