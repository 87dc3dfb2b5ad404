"""Run a hub server with uvicorn on a socket we bind ourselves (so port 0 picks a free port), in one
process or in several worker processes sharing that socket."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from zoolab.errors import ConfigError
from zoolab.hub.server.context import DEFAULT_MAX_BODY_BYTES, ServerConfig
from zoolab.hub.server.limits import DEFAULT_MAX_HEADER_BYTES, QuickAnswer, httptools_protocol
from zoolab.hub.store import Store
from zoolab.hub.store.backends import StoreLocation

logger = logging.getLogger("zoolab.hub.server")


def url_secret(store: Store) -> bytes:
    """The key signing LFS upload URLs, kept in the store so several server processes share it."""
    return store.url_secret()


def serve(
    home: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    require_auth_for_reads: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    upload_mode: str = "regular",
    lfs_chunk_size: int | None = None,
    lfs_multipart_threshold: int | None = None,
    log_level: str = "warning",
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    location: StoreLocation | None = None,
    presign_min_bytes: int | None = None,
    workers: int = 1,
    behind_nginx: bool = False,
) -> None:
    """Serve the store of ``home`` until interrupted.

    A request whose request line and headers exceed ``max_header_bytes`` gets 431. ``workers``
    server processes share the listening socket (see :func:`_supervise`); ``behind_nginx`` answers
    authorised downloads with ``X-Accel-Redirect`` (:mod:`zoolab.hub.server.accel`).

    Prints ``zoolab hub listening on http://HOST:PORT`` on stdout once the socket accepts connections
    (with several workers: once every worker does).
    """
    if workers < 1:
        raise ConfigError(f"invalid number of workers {workers}", hint="give --workers 1 or more")
    store = Store(home, location=location)  # location: PostgreSQL and S3 instead of the embedded store
    config = ServerConfig(upload_mode=upload_mode, url_secret=url_secret(store), accel_redirect=behind_nginx)
    if lfs_chunk_size:
        config.lfs_chunk_size = lfs_chunk_size
    if lfs_multipart_threshold is not None:
        config.lfs_multipart_threshold = lfs_multipart_threshold
    if presign_min_bytes is not None:
        config.presign_min_bytes = presign_min_bytes
    sock, shown = _listen(host, port)

    from zoolab.hub.server import zerocopy

    zerocopy.install()  # whole-file downloads with os.sendfile instead of chunks through Python

    def run(worker_store: Store, ready: Callable[[], None]) -> None:
        from zoolab.hub.server.app import create_app

        app = create_app(worker_store, require_auth_for_reads=require_auth_for_reads, max_body_bytes=max_body_bytes,
                         config=config)
        _run_uvicorn(app, sock, log_level=log_level, max_header_bytes=max_header_bytes, ready=ready,
                     quick_head=app.front.quick_head if app.front is not None else None)

    def announce() -> None:
        sys.stdout.write(f"zoolab hub listening on {shown}\n")
        sys.stdout.flush()

    if workers == 1:
        run(store, announce)
        return
    store.db.close()  # each worker opens its own connections: none may cross a fork
    _supervise(workers, lambda ready: run(Store(home, location=location), ready), announce)


def _listen(host: str, port: int) -> tuple[socket.socket, str]:
    """The bound, listening socket and the URL it is shown as."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets that say so, and
    # without it every keep-alive response waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}",
                          hint="pick another --port (0 picks a free one) or --host") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"http://{shown_host}:{sock.getsockname()[1]}"


def _run_uvicorn(app: object, sock: socket.socket, *, log_level: str, max_header_bytes: int,
                 ready: Callable[[], None], quick_head: QuickAnswer | None = None) -> None:
    import uvicorn

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None):  # type: ignore[no-untyped-def]
            await super().startup(sockets=sockets)
            ready()

    protocol = httptools_protocol(max_header_bytes, quick_head)
    uv_config = uvicorn.Config(app, log_level=log_level, access_log=False, timeout_keep_alive=30,  # type: ignore[arg-type]
                               h11_max_incomplete_event_size=max_header_bytes,
                               **({"http": protocol} if protocol is not None else {}))
    _Server(uv_config).run(sockets=[sock])


def _supervise(workers: int, run: Callable[[Callable[[], None]], None], announce: Callable[[], None]) -> None:
    """Fork ``workers`` processes that each ``run`` a server on the inherited listening socket; the
    kernel hands each new connection to one of them. The embedded store works across processes:
    SQLite in WAL mode lets every process read while one writes, write transactions serialise on
    the database lock, and blobs are write-once files. A worker that dies is replaced; SIGINT or
    SIGTERM stops them all (each finishes its requests in flight).
    """
    read_end, write_end = os.pipe()
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def spawn(index: int) -> None:
        sys.stdout.flush()  # or the child would print the parent's buffered output again
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                os.close(read_end)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                run(lambda: os.write(write_end, b"."))
            except BaseException:  # noqa: BLE001 - a worker must never return into the parent's code
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        children[pid] = index

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index in range(workers):
            spawn(index)
        _wait_ready(read_end, workers, children)
        announce()
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index = children.pop(pid, None)
            if index is not None and not stopping:
                logger.warning("hub worker %d (pid %d) exited (%s); starting another", index, pid,
                               os.waitstatus_to_exitcode(status))
                time.sleep(0.5)  # no tight restart loop if something keeps killing workers
                spawn(index)
    finally:
        stop(signal.SIGTERM, None)
        _reap(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(read_end)
        os.close(write_end)


def _reap(children: dict[int, int], timeout_s: float = 30.0) -> None:
    """Wait for stopped workers; SIGKILL those still running after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while children:
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
            children.pop(pid)
        if children and time.monotonic() > deadline:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.05)


def _wait_ready(read_end: int, workers: int, children: dict[int, int], timeout_s: float = 120.0) -> None:
    """Until every worker has said it listens; ConfigError if one exits first."""
    ready = 0
    deadline = time.monotonic() + timeout_s
    while ready < workers:
        readable, _, _ = select.select([read_end], [], [], 0.2)
        if readable:
            ready += len(os.read(read_end, workers))
            continue
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.pop(pid)
                raise ConfigError(f"a hub worker process exited at start ({os.waitstatus_to_exitcode(status)})",
                                  hint="see its error above")
        if time.monotonic() > deadline:
            raise ConfigError(f"the hub workers did not start within {timeout_s:.0f} s")
