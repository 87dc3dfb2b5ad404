"""Zero-copy file downloads under uvicorn: the ASGI ``http.response.pathsend`` extension.

Starlette's ``FileResponse`` sends a whole file as one ``{"type": "http.response.pathsend",
"path": ...}`` message when the server advertises that extension, instead of reading it chunk by
chunk into Python and writing each chunk to the socket (two copies through user space and an
event-loop round trip per chunk). uvicorn does not implement the extension; :func:`install` adds it
to uvicorn's httptools protocol: the file goes to the socket with ``os.sendfile`` (kernel to
kernel), in a worker thread while the socket takes bytes; while the client's socket buffer is
full the coroutine waits for writability on the event loop, so the loop keeps serving other
connections and a slow client holds no thread.

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
INLINE_BYTES = 256 * 1024
"""Files up to this size are sent from the event loop's thread (no worker-thread round trip)."""
_installed = False


def _send_until_full(sock_fd: int, file_fd: int, offset: int, end: int) -> int:
    """``os.sendfile`` on the non-blocking socket until its buffer is full or ``end`` is reached;
    returns the new offset (unchanged if the buffer was full at once, or at end of file)."""
    while offset < end:
        try:
            n = os.sendfile(sock_fd, file_fd, offset, min(end - offset, 16 * 1024 * 1024))
        except BlockingIOError:
            break
        if n == 0:
            break  # end of file
        offset += n
    return offset


async def _writable(sock_fd: int, timeout_s: float) -> bool:
    """Wait until the socket can take more bytes; False on timeout."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_writer(sock_fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout_s)
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_writer(sock_fd)


async def send_file(sock_fd: int, path: str, size: int, gone: Callable[[], bool] = lambda: False) -> int:
    """Send the first ``size`` bytes of ``path`` to the socket ``sock_fd`` (a descriptor of our own,
    not one the event loop's transport uses); bytes sent.

    ``sendfile`` calls run in a worker thread (they may wait on the disk) for as long as the socket
    takes bytes; while the client's socket buffer is full the coroutine waits for writability on the
    event loop, holding no thread, so slow or stalled clients cost nothing. A client that takes
    nothing for :data:`STALL_TIMEOUT_S` is dropped.
    """
    sent = 0
    with open(path, "rb") as fh:
        while sent < size and not gone():
            if size <= INLINE_BYTES:
                # A small file: one sendfile from the page cache costs less than a thread hop.
                moved = _send_until_full(sock_fd, fh.fileno(), sent, size)
            else:
                moved = await asyncio.to_thread(_send_until_full, sock_fd, fh.fileno(), sent, size)
            if moved == sent:
                if os.fstat(fh.fileno()).st_size <= sent:
                    break  # the file shrank: blobs are immutable, so this is a broken store
                if not await _writable(sock_fd, STALL_TIMEOUT_S):
                    raise TimeoutError("client stopped reading")
            sent = moved
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
