"""``X-Request-Id`` on every response, as the Hub sends it.

Stock clients put the request id in every error they raise ("Request ID: ..."), so a user can
quote it and an operator can find the request. A client-chosen id (``X-Request-Id`` or the
``X-Amzn-Trace-Id`` huggingface_hub sends) is echoed when it is short and plain; otherwise the
server makes one.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PLAIN_ID = re.compile(rb"[A-Za-z0-9=;:._-]{1,128}")


class _Ids:
    """Ids unique without a system call per request: a random per-process prefix and a counter
    (a uuid4 costs a ``getrandom`` call, a measurable share of a cached ``HEAD``). Ids only need
    to tell requests apart; they are not secrets."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        # A forked worker starts over with its own prefix: no two processes hand out the same id.
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()

    def next(self) -> bytes:
        return f"{self.prefix}{next(self.counter):016x}".encode()


_IDS = _Ids()
if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork to follow
    os.register_at_fork(after_in_child=_IDS.reseed)


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The id of a request with these (ASGI) headers: the client's own if plain, else a new one."""
    for name, value in headers:
        if name in (b"x-request-id", b"x-amzn-trace-id") and _PLAIN_ID.fullmatch(value):
            return value
    return _IDS.next()


def sending_request_id(send: Send, rid: bytes) -> Send:
    """``send`` with the ``X-Request-Id`` header set to ``rid`` on the response start."""

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
            message = {**message, "headers": [*headers, (b"x-request-id", rid)]}
        await send(message)

    return send_with_id


class RequestIdMiddleware:
    """Pure ASGI middleware (no body buffering, so streamed downloads and uploads stay streamed)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, sending_request_id(send, request_id(scope.get("headers", ()))))


__all__ = ["RequestIdMiddleware", "request_id", "sending_request_id"]
