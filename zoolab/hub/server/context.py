"""Per-app state and the request helpers every route shares: who is calling, size-limited bodies,
repo ids and revisions taken from the raw URL path.

Every parse of a request body and every id, revision or path taken from a URL goes through one of
these functions, which raise :mod:`zoolab.errors` input errors (answered as 4xx, never 500).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from zoolab.errors import (
    AuthenticationError,
    InvalidInputError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from zoolab.hub.store import Store, User
from zoolab.hub.store.validation import load_json, validate_repo_id

DEFAULT_MAX_BODY_BYTES = 64 * 1024**3
"""Largest request body accepted by default (a commit or an LFS upload): 64 GiB."""
MAX_JSON_BYTES = 16 * 1024**2
"""JSON bodies (repo creation, preupload, LFS batch, ...) are small: at most 16 MiB."""


@dataclass
class ServerConfig:
    """How a hub server behaves. Built by :func:`zoolab.hub.server.create_app`."""

    require_auth_for_reads: bool = False
    """Every request, reads included, needs a valid token."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest request body (commit payload, LFS upload or part) accepted."""
    upload_mode: str = "regular"
    """Answer to ``preupload`` for binary/large files: ``regular`` (works with every stock client,
    Xet or not) or ``lfs`` (the Hub's split; clients must set ``HF_HUB_DISABLE_XET=1``)."""
    lfs_multipart_threshold: int = 64 * 1024**2
    """LFS uploads from this size on use the multipart transfer."""
    lfs_chunk_size: int = 64 * 1024**2
    """Part size of multipart LFS uploads."""
    url_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Key signing the LFS upload URLs (they carry no Authorization header)."""
    presign_min_bytes: int = 10 * 1024**2
    """Downloads from this size on are redirected to a presigned URL of the blob store, where the
    store can presign (S3); smaller files, and every file of the blob folder, are sent directly."""
    accel_redirect: bool = False
    """Behind nginx (``zoolab hub nginx-config``): authorised downloads of the blob folder are
    answered with ``X-Accel-Redirect`` and nginx sends the bytes (see :mod:`.accel`)."""


@dataclass
class ServerState:
    """What routes reach through ``request.app.state.hub``."""

    store: Store
    config: ServerConfig

    @property
    def uploads_dir(self) -> Path:
        """Where multipart LFS uploads are assembled (inside the store's temp folder)."""
        path = self.store.blobs.tmp_dir / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path


def state(request: Request) -> ServerState:
    """The server state of the app handling ``request``."""
    return request.app.state.hub  # type: ignore[no-any-return]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("Invalid credentials in Authorization header",
                                  hint="send 'Authorization: Bearer <token>'")
    return value.strip()


def caller(request: Request) -> User | None:
    """The authenticated caller, None if anonymous. Unknown tokens are refused (401)."""
    token = bearer_token(request)
    if token is None:
        return None
    user = state(request).store.authenticate(token)
    if user is None:
        raise AuthenticationError("Invalid credentials in Authorization header",
                                  hint="create a token: zoolab hub token create --user NAME")
    return user


def reader(request: Request) -> User | None:
    """The caller of a read request; with ``require_auth_for_reads`` a token is mandatory."""
    user = caller(request)
    if user is None and state(request).config.require_auth_for_reads:
        raise AuthenticationError("this server requires a token for every request",
                                  hint="set HF_TOKEN to a token from 'zoolab hub token create'")
    return user


def writer(request: Request) -> User:
    """The caller of a write request: a token is mandatory (its write flag is checked per repo)."""
    user = caller(request)
    if user is None:
        raise AuthenticationError("writing needs a token",
                                  hint="create one with 'zoolab hub token create --user NAME --write'")
    return user


# ---------------------------------------------------------------------------- URL parsing
def raw_segments(request: Request) -> list[str]:
    """The request path split on '/' BEFORE percent-decoding, then each segment decoded.

    Revisions are sent quoted (``refs%2Fpr%2F1``), so only the raw path tells a revision's
    slashes from the path separators that follow it.
    """
    raw = request.scope.get("raw_path") or request.url.path.encode()
    text = raw.decode("latin-1").split("?", 1)[0]
    parts = text.split("/")[1:]
    try:
        return [unquote(part, errors="strict") for part in parts]
    except UnicodeDecodeError:
        raise InvalidInputError("the URL path is not valid percent-encoded UTF-8",
                                hint="percent-encode names as UTF-8") from None


API_REPO_KINDS = {"models": "model", "datasets": "dataset"}
"""``/api/{kind}/...`` URL segments and the repo types they name."""


