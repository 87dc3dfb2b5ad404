"""A bound on the size of a request's head (request line and headers) under uvicorn's httptools.

uvicorn bounds headers only on its h11 path (``h11_max_incomplete_event_size``). With httptools,
the parser hands over a header value in pieces and the pieces are joined by concatenation, so one
huge header costs time growing with the square of its length, on the event loop, stalling every
other client. An ASGI middleware sees headers only after that work is done, so the bound is
counted here, on the bytes as they arrive, before the parser sees them: a head larger than the
limit gets ``431 Request Header Fields Too Large`` (in the Hub's error form) and the connection is
closed, at a cost linear in the bytes received.

The same protocol answers a remembered ``HEAD`` of a download on its own, as soon as its headers
are parsed (see :func:`httptools_protocol`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

QuickAnswer = Callable[[str, bytes, list[tuple[bytes, bytes]]], bytes | None]
"""``(path, raw path, request headers) -> response header lines`` (``name: value\\r\\n`` each) of
a ``200`` without a body, or None to leave the request to the app (see :func:`httptools_protocol`)."""

logger = logging.getLogger("zoolab.hub.server")

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
"""Largest request line plus headers accepted by default (64 KiB; browsers and clients send < 8 KiB)."""


def httptools_protocol(max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
                       quick_head: QuickAnswer | None = None) -> type[Any] | None:
    """uvicorn's httptools protocol class with the head of each request bounded to
    ``max_header_bytes``, for ``uvicorn.Config(http=...)``; None without httptools.

    ``quick_head``: a ``HEAD`` it answers (a remembered download, see
    :meth:`.routes_files.Downloads.quick_head`) is written to the connection as soon as its
    headers are parsed, without the ASGI task, request cycle and event-loop turn of every other
    request, which cost more than the answer. Only the plain case: HTTP/1.1 keep-alive, nothing
    pipelined ahead of it, an ASCII request path; everything else goes to the app.
    """
    try:
        import httptools
        from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
    except ImportError:  # httptools missing: uvicorn's h11 path has its own bound
        return None
    ok = STATUS_LINE[200]

    class BoundedHeadProtocol(HttpToolsProtocol):  # type: ignore[misc, valid-type]
        limit = max_header_bytes

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True
            self._head_bytes = 0
            self._tail = b""  # last bytes of the head so far: a terminator may span two chunks
            self._refused = False
            self._answered = False

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
            if quick_head is not None and self._quick():
                return
            super().on_headers_complete()

        def _quick(self) -> bool:
            parser = self.parser
            if (parser.get_method() != b"HEAD" or parser.get_http_version() != "1.1"
                    or not parser.should_keep_alive() or parser.should_upgrade() or self.root_path
                    or (self.cycle is not None and not self.cycle.response_complete) or self.pipeline):
                return False
            raw_path = httptools.parse_url(self.url).path
            if not raw_path.isascii():
                return False  # uvicorn's own answer to that
            path = raw_path.decode("ascii")
            try:
                lines = quick_head(unquote(path) if "%" in path else path, raw_path, self.headers)  # as uvicorn decodes
            except Exception:  # noqa: BLE001 - a bug: logged, and the app answers (or fails) as usual
                logger.exception("answering HEAD %s without the app failed", path)
                return False
            if lines is None:
                return False
            content = [ok]
            for name, value in self.server_state.default_headers:  # Date, Server
                content += (name, b": ", value, b"\r\n")
            content += (lines, b"\r\n")
            self.transport.write(b"".join(content))
            self._answered = True
            return True

        def on_body(self, body: bytes) -> None:
            if not self._answered:  # a body sent with an answered HEAD is read and dropped
                super().on_body(body)

        def on_message_complete(self) -> None:
            if self._answered:
                # No cycle was started for it: the response is complete, as a cycle would end it.
                self._answered = False
                self.on_response_complete()
            else:
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
