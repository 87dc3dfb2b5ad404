"""Zero-copy file downloads under uvicorn: the ASGI ``http.response.pathsend`` extension.

Starlette's ``FileResponse`` sends a whole file as one ``{"type": "http.response.pathsend",
"path": ...}`` message when the server advertises that extension, instead of reading it chunk by
chunk into Python and writing each chunk to the socket (two copies through user space and an
event-loop round trip per chunk). uvicorn does not implement the extension; :func:`install` adds it
to uvicorn's httptools protocol: the file goes to the socket with ``os.sendfile`` (kernel to
kernel), in a worker thread so the event loop keeps serving other connections.

Only whole-file GETs take this path (Starlette streams ranges and HEAD as before). If uvicorn's
internals are not the ones this module knows, :func:`install` changes nothing and downloads are
streamed as usual.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
from typing import Any

logger = logging.getLogger("zoolab.hub.server")

EXTENSION = "http.response.pathsend"
STALL_TIMEOUT_S = 120.0
"""A client that accepts no byte for this long is disconnected."""
_installed = False


def _send_file(sock_fd: int, path: str, size: int) -> int:
    """Blocking: ``os.sendfile`` the whole file to the (non-blocking) socket; bytes sent."""
    sent = 0
    with open(path, "rb") as fh:
        while sent < size:
            try:
                n = os.sendfile(sock_fd, fh.fileno(), sent, min(size - sent, 64 * 1024 * 1024))
            except BlockingIOError:
                _, writable, _ = select.select([], [sock_fd], [], STALL_TIMEOUT_S)
                if not writable:
                    raise TimeoutError("client stopped reading") from None
                continue
            if n == 0:
                break  # the file shrank: blobs are immutable, so this is a broken store
            sent += n
    return sent


def install() -> bool:
    """Teach uvicorn's httptools protocol ``http.response.pathsend``; True if installed."""
    global _installed
    if _installed:
        return True
    try:
        from uvicorn.protocols.http import httptools_impl
    except ImportError:  # httptools not installed: uvicorn uses h11, which streams
        return False
    base = getattr(httptools_impl, "RequestResponseCycle", None)
    needed = ("send", "transport", "response_started", "response_complete", "expected_content_length",
              "chunked_encoding", "message_event", "on_response", "keep_alive", "flow")
    if base is None or not all(hasattr(base, n) or n in base.__init__.__code__.co_names for n in needed):
        return False

    class PathsendCycle(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.scope.setdefault("extensions", {})[EXTENSION] = {}

        async def send(self, message: Any) -> None:
            if message.get("type") != EXTENSION:
                await super().send(message)
                return
            await self._pathsend(message["path"])

        async def _pathsend(self, path: str) -> None:
            if not self.response_started or self.response_complete or self.chunked_encoding:
                raise RuntimeError("http.response.pathsend needs a started response with a Content-Length")
            size = self.expected_content_length
            if self.scope["method"] != "HEAD" and size and not self.disconnected:
                sock = self.transport.get_extra_info("socket")
                # The headers are in the transport's buffer: let it flush them before writing past it.
                while self.transport.get_write_buffer_size() and not self.transport.is_closing():
                    await asyncio.sleep(0.0005)
                try:
                    sent = await asyncio.to_thread(_send_file, sock.fileno(), os.fspath(path), size)
                except (OSError, TimeoutError) as exc:
                    logger.debug("pathsend of %s stopped: %s", path, exc)
                    sent = -1
                if sent != size:
                    # The client went away (or the file is short): the connection cannot be reused.
                    self.keep_alive = False
                    self.transport.close()
            self.expected_content_length = 0
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive and not self.transport.is_closing():
                self.transport.close()
            self.on_response()

    httptools_impl.RequestResponseCycle = PathsendCycle
    _installed = True
    return True


__all__ = ["EXTENSION", "install"]
