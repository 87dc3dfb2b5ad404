"""A bound on the size of a request's head (request line and headers) under uvicorn's httptools.

uvicorn bounds headers only on its h11 path (``h11_max_incomplete_event_size``). With httptools,
the parser hands over a header value in pieces and the pieces are joined by concatenation, so one
huge header costs time growing with the square of its length, on the event loop, stalling every
other client. An ASGI middleware sees headers only after that work is done, so the bound is
counted here, on the bytes as they arrive, before the parser sees them: a head larger than the
limit gets ``431 Request Header Fields Too Large`` (in the Hub's error form) and the connection is
closed, at a cost linear in the bytes received.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
"""Largest request line plus headers accepted by default (64 KiB; browsers and clients send < 8 KiB)."""


def httptools_protocol(max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> type[Any] | None:
    """uvicorn's httptools protocol class with the head of each request bounded to
    ``max_header_bytes``, for ``uvicorn.Config(http=...)``; None without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools missing: uvicorn's h11 path has its own bound
        return None

    class BoundedHeadProtocol(HttpToolsProtocol):  # type: ignore[misc, valid-type]
        limit = max_header_bytes

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True
            self._head_bytes = 0
            self._tail = b""  # last bytes of the head so far: a terminator may span two chunks
            self._refused = False

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._in_head and self._head_bytes + len(data) > self.limit:
                allowed = self.limit - self._head_bytes
                # Over the limit unless the head ends (blank line) within what is still allowed.
                if (self._tail + data[: max(allowed, 0) + 4]).find(b"\r\n\r\n") < 0:
                    self._refuse()
                    return
            if self._in_head:
                self._head_bytes += len(data)
                self._tail = (self._tail + data[-3:])[-3:]
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            # The next request on this connection (keep-alive) starts its own count.
            self._in_head = True
            self._head_bytes = 0
            self._tail = b""

        def _refuse(self) -> None:
            message = (f"request line and headers exceed {self.limit} bytes "
                       "(send smaller headers; the server's limit is --max-header-kb)")
            body = json.dumps({"error": message}).encode()
            head = (
                "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                "content-type: application/json\r\n"
                f"content-length: {len(body)}\r\n"
                f"x-error-message: {message}\r\n"
                "connection: close\r\n\r\n"
            ).encode("latin-1")
            self._refused = True
            self.transport.write(head + body)
            self.transport.close()

    return BoundedHeadProtocol


__all__ = ["DEFAULT_MAX_HEADER_BYTES", "httptools_protocol"]
