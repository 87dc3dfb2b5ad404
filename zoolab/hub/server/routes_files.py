"""File downloads: ``HEAD``/``GET /{namespace}/{name}/resolve/{revision}/{path}``, with ranges."""

from __future__ import annotations

import os
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette import responses as starlette_responses
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from zoolab.errors import EntryNotFoundError
from zoolab.hub.server.app import error_response
from zoolab.hub.server.context import raw_segments, reader, repo_id_from, repo_store, state
from zoolab.hub.server.gating import check_file_access
from zoolab.hub.server.guards import download_path, download_revision

router = APIRouter()

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


def content_disposition(filename: str) -> str:
    """``attachment`` with the file name quoted per RFC 6266: an ASCII ``filename=`` fallback with
    quotes, backslashes, ``;``, ``%`` and non-ASCII replaced by ``_``, and the exact name percent-encoded
    in ``filename*=UTF-8''...`` (RFC 8187), so no name can add parameters or change what is saved."""
    fallback = "".join(ch if " " <= ch < "\x7f" and ch not in '"\\;%' else "_" for ch in filename)
    encoded = quote(filename.encode("utf-8", "backslashreplace"), safe="!#$&+-.^_`|~")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _resolve(request: Request, namespace: str, name: str, repo_type: str = "model") -> Response:
    repo_id = repo_id_from(namespace, name)
    store = repo_store(request, repo_type)
    viewer = reader(request)
    info = store.repo_info(repo_id, viewer=viewer)  # RepoNotFound for the invisible, like the missing
    check_file_access(info, viewer, str(request.base_url))
    # Dataset URLs start with one more segment: /datasets/<namespace>/<name>/resolve/...
    segments = raw_segments(request)[1:] if repo_type == "dataset" else raw_segments(request)
    if len(segments) < 5:
        from zoolab.errors import InvalidInputError

        raise InvalidInputError("expected /<namespace>/<name>/resolve/<revision>/<path>")
    revision = download_revision(segments[3])
    path = download_path("/".join(segments[4:]))
    commit_id = store.resolve_revision(repo_id, revision)
    try:
        _, entry = store.file_at(repo_id, path, commit_id)
    except EntryNotFoundError as exc:
        # With the commit id, clients cache the miss (transformers probes many optional files).
        response = error_response(exc.http_status, f"'{path}' not found in '{repo_id}' at revision '{revision}'",
                                  exc.error_code)
        response.headers["X-Repo-Commit"] = commit_id
        return response
    headers = {
        "ETag": f'"{entry.etag}"',
        "X-Repo-Commit": commit_id,
        "X-Linked-Size": str(entry.size),
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(path.rsplit("/", 1)[-1]),
        # An immutable address (a commit) may be cached for ever; a branch may move.
        "Cache-Control": "public, max-age=31536000, immutable" if revision == commit_id else "no-cache",
    }
    if entry.lfs:
        headers["X-Linked-Etag"] = f'"{entry.etag}"'
    if (
        request.method == "GET"
        and path in COUNTED_FILES
        and request.headers.get("range", "bytes=0-").startswith("bytes=0-")
    ):
        store.record_download(repo_id)
    if entry.size >= state(request).config.presign_min_bytes:
        # As the Hub redirects to its CDN: stock clients follow, and drop their token for the other host.
        url = store.blobs.presigned_url(entry.sha256, content_disposition=headers["Content-Disposition"])
        if url is not None:
            return Response(status_code=302, headers={**headers, "Location": url})
    return BlobResponse(store.blob_path(entry.sha256), headers=headers, media_type="application/octet-stream")


@router.head("/datasets/{namespace}/{name}/resolve/{rest:path}")
def resolve_dataset_head(namespace: str, name: str, rest: str, request: Request) -> Response:
    """Metadata of a dataset file (same answers as for models)."""
    return _resolve(request, namespace, name, "dataset")


@router.get("/datasets/{namespace}/{name}/resolve/{rest:path}")
def resolve_dataset_get(namespace: str, name: str, rest: str, request: Request) -> Response:
    """A dataset file's bytes, with ranges."""
    return _resolve(request, namespace, name, "dataset")


@router.head("/{namespace}/{name}/resolve/{rest:path}")
def resolve_head(namespace: str, name: str, rest: str, request: Request) -> Response:
    """Metadata of a file: X-Repo-Commit, ETag, sizes; 404 with X-Error-Code when missing."""
    return _resolve(request, namespace, name)


@router.get("/{namespace}/{name}/resolve/{rest:path}")
def resolve_get(namespace: str, name: str, rest: str, request: Request) -> Response:
    """A file's bytes; ``Range: bytes=N-M`` answers 206 with exactly those bytes."""
    return _resolve(request, namespace, name)
