"""Crash safety: a hub server killed (SIGKILL) in the middle of an upload or a commit leaves every
repo at its previous commit, no half-written blob referenced, ``zoolab hub verify`` clean, and only
temporary leftovers that ``zoolab hub gc`` removes.

Each scenario runs a real ``zoolab hub serve`` process, streams a large body to it slowly over a raw
socket, kills the process once the server has demonstrably started writing, restarts a server on
the same home and checks what a user relies on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from hub_server_support import HubServer

pytestmark = pytest.mark.xdist_group("hub-crash")

OWNER = "alice"
FILES = {"README.md": b"---\nlicense: mit\n---\n# before the crash\n", "config.json": b'{"layers": 2}',
         "model.safetensors": os.urandom(300_000)}
BIG = 48 * 1024 * 1024  # announced size of the upload killed half-way


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZOOLAB_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "zoolab", "hub", *args, "--home", str(home)], env=env,
                          capture_output=True, text=True, timeout=120)


def _temp_files(home: Path) -> list[Path]:
    return [p for p in (home / "registry" / "tmp").rglob("*") if p.is_file()]


class Scenario:
    """A server with one repo holding :data:`FILES` at commit ``before``."""

    def __init__(self, home: Path):
        self.home = home
        self.server = HubServer(home, ("--upload-mode", "lfs", "--lfs-multipart-mb", "1024"))
        self.token = self.server.token(OWNER)
        self.repo_id = f"{OWNER}/crash"
        api = self.api()
        assert api.post("/api/repos/create", json={"name": "crash", "organization": OWNER}).status_code == 200
        lines = [{"key": "header", "value": {"summary": "before the crash"}}]
        lines += [{"key": "file", "value": {"path": p, "content": base64.b64encode(d).decode(),
                                             "encoding": "base64"}} for p, d in FILES.items()]
        reply = api.post(f"/api/models/{self.repo_id}/commit/main", headers={"Content-Type": "application/x-ndjson"},
                         content=b"\n".join(json.dumps(line).encode() for line in lines))
        assert reply.status_code == 200, reply.text
        self.before = reply.json()["commitOid"]
        self.history = [c["id"] for c in api.get(f"/api/models/{self.repo_id}/commits/main").json()]

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def stream_and_kill(self, method: str, target: str, headers: dict[str, str], head: bytes, total: int,
                        filler: bytes) -> None:
        """Send ``head`` then ``filler`` repeatedly, announcing ``total`` bytes; SIGKILL the server once a
        temp file of at least 8 MiB shows it is writing, with the body still incomplete."""
        parts = urlsplit(self.server.url)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        try:
            lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {total}",
                     *(f"{k}: {v}" for k, v in headers.items())]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + head)
            sent = len(head)
            deadline = time.monotonic() + 60
            while True:
                assert time.monotonic() < deadline, "the server never started writing the upload"
                if any(p.stat().st_size >= 8 * 1024 * 1024 for p in _temp_files(self.home)):
                    break
                assert sent + len(filler) < total, "the whole body was sent before the server wrote anything"
                sock.sendall(filler)
                sent += len(filler)
                time.sleep(0.01)
            self.server.process.send_signal(signal.SIGKILL)
            self.server.process.wait(timeout=30)
        finally:
            sock.close()
        self.server.stop()
        assert sent < total

    def restart_and_check(self, *, unstored_oid: str | None = None) -> None:
        """After the crash: previous commit, original bytes, verify clean, gc removes the leftovers."""
        leftovers = _temp_files(self.home)
        assert leftovers, "expected the killed upload to leave a temp file"
        self.server = HubServer(self.home)
        try:
            api = self.api()
            assert api.get(f"/api/models/{self.repo_id}/revision/main").json()["sha"] == self.before
            assert [c["id"] for c in api.get(f"/api/models/{self.repo_id}/commits/main").json()] == self.history
            for path, data in FILES.items():
                reply = api.get(f"/{self.repo_id}/resolve/main/{path}")
                assert (reply.status_code, reply.content) == (200, data), path
            tree = api.get(f"/api/models/{self.repo_id}/tree/main", params={"recursive": "true"}).json()
            assert sorted(item["path"] for item in tree) == sorted([".gitattributes", *FILES])
            if unstored_oid is not None:
                assert not (self.home / "registry" / "blobs" / unstored_oid[:2] / unstored_oid).exists()
            verify = _cli(self.home, "verify", "--json")
            assert verify.returncode == 0 and json.loads(verify.stdout) == {"ok": True, "problems": []}, verify
            gc = _cli(self.home, "gc", "--grace-minutes", "0", "--json")
            assert gc.returncode == 0, gc.stderr
            assert _temp_files(self.home) == []
            # gc removed nothing a commit references, and the server still takes uploads.
            for path, data in FILES.items():
                assert api.get(f"/{self.repo_id}/resolve/main/{path}").content == data
            reply = api.post(f"/api/models/{self.repo_id}/commit/main",
                             headers={"Content-Type": "application/x-ndjson"},
                             content=json.dumps({"key": "header", "value": {"summary": "after"}}).encode() + b"\n"
                             + json.dumps({"key": "file", "value": {"path": "after.txt", "content": "b2s=",
                                                                     "encoding": "base64"}}).encode())
            assert reply.status_code == 200, reply.text
        finally:
            self.server.stop()


@pytest.fixture
def scenario(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = Scenario(tmp_path / "server-home")
    try:
        yield made
    finally:
        made.server.stop()


def test_kill_during_lfs_upload_leaves_previous_commit(scenario: Scenario) -> None:
    """An LFS PUT of a 48 MiB object killed half-way: nothing stored, nothing referenced."""
    oid = hashlib.sha256(b"never completed").hexdigest()  # the body never matches: it is never finished
    api = scenario.api()
    batch = api.post(f"/{scenario.repo_id}.git/info/lfs/objects/batch",
                     json={"operation": "upload", "objects": [{"oid": oid, "size": BIG}]}).json()
    href = urlsplit(batch["objects"][0]["actions"]["upload"]["href"])
    scenario.stream_and_kill("PUT", f"{href.path}?{href.query}", {"Content-Type": "application/octet-stream"},
                             b"", BIG, os.urandom(1024 * 1024))
    scenario.restart_and_check(unstored_oid=oid)


def test_kill_during_commit_leaves_previous_commit(scenario: Scenario) -> None:
    """A commit whose ndjson body (a small file, then a 48 MiB inline file) is killed half-way."""
    first = json.dumps({"key": "header", "value": {"summary": "never lands"}}).encode() + b"\n"
    first += json.dumps({"key": "file", "value": {"path": "config.json", "content":
                                                   base64.b64encode(b'{"layers": 99}').decode(),
                                                   "encoding": "base64"}}).encode() + b"\n"
    # json.dumps order of a stock client: the content comes first, so the server streams it to a blob.
    head = first + b'{"key": "file", "value": {"content": "'
    scenario.stream_and_kill("POST", f"/api/models/{scenario.repo_id}/commit/main",
                             {"Content-Type": "application/x-ndjson",
                              "Authorization": f"Bearer {scenario.token}"},
                             head, BIG, base64.b64encode(os.urandom(768 * 1024)))
    scenario.restart_and_check()


# Run in a child process: commit through the store, and SIGKILL the process inside the commit's
# transaction, after the commit row and its file list are written and before the branch moves.
KILL_IN_TRANSACTION = textwrap.dedent(
    """
    import os, signal, sys
    from zoolab.hub.store import AddFile, Store
    from zoolab.hub.store import store as store_module

    original = store_module.Store._write_commit

    def write_then_die(*args, **kwargs):
        commit_id = original(*args, **kwargs)
        print(commit_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    store_module.Store._write_commit = staticmethod(write_then_die)
    Store(sys.argv[1]).commit(sys.argv[2], [AddFile("config.json", content=b'{"layers": 99}'),
                                            AddFile("new.bin", content=os.urandom(200_000))],
                              message="never lands")
    """
)


def test_kill_inside_commit_transaction_and_between_blob_and_commit(scenario: Scenario) -> None:
    """Deterministic kills: (1) a finished LFS upload whose commit never comes; (2) a process killed
    inside the commit transaction, after its blobs are written and its rows inserted."""
    scenario.server.stop()
    from zoolab.hub.store import Store

    # (1) blob written and recorded, then the writer dies before committing.
    data = os.urandom(100_000)
    digest = Store(scenario.home).put_blob(data)[0]
    # (2) killed inside the transaction.
    child = subprocess.run([sys.executable, "-c", KILL_IN_TRANSACTION, str(scenario.home), scenario.repo_id],
                           env={**os.environ, "ZOOLAB_HOME": str(scenario.home)}, capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    lost_commit = child.stdout.strip()
    assert len(lost_commit) == 40

    store = Store(scenario.home)
    assert store.resolve_revision(scenario.repo_id, "main") == scenario.before
    assert [c.commit_id for c in store.list_commits(scenario.repo_id)] == scenario.history
    # The transaction was rolled back whole: no trace of the commit row or its file list.
    conn = store.db.conn()
    assert conn.execute("SELECT COUNT(*) FROM commits WHERE commit_id = ?", (lost_commit,)).fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM commit_files WHERE commit_id = ?", (lost_commit,)).fetchone()[0] == 0
    assert {e.path for e in store.list_files(scenario.repo_id)} == {".gitattributes", *FILES}
    assert store.verify() == []
    # The orphaned blobs (the LFS object, the contents of the lost commit) are unreferenced; gc removes them.
    removed, _ = store.gc(grace_s=0)
    assert removed >= 2
    assert not store.blobs.exists(digest)
    for path, data in FILES.items():
        entry = store.file_entry(scenario.repo_id, path)
        assert store.blob_path(entry.sha256).read_bytes() == data
