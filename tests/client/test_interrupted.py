"""An interrupted download leaves no corrupt visible file and completes when run again."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import zoolab.hub as hub
from zoolab.hub import config, layout
from tests.client.conftest import LiveHub, make_model, sha256
from tests.client.test_remote import _zoolab

pytestmark = pytest.mark.xdist_group("client-hub")


class StallingProxy:
    """TCP proxy that forwards a connection's response bytes up to ``stall_after``, then goes silent
    (like a network that stops mid-transfer)."""

    def __init__(self, upstream: tuple[str, int], stall_after: int) -> None:
        self.upstream, self.stall_after = upstream, stall_after
        self.stalled, self.stop = threading.Event(), threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        up = socket.create_connection(self.upstream)

        def forward_requests() -> None:
            try:
                while data := client.recv(65536):
                    up.sendall(data)
            except OSError:
                pass

        threading.Thread(target=forward_requests, daemon=True).start()
        sent = 0
        try:
            while data := up.recv(65536):
                if sent + len(data) > self.stall_after:
                    client.sendall(data[: self.stall_after - sent])
                    self.stalled.set()
                    self.stop.wait(120)
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            client.close()
            up.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_killed_download_leaves_no_corrupt_file_and_resumes(team: LiveHub, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", big=8 * 2**20)
    repo = team.new_repo_id("alice")
    res = hub.publish(folder, f"team:{repo}", progress=False)
    parts = urlsplit(team.url)
    proxy = StallingProxy((parts.hostname, parts.port), stall_after=2 * 2**20)
    try:
        config.add_source("flaky", proxy.url)
        proc = _zoolab("download", f"flaky:{repo}", "-q")
        assert proxy.stalled.wait(60), "the download never reached the large file"
        storage = layout.storage_folder("flaky", repo)
        deadline = time.monotonic() + 20
        while not list((storage / "blobs").glob("*.incomplete")) and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        proxy.close()
    big_sha = sha256(folder / "weights/big.bin")
    snapshot = storage / "snapshots" / res.commit_id
    assert not (snapshot / "weights/big.bin").exists()  # nothing half-written is visible
    assert not (storage / "blobs" / big_sha).exists()
    assert list((storage / "blobs").glob("*.incomplete"))
    from zoolab.hub.cache import verify

    assert verify(f"flaky:{repo}")[1] == []
    # The network is back: the same command completes and every file verifies.
    config.add_source("flaky", team.url, replace=True)
    snap = hub.download(f"flaky:{repo}", progress=False)
    assert sha256(snap.path / "weights/big.bin") == big_sha
    # The killed process's temporary files are left behind (never visible as files of the repo);
    # `zoolab cache prune` removes them once no process holds their lock.
    from zoolab.hub.cache import prune

    assert any("partial download" in line for line in prune())
    assert not list((storage / "blobs").glob("*.incomplete"))
    assert sha256(snap.path / "weights/big.bin") == big_sha
