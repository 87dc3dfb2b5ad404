"""``zoolab hub serve --workers N`` on the embedded store: N processes share the port and the
SQLite database (WAL mode); what one writes, the others serve at once. Also behind nginx."""

from __future__ import annotations

import base64
import http.client
import json
import time
from pathlib import Path

import psutil
import pytest
from huggingface_hub import HfApi, hf_hub_download
from nginx_support import start_nginx

from hub_server_support import HubServer


def _workers(server: HubServer, count: int, timeout_s: float = 30.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while True:
        children = psutil.Process(server.process.pid).children()
        if len(children) == count or time.monotonic() > deadline:
            return children
        time.sleep(0.05)


def _connections_per_worker(server: HubServer, workers: list[psutil.Process]) -> dict[int, http.client.HTTPConnection]:
    """One keep-alive connection accepted by each worker (found by its port in the worker's sockets)."""
    port = int(server.url.rsplit(":", 1)[1])
    owned: dict[int, http.client.HTTPConnection] = {}
    spare: list[http.client.HTTPConnection] = []
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/whoami-v2")  # any answer: the connection is accepted and kept
        conn.getresponse().read()
        client_port = conn.sock.getsockname()[1]
        for worker in workers:
            if worker.pid not in owned and any(
                c.laddr and c.raddr and c.laddr.port == port and c.raddr.port == client_port
                for c in worker.net_connections(kind="tcp")
            ):
                owned[worker.pid] = conn
                break
        else:
            spare.append(conn)
        if len(owned) == len(workers):
            break
    for conn in spare:
        conn.close()
    assert len(owned) == len(workers), "the kernel gave every connection to one worker"
    return owned


def _call(conn: http.client.HTTPConnection, method: str, path: str, token: str, body: bytes | None = None,
          content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def _commit(conn: http.client.HTTPConnection, token: str, repo: str, path: str, content: bytes) -> str:
    lines = [{"key": "header", "value": {"summary": f"add {path}"}},
             {"key": "file", "value": {"path": path, "encoding": "base64",
                                       "content": base64.b64encode(content).decode()}}]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    status, _, answer = _call(conn, "POST", f"/api/models/{repo}/commit/main", token, body, "application/x-ndjson")
    assert status == 200, answer
    return str(json.loads(answer)["commitOid"])


def test_two_workers_share_the_port_and_see_each_others_writes(tmp_path: Path) -> None:
    server = HubServer(tmp_path / "home", ["--workers", "2"])
    try:
        workers = _workers(server, 2)
        assert len(workers) == 2
        token = server.token("alice")
        one, other = _connections_per_worker(server, workers).values()

        status, _, answer = _call(one, "POST", "/api/repos/create", token,
                                  json.dumps({"name": "shared", "organization": "alice"}).encode())
        assert status == 200, answer
        status, _, _ = _call(other, "GET", "/api/models/alice/shared", token)
        assert status == 200  # the repo one worker created, the other serves

        first = _commit(one, token, "alice/shared", "a.txt", b"written by one worker")
        status, headers, body = _call(other, "GET", "/alice/shared/resolve/main/a.txt", token)
        assert (status, body, headers["x-repo-commit"]) == (200, b"written by one worker", first)

        second = _commit(other, token, "alice/shared", "a.txt", b"and changed by the other")
        status, headers, body = _call(one, "HEAD", "/alice/shared/resolve/main/a.txt", token)
        assert status == 200 and headers["x-repo-commit"] == second != first  # branches are never cached
        status, _, body = _call(one, "GET", f"/alice/shared/resolve/{first}/a.txt", token)
        assert body == b"written by one worker"

        path = hf_hub_download("alice/shared", "a.txt", endpoint=server.url, token=token, cache_dir=tmp_path / "c")
        assert Path(path).read_bytes() == b"and changed by the other"
    finally:
        server.stop()
    for worker in workers:
        worker.wait(timeout=15)  # stopping the server stops its workers
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    server = HubServer(tmp_path / "home", ["--workers", "2"])
    try:
        workers = _workers(server, 2)
        workers[0].kill()
        workers[0].wait(timeout=15)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = psutil.Process(server.process.pid).children()
            if len(now) == 2 and workers[0].pid not in [w.pid for w in now]:
                break
            time.sleep(0.1)
        else:
            pytest.fail("no new worker after one was killed")
        api = HfApi(endpoint=server.url, token=server.token("alice"))
        api.create_repo("alice/after")
        assert all(api.model_info("alice/after").id == "alice/after" for _ in range(6))
    finally:
        server.stop()


def test_two_workers_behind_nginx(tmp_path: Path) -> None:
    server = HubServer(tmp_path / "home", ["--workers", "2", "--behind-nginx"])
    nginx = None
    try:  # the server is stopped even when nginx cannot start
        nginx = start_nginx([server.url], tmp_path / "nginx", tmp_path / "home" / "registry" / "blobs")
        token = server.token("alice")
        api = HfApi(endpoint=nginx.url, token=token)
        api.create_repo("alice/behind")
        api.upload_file(path_or_fileobj=b"\x00\x01" * 5000, path_in_repo="w.bin", repo_id="alice/behind")
        for i in range(4):  # whichever worker answers, nginx sends the same bytes
            got = hf_hub_download("alice/behind", "w.bin", endpoint=nginx.url, token=token,
                                  cache_dir=tmp_path / f"cache{i}")
            assert Path(got).read_bytes() == b"\x00\x01" * 5000
    finally:
        if nginx is not None:
            nginx.stop()
        server.stop()


def test_remembered_downloads_follow_every_change_at_once(tmp_path: Path) -> None:
    """Each worker remembers what it looked up until the database changes: a revoked token, a repo
    made private or a moved branch take effect on the next request, in every worker."""
    from zoolab.hub.store import Store

    server = HubServer(tmp_path / "home", ["--workers", "2"])
    try:
        owner, reader_token = server.token("alice"), server.token("bob")
        api = HfApi(endpoint=server.url, token=owner)
        api.create_repo("alice/watched")
        api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id="alice/watched")
        workers = _workers(server, 2)
        conns = list(_connections_per_worker(server, workers).values())
        url = "/alice/watched/resolve/main/f.txt"
        for conn in conns * 2:  # twice each: the second answer comes from the worker's memory
            assert _call(conn, "GET", url, reader_token)[2] == b"v1"
            assert _call(conn, "GET", url, owner)[2] == b"v1"
            assert _call(conn, "HEAD", url, reader_token)[1]["etag"] == _call(conn, "HEAD", url, owner)[1]["etag"]
        v1_etag = _call(conns[0], "HEAD", url, reader_token)[1]["etag"]

        api.upload_file(path_or_fileobj=b"v2", path_in_repo="f.txt", repo_id="alice/watched")
        heads = [_call(conn, "HEAD", url, reader_token) for conn in conns]
        assert [status for status, _, _ in heads] == [200, 200]
        assert heads[0][1]["etag"] == heads[1][1]["etag"] != v1_etag
        assert [_call(conn, "GET", url, reader_token)[2] for conn in conns] == [b"v2", b"v2"]

        Store(server.home).revoke_token(reader_token)  # another process's write
        assert [_call(conn, "HEAD", url, reader_token)[0] for conn in conns] == [401, 401]
        assert [_call(conn, "GET", url, reader_token)[0] for conn in conns] == [401, 401]

        for conn in conns:
            conn.request("HEAD", url)  # anonymous, remembered as public
            conn.getresponse().read()
        api.update_repo_settings("alice/watched", private=True)
        for conn in conns:
            for method in ("GET", "HEAD"):
                conn.request(method, url)  # anonymous
                resp = conn.getresponse()
                resp.read()
                assert resp.status in (401, 404) and resp.getheader("x-error-code") == "RepoNotFound"
        assert [_call(conn, "GET", url, owner)[2] for conn in conns] == [b"v2", b"v2"]
    finally:
        server.stop()
