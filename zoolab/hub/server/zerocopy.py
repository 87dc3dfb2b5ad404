"""Zero-copy file downloads under uvicorn: the ASGI ``http.response.pathsend`` extension.

Starlette's ``FileResponse`` sends a whole file as one ``{"type": "http.response.pathsend",
"path": ...}`` message when the server advertises that extension, instead of reading it chunk by
chunk into Python and writing each chunk to the socket (two copies through user space and an
event-loop round trip per chunk). uvicorn does not implement the extension; :func:`install` adds it
to uvicorn's httptools protocol: the file goes to the socket with ``os.sendfile`` (kernel to
kernel), each call in a worker thread, and the coroutine waits (without a thread) while the
client's socket buffer is full, so the event loop keeps serving other connections.

Only whole-file GETs take this path (Starlette streams ranges and HEAD as before). If uvicorn's
internals are not the ones this module knows, :func:`install` changes nothing and downloads are
streamed as usual.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("zoolab.hub.server")

EXTENSION = "http.response.pathsend"
STALL_TIMEOUT_S = 120.0
"""A client that accepts no byte for this long is disconnected."""
_installed = False


def _send_some(sock_fd: int, file_fd: int, offset: int, count: int) -> int:
    """One ``os.sendfile`` on the non-blocking socket: bytes sent, 0 if its buffer is full."""
    try:
        return os.sendfile(sock_fd, file_fd, offset, count)
    except BlockingIOError:
        return 0


async def send_file(sock_fd: int, path: str, size: int, gone: Callable[[], bool] = lambda: False) -> int:
    """Send the first ``size`` bytes of ``path`` to the socket; bytes sent.

    Each ``sendfile`` call runs in a worker thread (it may wait on the disk); while the client's
    socket buffer is full the coroutine sleeps instead of holding a thread, so slow or stalled
    clients cost no thread each. A client that takes nothing for :data:`STALL_TIMEOUT_S` is dropped.
    """
    sent = 0
    pause = 0.0002
    last_progress = time.monotonic()
    with open(path, "rb") as fh:
        while sent < size:
            n = await asyncio.to_thread(_send_some, sock_fd, fh.fileno(), sent, min(size - sent, 16 * 1024 * 1024))
            if n > 0:
                sent += n
                pause = 0.0002
                last_progress = time.monotonic()
                continue
            if gone():
                break  # the client disconnected
            if time.monotonic() - last_progress > STALL_TIMEOUT_S:
                raise TimeoutError("client stopped reading")
            if os.fstat(fh.fileno()).st_size <= sent:
                break  # the file shrank: blobs are immutable, so this is a broken store
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)
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
              "chunked_encoding", "message_event", "on_response", "keep_alive", "disconnected", "scope")
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
                sent = await self._sendfile(os.fspath(path), size)
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

        async def _sendfile(self, path: str, size: int) -> int:
            # The headers are in the transport's buffer: let it flush them before writing past it.
            deadline = time.monotonic() + STALL_TIMEOUT_S
            while self.transport.get_write_buffer_size() and not self.transport.is_closing():
                if time.monotonic() > deadline:
                    return -1
                await asyncio.sleep(0.0005)
            sock = self.transport.get_extra_info("socket")
            if sock is None or self.transport.is_closing():
                return -1
            # Our own descriptor of the socket: if uvicorn closes its one meanwhile, the number
            # could be reused for another connection, and the bytes must never go there.
            sock_fd = os.dup(sock.fileno())
            try:
                return await send_file(sock_fd, path, size, lambda: bool(self.disconnected))
            except (OSError, TimeoutError) as exc:
                logger.debug("pathsend of %s stopped: %s", path, exc)
                return -1
            finally:
                os.close(sock_fd)

    httptools_impl.RequestResponseCycle = PathsendCycle
    _installed = True
    return True


__all__ = ["EXTENSION", "install"]
