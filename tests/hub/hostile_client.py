"""A raw HTTP client for hostile-input tests against a live hub server: requests exactly as written,
LFS transfers step by step, ndjson commits, and a request body that can stall half-way."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import math
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Requests to one server as one user (``token``; None: anonymous)."""

    def __init__(self, url: str, token: str | None):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token

    def _split(self, url_or_path: str) -> str:
        parts = urlsplit(url_or_path)
        return parts.path + (f"?{parts.query}" if parts.query else "") if parts.scheme else url_or_path

    def request(self, method: str, path: str, body: bytes | str | Iterable[bytes] | None = None,
                headers: dict[str, str] | None = None, *, timeout: float = 60.0) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            all_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            all_headers.update(headers or {})
            data = body.encode() if isinstance(body, str) else body
            conn.request(method, self._split(path), body=data, headers=all_headers,
                         encode_chunked=not isinstance(data, (bytes, type(None))))
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def json(self, method: str, path: str, payload: Any, **kw: Any) -> Reply:
        return self.request(method, path, json.dumps(payload), {"Content-Type": "application/json"}, **kw)

    # ---------------------------------------------------------------- repos and commits
    def create_repo(self, repo_id: str, *, private: bool = False) -> Reply:
        org, name = repo_id.split("/")
        return self.json("POST", "/api/repos/create", {"name": name, "organization": org, "private": private})

    def commit(self, repo_id: str, lines: list[dict[str, Any]], *, summary: str = "update",
               branch: str = "main") -> Reply:
        header = {"key": "header", "value": {"summary": summary}}
        body = "".join(json.dumps(line) + "\n" for line in [header, *lines]).encode()
        return self.request("POST", f"/api/models/{repo_id}/commit/{branch}", body,
                            {"Content-Type": "application/x-ndjson"})

    def download(self, repo_id: str, path: str, revision: str = "main") -> Reply:
        return self.request("GET", f"/{repo_id}/resolve/{revision}/{path}")

    # ---------------------------------------------------------------- LFS
    def lfs_batch(self, repo_id: str, oid: str, size: int) -> dict[str, Any]:
        reply = self.request("POST", f"/{repo_id}.git/info/lfs/objects/batch",
                             json.dumps({"operation": "upload", "transfers": ["basic", "multipart"],
                                         "objects": [{"oid": oid, "size": size}], "hash_algo": "sha256"}),
                             {"Content-Type": "application/vnd.git-lfs+json"})
        assert reply.status == 200, reply.body
        return reply.json()["objects"][0]

    def complete(self, action: dict[str, Any], oid: str, etags: list[str]) -> Reply:
        parts = [{"partNumber": n, "etag": etag} for n, etag in enumerate(etags, start=1)]
        return self.json("POST", action["href"], {"oid": oid, "parts": parts})

    def lfs_upload(self, repo_id: str, data: bytes) -> str:
        """Upload ``data`` through the batch API (basic or multipart, as the server says); its oid."""
        oid = hashlib.sha256(data).hexdigest()
        obj = self.lfs_batch(repo_id, oid, len(data))
        action = obj.get("actions", {}).get("upload")
        if action is None:
            return oid
        header = action.get("header", {})
        if "chunk_size" not in header:
            assert self.request("PUT", action["href"], data).status == 200
            return oid
        chunk = int(header["chunk_size"])
        etags = []
        for n in range(1, math.ceil(len(data) / chunk) + 1):
            reply = self.request("PUT", header[str(n)], data[(n - 1) * chunk:n * chunk])
            assert reply.status == 200, reply.body
            etags.append(reply.headers["etag"])
        reply = self.complete(action, oid, etags)
        assert reply.status == 200, reply.body
        return oid


def lfs_line(path: str, data: bytes) -> dict[str, Any]:
    """An ndjson ``lfsFile`` line for ``data``."""
    return {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": hashlib.sha256(data).hexdigest(),
                                        "size": len(data)}}


def file_line(path: str, data: bytes) -> dict[str, Any]:
    """An ndjson inline ``file`` line for ``data``."""
    return {"key": "file", "value": {"content": base64.b64encode(data).decode(), "path": path, "encoding": "base64"}}


class StalledPut:
    """A PUT whose body is sent in two halves on a raw socket: start it, let others act, finish it."""

    def __init__(self, url: str, announced: int):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
        target = parts.path + "?" + parts.query
        self.sock.sendall(f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {announced}\r\n\r\n".encode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def finish(self, data: bytes) -> int:
        """Send the rest of the body; the status the server answered."""
        self.sock.sendall(data)
        received = b""
        while b"\r\n" not in received:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            received += chunk
        self.sock.close()
        return int(received.split(b" ", 2)[1]) if received else 0
