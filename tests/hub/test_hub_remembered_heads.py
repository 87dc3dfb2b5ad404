"""``HEAD .../resolve/...`` answered from the server's memory of earlier lookups: the answers stay
exactly those of a fresh lookup, access rules apply to every request, and every change (a commit,
a visibility or gating change, a revoked token) shows on the very next request."""

from __future__ import annotations

import http.client
import socket
from contextlib import closing

from huggingface_hub import HfApi

from hub_server_support import HubServer


def _head(conn: http.client.HTTPConnection, path: str, token: str | None = None,
          **headers: str) -> tuple[int, dict[str, str]]:
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    conn.request("HEAD", path, headers=sent)
    resp = conn.getresponse()
    resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}


def _connect(server: HubServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=30)


def _repo_with(server: HubServer, path: str, content: bytes) -> tuple[HfApi, str, str]:
    """A new public repo of alice holding ``path``: (alice's client, repo id, commit id)."""
    repo_id = server.new_repo_id("alice")
    api = HfApi(endpoint=server.url, token=server.token("alice"))
    api.create_repo(repo_id)
    return api, repo_id, api.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id=repo_id).oid


def test_private_and_gated_repos_stay_closed_after_open_answers_were_remembered(hub_server: HubServer) -> None:
    api, repo_id, _ = _repo_with(hub_server, "model.bin", b"weights!")
    owner, outsider = api.token, hub_server.token("mallory")
    url = f"/{repo_id}/resolve/main/model.bin"
    with closing(_connect(hub_server)) as conn:
        first = [_head(conn, url) for _ in range(3)]  # the later ones come from memory
        assert [status for status, _ in first] == [200, 200, 200]
        assert first[0][1]["content-length"] == "8" and first[0][1]["x-linked-size"] == "8"
        for _, headers in first[1:]:
            assert {k: v for k, v in headers.items() if k not in ("date", "x-request-id")} == \
                {k: v for k, v in first[0][1].items() if k not in ("date", "x-request-id")}
        assert _head(conn, url, owner)[0] == _head(conn, url, outsider)[0] == 200

        api.update_repo_settings(repo_id, private=True)
        for token in (None, outsider, None):
            status, headers = _head(conn, url, token)
            assert status in (401, 404) and headers["x-error-code"] == "RepoNotFound", (token, status)
        assert _head(conn, url, owner)[0] == 200
        status, headers = _head(conn, url)  # the owner's answer, just remembered, is not anyone's
        assert status in (401, 404) and headers["x-error-code"] == "RepoNotFound"
        conn.putrequest("HEAD", url)  # the first Authorization header counts, as in the app
        conn.putheader("Authorization", "Bearer not-a-token")
        conn.putheader("Authorization", f"Bearer {owner}")
        conn.endheaders()
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 401

        api.update_repo_settings(repo_id, private=False, gated="auto")
        for token in (None, outsider):
            status, headers = _head(conn, url, token)
            assert status in (401, 403) and headers["x-error-code"] == "GatedRepo", (token, status)
        assert _head(conn, url, owner)[0] == 200

        api.update_repo_settings(repo_id, gated=False)
        assert _head(conn, url)[0] == 200


def test_a_commit_changes_the_remembered_answer_at_once(hub_server: HubServer) -> None:
    api, repo_id, v1 = _repo_with(hub_server, "f.txt", b"one")
    url = f"/{repo_id}/resolve/main/f.txt"
    with closing(_connect(hub_server)) as conn:
        for _ in range(2):
            status, headers = _head(conn, url)
            assert (status, headers["x-repo-commit"], headers["content-length"]) == (200, v1, "3")
        pinned = f"/{repo_id}/resolve/{v1}/f.txt"
        assert _head(conn, pinned)[1]["cache-control"] == "public, max-age=31536000, immutable"

        v2 = api.upload_file(path_or_fileobj=b"second", path_in_repo="f.txt", repo_id=repo_id).oid
        status, headers = _head(conn, url)
        assert (status, headers["x-repo-commit"], headers["content-length"]) == (200, v2, "6")
        assert headers["cache-control"] == "no-cache"
        assert _head(conn, pinned)[1]["content-length"] == "3"  # the old commit still has the old file

        api.delete_file("f.txt", repo_id=repo_id)
        status, headers = _head(conn, url)
        assert status == 404 and headers["x-error-code"] == "EntryNotFound"
        api.delete_repo(repo_id)
        status, headers = _head(conn, pinned)
        assert status in (401, 404) and headers["x-error-code"] == "RepoNotFound"


def test_remembered_heads_keep_the_http_rules(hub_server: HubServer) -> None:
    """Request ids, ranges, Connection: close, HTTP/1.0 and pipelined requests on one connection."""
    _, repo_id, _ = _repo_with(hub_server, "d/f.bin", b"0123456789")
    url = f"/{repo_id}/resolve/main/d/f.bin"
    with closing(_connect(hub_server)) as conn:
        ids = {_head(conn, url)[1]["x-request-id"] for _ in range(3)}
        assert len(ids) == 3
        assert _head(conn, url, X_Request_Id="trace-42")[1]["x-request-id"] == "trace-42"
        status, headers = _head(conn, url, Range="bytes=2-4")
        assert status == 206 and headers["content-range"] == "bytes 2-4/10"

    port = int(hub_server.url.rsplit(":", 1)[1])
    quoted = url.replace("/d/", "/d%2F")
    request = f"HEAD {url} HTTP/1.1\r\nHost: x\r\n\r\n"
    pipelined = (request + f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n" + f"HEAD {quoted} HTTP/1.1\r\nHost: x\r\n\r\n"
                 + f"HEAD {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                 + f"HEAD {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = _raw_exchange(port, pipelined.encode())  # the server closes after the last one
    before, after = answer.split(b"0123456789")  # the GET's body, once; the HEADs have none
    assert before.count(b"HTTP/1.1 200 OK\r\n") == 2 and after.count(b"HTTP/1.1 200 OK\r\n") == 3, answer
    assert answer.count(b"content-length: 10\r\n") == 5
    assert b"connection: close\r\n" in after.rsplit(b"HTTP/1.1 200 OK", 1)[1]
    old = _raw_exchange(port, f"HEAD {url} HTTP/1.0\r\n\r\n".encode())
    assert old.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 10\r\n" in old


def _raw_exchange(port: int, data: bytes) -> bytes:
    """Everything the server sends back for ``data`` until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)

