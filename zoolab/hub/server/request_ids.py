"""``X-Request-Id`` on every response, as the Hub sends it.

Stock clients put the request id in every error they raise ("Request ID: ..."), so a user can
quote it and an operator can find the request. A client-chosen id (``X-Request-Id`` or the
``X-Amzn-Trace-Id`` huggingface_hub sends) is echoed when it is short and plain; otherwise the
server makes one.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PLAIN_ID = re.compile(rb"[A-Za-z0-9=;:._-]{1,128}")


class RequestIdMiddleware:
    """Pure ASGI middleware (no body buffering, so streamed downloads and uploads stay streamed)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex.encode()
        for name, value in scope.get("headers", ()):
            if name in (b"x-request-id", b"x-amzn-trace-id") and _PLAIN_ID.fullmatch(value):
                request_id = value
                break

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id)]}
            await send(message)

        await self.app(scope, receive, send_with_id)


__all__ = ["RequestIdMiddleware"]
