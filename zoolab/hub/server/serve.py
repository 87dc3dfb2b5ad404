"""Run a hub server with uvicorn on a socket we bind ourselves (so port 0 picks a free port)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from zoolab.errors import ConfigError
from zoolab.hub.server.context import DEFAULT_MAX_BODY_BYTES, ServerConfig
from zoolab.hub.server.limits import DEFAULT_MAX_HEADER_BYTES, httptools_protocol
from zoolab.hub.store import Store
from zoolab.hub.store.backends import StoreLocation


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
) -> None:
    """Serve the store of ``home`` until interrupted.

    A request whose request line and headers exceed ``max_header_bytes`` gets 431.

    Prints ``zoolab hub listening on http://HOST:PORT`` on stdout once the socket accepts connections.
    """
    import uvicorn

    from zoolab.hub.server.app import create_app

    store = Store(home, location=location)  # location: PostgreSQL and S3 instead of the embedded store
    config = ServerConfig(upload_mode=upload_mode, url_secret=url_secret(store))
    if lfs_chunk_size:
        config.lfs_chunk_size = lfs_chunk_size
    if lfs_multipart_threshold is not None:
        config.lfs_multipart_threshold = lfs_multipart_threshold
    if presign_min_bytes is not None:
        config.presign_min_bytes = presign_min_bytes
    app = create_app(store, require_auth_for_reads=require_auth_for_reads, max_body_bytes=max_body_bytes,
                     config=config)
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
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None):  # type: ignore[no-untyped-def]
            await super().startup(sockets=sockets)
            sys.stdout.write(f"zoolab hub listening on http://{shown_host}:{bound_port}\n")
            sys.stdout.flush()

    from zoolab.hub.server import zerocopy

    zerocopy.install()  # whole-file downloads with os.sendfile instead of chunks through Python
    protocol = httptools_protocol(max_header_bytes)
    uv_config = uvicorn.Config(app, log_level=log_level, access_log=False, timeout_keep_alive=30,
                               h11_max_incomplete_event_size=max_header_bytes,
                               **({"http": protocol} if protocol is not None else {}))
    _Server(uv_config).run(sockets=[sock])
