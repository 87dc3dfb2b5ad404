"""Downloads under clients that misbehave: a client that hangs up mid-download, keep-alive reuse
after a whole-file download (sent with ``os.sendfile``), ranges, and a client that stops reading.
The server must keep serving exact bytes to everyone else."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import time
from urllib.parse import urlsplit

import pytest
from hub_server_support import HubServer

REPO = "dl/files"
BIG = os.urandom(1024 * 1024) * 24 + b"tail"  # 24 MiB and a bit: many socket buffers' worth
SMALL = b'{"hidden_size": 8}'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = HubServer(tmp_path_factory.mktemp("downloads") / "home")
    try:
        from zoolab.hub.store import AddFile, Store

        store = Store(srv.home)
        store.create_repo(REPO)
        store.commit(REPO, [AddFile("model.bin", content=BIG), AddFile("config.json", content=SMALL)],
                     message="files")
        yield srv
    finally:
        srv.stop()


def _conn(server: HubServer) -> http.client.HTTPConnection:
    parts = urlsplit(server.url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)


def test_keep_alive_connection_serves_exact_bytes_after_whole_file_downloads(server: HubServer) -> None:
    conn = _conn(server)
    try:
        for path, data in [("model.bin", BIG), ("config.json", SMALL), ("model.bin", BIG), ("config.json", SMALL)]:
            conn.request("GET", f"/{REPO}/resolve/main/{path}")
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200 and int(resp.headers["content-length"]) == len(data)
            assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest(), path
        conn.request("GET", f"/{REPO}/resolve/main/model.bin", headers={"Range": "bytes=1000-1999999"})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (206, BIG[1000:2000000])
        conn.request("HEAD", f"/{REPO}/resolve/main/model.bin")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"" and resp.headers["x-linked-size"] == str(len(BIG))
    finally:
        conn.close()


def test_client_hanging_up_mid_download_leaves_server_healthy(server: HubServer) -> None:
    parts = urlsplit(server.url)
    for _ in range(3):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        sock.sendall(f"GET /{REPO}/resolve/main/model.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        # Abort with a reset while most of the file is still to come.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    conn = _conn(server)
    try:
        conn.request("GET", f"/{REPO}/resolve/main/model.bin")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == BIG
    finally:
        conn.close()
    assert server.process.poll() is None


def test_stalled_reader_does_not_block_other_clients(server: HubServer) -> None:
    parts = urlsplit(server.url)
    stalled = socket.create_connection((parts.hostname, parts.port), timeout=30)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        stalled.sendall(f"GET /{REPO}/resolve/main/model.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(0.5)  # the server is now blocked writing to this client, which reads nothing
        started = time.monotonic()
        conn = _conn(server)
        try:
            for _ in range(3):
                conn.request("GET", f"/{REPO}/resolve/main/model.bin")
                resp = conn.getresponse()
                assert resp.status == 200 and resp.read() == BIG
        finally:
            conn.close()
        assert time.monotonic() - started < 30
    finally:
        stalled.close()