def repo_type_of(request: Request) -> str:
    """``model`` or ``dataset``: the repo type an ``/api/models/...`` or ``/api/datasets/...`` URL names."""
    segments = raw_segments(request)
    return API_REPO_KINDS.get(segments[1], "model") if len(segments) > 1 and segments[0] == "api" else "model"


def repo_store(request: Request, repo_type: str | None = None) -> Store:
    """The store naming repos of ``repo_type`` (default: the type the URL names)."""
    return state(request).store.for_type(repo_type or repo_type_of(request))


def repo_id_from(namespace: str, name: str) -> str:
    """Validated ``namespace/name``."""
    repo_id = f"{namespace}/{name}"
    validate_repo_id(repo_id)
    return repo_id


def revision_and_path(request: Request, marker: str, *, namespace_index: int) -> tuple[str, str]:
    """For ``.../{marker}/{revision}/{path...}``: the decoded revision and the file path.

    ``namespace_index`` is the index of the namespace segment in the raw path.
    """
    segments = raw_segments(request)
    start = namespace_index + 2
    if len(segments) <= start + 1 or segments[start] != marker:
        raise InvalidInputError(f"expected /{marker}/<revision>/<path> in the URL")
    revision = segments[start + 1]
    path = "/".join(segments[start + 2:])
    return revision, path


# ---------------------------------------------------------------------------- bodies
async def iter_body(request: Request, *, limit: int | None = None) -> AsyncIterator[bytes]:
    """The request body as chunks, refusing more than ``limit`` bytes (default: the server's)."""
    limit = state(request).config.max_body_bytes if limit is None else limit
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError:
            raise InvalidInputError("invalid Content-Length header") from None
        if declared_size > limit:
            raise PayloadTooLargeError(f"request body of {declared_size} bytes exceeds the limit of {limit} bytes",
                                       hint="raise the server's --max-body-mb or send a smaller body")
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes",
                                       hint="raise the server's --max-body-mb or send a smaller body")
        if chunk:
            yield chunk


async def read_body(request: Request, *, limit: int) -> bytes:
    """The whole (small) body, at most ``limit`` bytes."""
    parts = [chunk async for chunk in iter_body(request, limit=limit)]
    return b"".join(parts)


def _check_content_type(request: Request, allowed: tuple[str, ...]) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        return  # lenient: many scripts omit it for JSON
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in allowed:
        raise UnsupportedMediaTypeError(f"unsupported content type {media!r}", hint=f"send {allowed[0]}")


JSON_TYPES = ("application/json", "application/vnd.git-lfs+json", "text/plain")


async def read_json_object(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body parsed as a JSON object; InvalidInputError if it is not one."""
    _check_content_type(request, JSON_TYPES)
    limit = min(MAX_JSON_BYTES, state(request).config.max_body_bytes)
    body = await read_body(request, limit=limit)
    if not body.strip() and allow_empty:
        return {}
    # Parsing grows with the body (up to 16 MiB): large ones are parsed off the event loop.
    data = load_json(body) if len(body) < 64 * 1024 else await run_in_threadpool(load_json, body)
    if not isinstance(data, dict):
        raise InvalidInputError("request body must be a JSON object")
    return data


async def read_form_or_json(request: Request) -> dict[str, Any]:
    """A JSON object or an urlencoded form (``paths-info`` is sent as a form by stock clients)."""
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qs

        body = await read_body(request, limit=min(MAX_JSON_BYTES, state(request).config.max_body_bytes))

        def parse() -> dict[str, list[str]]:
            try:
                return parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
            except UnicodeDecodeError:
                raise InvalidInputError("form body is not UTF-8") from None

        # Parsing grows with the body (10,000 paths of paths-info): large ones off the event loop.
        parsed = parse() if len(body) < 64 * 1024 else await run_in_threadpool(parse)
        return {key: values if key == "paths" else values[-1] for key, values in parsed.items()}
    return await read_json_object(request)


def field_str(data: dict[str, Any], key: str, *, required: bool = True, default: str | None = None) -> str | None:
    """``data[key]`` as a string, or InvalidInputError."""
    value = data.get(key, default)
    if value is None:
        if required:
            raise InvalidInputError(f"missing field '{key}'")
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"field '{key}' must be a string")
    return value


def field_bool(data: dict[str, Any], key: str, default: bool = False) -> bool:
    """``data[key]`` as a bool (also 'true'/'1' strings), or InvalidInputError."""
    value = data.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0", ""):
        return value.lower() in ("true", "1")
    if value is None:
        return default
    raise InvalidInputError(f"field '{key}' must be a boolean")
