"""The FastAPI application: error mapping onto the Hub's error protocol, and the routers."""

from __future__ import annotations

import logging
from typing import Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from zoolab._version import __version__
from zoolab.errors import ZoolabError
from zoolab.hub.server.context import DEFAULT_MAX_BODY_BYTES, ServerConfig, ServerState
from zoolab.hub.server.request_ids import RequestIdMiddleware
from zoolab.hub.store import Store

logger = logging.getLogger("zoolab.hub.server")


class Front(Protocol):
    """What answers some requests ahead of the framework (:class:`.routes_files.Downloads`)."""

    def match(self, path: str) -> tuple[str, str, str] | None:
        """What the handler needs of a path it answers; None for the others."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send, match: tuple[str, str, str]) -> None:
        """Answer the request (its own errors included: nothing reaches the framework's handlers)."""

    def quick_head(self, path: str, raw_path: bytes, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        """The header lines of a ``200`` answer to a ``HEAD`` known without the app, else None
        (:data:`.limits.QuickAnswer`)."""


class HubApp(FastAPI):
    """The FastAPI app with a front for downloads: a ``resolve`` URL is answered before
    FastAPI's and Starlette's middleware layers (error catching, telemetry, body limits, request
    ids), routing and dependency resolution, which cost more than answering a cached ``HEAD``.
    The front does its own error handling and request ids (see :class:`.routes_files.Downloads`)."""

    front: Front | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.front
        if front is not None and scope["type"] == "http":
            match = front.match(scope["path"])
            if match is not None:
                scope["app"] = self  # what Starlette sets: Request.app and state() read it
                await front(scope, receive, send, match)
                return
        await super().__call__(scope, receive, send)


def error_response(status: int, message: str, code: str | None = None) -> JSONResponse:
    """A Hugging Face–style error: ``{"error": message}`` plus ``X-Error-Code``/``X-Error-Message``."""
    # A message may echo input with a lone surrogate: as UTF-8 it would fail and drop the connection.
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    headers = {"X-Error-Message": header_safe(message)}
    if code:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def zoolab_error_response(exc: ZoolabError) -> JSONResponse:
    """The Hub's answer to a zoolab error."""
    if exc.error_code == "RepoNotFound":
        # The Hub's words: stock clients print their own explanation around them.
        return error_response(exc.http_status, "Repository not found", exc.error_code)
    return error_response(exc.http_status, str(exc), exc.error_code)


def header_safe(message: str) -> str:
    """``message`` as one latin-1 header line (an error text echoing a name with a newline must not
    break the response)."""
    text = " ".join(message.split())
    # Control characters (a NUL echoed from a bad path) would make the HTTP layer drop the connection.
    text = "".join(ch if ch >= " " and ch != "\x7f" else "?" for ch in text)
    return text.encode("latin-1", "replace").decode("latin-1")[:1000]


def create_app(
    store: Store,
    *,
    require_auth_for_reads: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    config: ServerConfig | None = None,
) -> HubApp:
    """A hub server app over ``store``.

    ``require_auth_for_reads`` makes every request need a token; ``max_body_bytes`` bounds every
    request body (commit payloads, LFS uploads). ``config`` sets the rest (upload mode, LFS part
    size); its two fields above are overridden by the keyword arguments.
    """
    from zoolab.hub.server import routes_admin, routes_files, routes_repos, routes_upload

    cfg = config or ServerConfig()
    cfg.require_auth_for_reads = require_auth_for_reads
    cfg.max_body_bytes = max_body_bytes
    app = HubApp(title="zoolab hub", version=__version__, docs_url=None, redoc_url=None)
    app.state.hub = ServerState(store=store, config=cfg)

    @app.exception_handler(ZoolabError)
    async def _zoolab_error(request: Request, exc: ZoolabError) -> JSONResponse:
        return zoolab_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()[:5])
        return error_response(400, f"invalid request: {details}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404:
            if _names_a_repo(request.url.path):
                # A repo id without namespace ('/api/models/gpt2', '/gpt2/resolve/...'): no such repo
                # here, and the Hub's code lets clients answer repo_exists/file_exists with False.
                return error_response(404, "Repository not found", "RepoNotFound")
            message = f"no such endpoint: {request.method} {request.url.path}"
        return error_response(exc.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(request, exc)

    app.include_router(routes_upload.router)
    app.include_router(routes_repos.router)
    app.include_router(routes_admin.router)
    # The web pages last: their catch-all paths ('/{namespace}/{name}') never shadow an API route.
    from zoolab.hub.server import pages

    app.include_router(pages.router)
    app.add_middleware(RequestIdMiddleware)
    app.front = routes_files.Downloads(app.state.hub)  # downloads skip the framework (see there)
    return app


def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    """The answer to a bug: logged (never the Authorization header), answered like the Hub would."""
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, f"internal error: {type(exc).__name__}")


_REPO_SUBPATHS = frozenset({"revision", "tree", "paths-info", "refs", "commits", "preupload", "commit", "settings",
                            "branch", "tag", "super-squash", "lfs-files"})


def _names_a_repo(path: str) -> bool:
    """True for a repo URL whose id has no namespace (every repo here has one)."""
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) >= 3 and parts[1] in ("models", "datasets", "spaces"):
        return len(parts) == 3 or parts[3] in _REPO_SUBPATHS
    if parts[:1] == ["datasets"]:
        parts = parts[1:]
    return len(parts) >= 3 and parts[1] == "resolve"
