"""Data integrity and confidentiality against hostile users of a live hub server (issue 10 §1).

Each test starts a real ``zoolab hub serve`` and attacks it with raw HTTP as another user would:
overwriting someone's blob through a stalled multipart upload, reaching a private file by its
sha256, freezing the server with a YAML bomb or a huge header, blocking the event loop with a big
paths-info, growing memory with many inline files, and reusing the files of a refused commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from hostile_client import Client, StalledPut, file_line, lfs_line
from hub_server_support import HubServer

from zoolab.hub.store import Store

MiB = 1024 * 1024
LFS_ARGS = ("--upload-mode", "lfs", "--lfs-chunk-mb", "1", "--lfs-multipart-mb", "1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = HubServer(tmp_path_factory.mktemp("integrity") / "home", LFS_ARGS)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def alice(server: HubServer) -> Client:
    return Client(server.url, server.token("alice"))


@pytest.fixture(scope="module")
def bob(server: HubServer) -> Client:
    return Client(server.url, server.token("bob"))


def _repo(client: Client, server: HubServer, user: str, *, private: bool = False) -> str:
    repo_id = server.new_repo_id(user)
    assert client.create_repo(repo_id, private=private).status == 200
    return repo_id


# ---------------------------------------------------------------------------- 1. multipart uploads
def test_stalled_multipart_part_cannot_overwrite_another_users_blob(server, alice, bob) -> None:  # type: ignore[no-untyped-def]
    """bob starts a part of a well-known object, stalls, and finishes after alice stored it."""
    data = os.urandom(2 * MiB + 1000)  # three 1 MiB parts
    oid = hashlib.sha256(data).hexdigest()
    bobs_repo = _repo(bob, server, "bob")
    action = bob.lfs_batch(bobs_repo, oid, len(data))["actions"]["upload"]
    stalled = StalledPut(action["header"]["1"], MiB)
    stalled.send(b"\0" * 1000)  # the first bytes, then nothing for a while

    alices_repo = _repo(alice, server, "alice")
    alice.lfs_upload(alices_repo, data)
    assert alice.commit(alices_repo, [lfs_line("weights.bin", data)]).status == 200

    stalled.finish(b"\xff" * (MiB - 1000))  # bob's garbage for the rest of part 1
    assert alice.download(alices_repo, "weights.bin").body == data
    assert Store(server.home).verify() == []


def test_two_honest_concurrent_multipart_uploads_of_one_object_both_succeed(server, alice, bob) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(2 * MiB + 77)
    oid = hashlib.sha256(data).hexdigest()
    repos = {who: _repo(client, server, who) for who, client in (("alice", alice), ("bob", bob))}
    actions = {who: client.lfs_batch(repos[who], oid, len(data))["actions"]["upload"]
               for who, client in (("alice", alice), ("bob", bob))}
    etags: dict[str, list[str]] = {"alice": [], "bob": []}
    for n in range(1, 4):  # the parts of both uploads interleaved
        for who, client in (("alice", alice), ("bob", bob)):
            reply = client.request("PUT", actions[who]["header"][str(n)], data[(n - 1) * MiB:n * MiB])
            assert reply.status == 200, reply.body
            etags[who].append(reply.headers["etag"])
    for who, client in (("alice", alice), ("bob", bob)):
        assert client.complete(actions[who], oid, etags[who]).status == 200
        assert client.commit(repos[who], [lfs_line("w.bin", data)]).status == 200
        assert client.download(repos[who], "w.bin").body == data


# ---------------------------------------------------------------------------- 2. per-repo blobs
def test_a_private_file_cannot_be_reached_by_its_sha256(server, alice, bob) -> None:  # type: ignore[no-untyped-def]
    secret = b"alice's private weights " + os.urandom(4000)
    oid = hashlib.sha256(secret).hexdigest()
    private = _repo(alice, server, "alice", private=True)
    assert alice.commit(private, [file_line("secret.bin", secret)]).status == 200
    bobs_repo = _repo(bob, server, "bob")

    # The batch call asks bob for the bytes: "already stored" would confirm the file exists.
    assert "actions" in bob.lfs_batch(bobs_repo, oid, len(secret))
    # Committing the oid without uploading is refused, with no size in the message, right or wrong.
    for size in (len(secret), len(secret) + 1):
        reply = bob.commit(bobs_repo, [{"key": "lfsFile", "value": {"path": "stolen.bin", "algo": "sha256",
                                                                     "oid": oid, "size": size}}])
        assert reply.status == 400 and str(len(secret)) not in reply.json()["error"]
    assert bob.download(bobs_repo, "stolen.bin").status == 404

    # Deleting alice's repo does not free its blobs for others.
    assert alice.json("DELETE", "/api/repos/delete", {"name": private.split("/")[1]}).status == 200
    assert bob.commit(bobs_repo, [lfs_line("stolen.bin", secret)]).status == 400

    # Whoever has the bytes uploads them and may commit them: the upload proves possession.
    bob.lfs_upload(bobs_repo, secret)
    assert bob.commit(bobs_repo, [lfs_line("mine.bin", secret)]).status == 200
    assert bob.download(bobs_repo, "mine.bin").body == secret


def test_an_upload_to_one_repo_is_committable_only_there_and_only_by_its_uploader(server, alice, bob) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(3000)
    first, second = _repo(alice, server, "alice"), _repo(alice, server, "alice")
    alice.lfs_upload(first, data)
    assert alice.commit(second, [lfs_line("w.bin", data)]).status == 400
    team_repo = f"team/{server.new_repo_id('x').split('/')[1]}"
    carol = Client(server.url, server.token("carol", orgs=("team",)))
    dave = Client(server.url, server.token("dave", orgs=("team",)))
    assert carol.create_repo(team_repo).status == 200
    carol.lfs_upload(team_repo, data)
    assert dave.commit(team_repo, [lfs_line("w.bin", data)]).status == 400
    assert carol.commit(team_repo, [lfs_line("w.bin", data)]).status == 200


# ---------------------------------------------------------------------------- 3. YAML bombs
BOMB = "---\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
) + "---\n# bomb\n"


def test_yaml_aliases_are_refused_without_expanding(server, alice) -> None:  # type: ignore[no-untyped-def]
    anonymous = Client(server.url, None)
    reply = anonymous.json("POST", "/api/validate-yaml", {"content": BOMB, "repoType": "model"}, timeout=30)
    assert reply.status == 400 and "alias" in reply.json()["error"]
    repo = _repo(alice, server, "alice")
    reply = alice.commit(repo, [file_line("README.md", BOMB.encode())])
    assert reply.status == 400 and "alias" in reply.json()["error"]
    info = alice.request("GET", f"/api/models/{repo}").json()
    assert info["cardData"] is None and [s["rfilename"] for s in info["siblings"]] == [".gitattributes"]


def test_deeply_nested_yaml_gets_400(server) -> None:  # type: ignore[no-untyped-def]
    card = "---\na: " + "[" * 5000 + "]" * 5000 + "\n---\n"
    reply = Client(server.url, None).json("POST", "/api/validate-yaml", {"content": card}, timeout=30)
    assert reply.status == 400 and "deeper" in reply.json()["error"]


def test_yaml_is_parsed_off_the_event_loop(server) -> None:  # type: ignore[no-untyped-def]
    # A big (but legal) card keeps the parser busy; a small request meanwhile is still answered.
    card = "---\n" + "".join(f"key{i}: [{', '.join(['value'] * 20)}]\n" for i in range(4000)) + "---\n"
    client = Client(server.url, None)
    statuses: list[int] = []
    big = threading.Thread(target=lambda: statuses.append(
        client.json("POST", "/api/validate-yaml", {"content": card}).status))
    big.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert client.request("GET", "/api/models?limit=1").status == 200
    waited = time.monotonic() - started
    big.join()
    assert statuses == [200]  # within the bounds: parsed, not refused
    assert waited < 1.0, f"a small request waited {waited:.1f} s behind a YAML parse"


# ---------------------------------------------------------------------------- 4. header size
def _raw_status(server: HubServer, request: bytes) -> int:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything
        received = b""
        while b"\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return int(received.split(b" ", 2)[1])


def test_a_huge_header_gets_431_and_does_not_stall_others(server) -> None:  # type: ignore[no-untyped-def]
    huge = b"GET /api/models HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * MiB + b"\r\n\r\n"
    results: list[int] = []
    attack = threading.Thread(target=lambda: results.append(_raw_status(server, huge)))
    attack.start()
    started = time.monotonic()
    assert Client(server.url, None).request("GET", "/api/models?limit=1").status == 200
    waited = time.monotonic() - started
    attack.join()
    assert results == [431]
    assert waited < 1.0, f"a small request waited {waited:.1f} s behind a 1 MiB header"
    # A normal large header (a long cookie) still passes, and the limit is configurable.
    assert _raw_status(server, b"GET /api/models HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 30000 + b"\r\n\r\n") == 200


def test_max_header_kb_sets_the_bound(make_hub_server) -> None:  # type: ignore[no-untyped-def]
    small = make_hub_server("--max-header-kb", "4")
    assert _raw_status(small, b"GET /api/models HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8000 + b"\r\n\r\n") == 431
    assert _raw_status(small, b"GET /api/models HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 2000 + b"\r\n\r\n") == 200


# ---------------------------------------------------------------------------- 5. work on the loop
def test_paths_info_over_thousands_of_files_keeps_the_loop_free(server, alice) -> None:  # type: ignore[no-untyped-def]
    repo = _repo(alice, server, "alice")
    store = Store(server.home)
    from zoolab.hub.store import AddFile

    store.commit(repo, [AddFile(f"d{i % 400}/sub{i % 7}/f{i}.txt", content=b"%d" % i) for i in range(4000)],
                 message="many files")
    paths = [f"d{i % 400}/sub{i % 7}/f{i}.txt" for i in range(0, 4000, 4)] + [f"d{i}" for i in range(400)]
    paths += [f"missing/{i}" for i in range(10000 - len(paths))]
    client = Client(server.url, alice.token)
    answer: list[object] = []

    def big() -> None:
        reply = client.request("POST", f"/api/models/{repo}/paths-info/main",
                               json.dumps({"paths": paths}), {"Content-Type": "application/json"})
        answer.append(reply.json())

    thread = threading.Thread(target=big)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert client.request("GET", "/api/models?limit=1").status == 200
    waited = time.monotonic() - started
    thread.join()
    items = answer[0]
    assert isinstance(items, list) and len(items) == 1000 + 400
    folders = {item["path"]: item for item in items if item["type"] == "directory"}
    assert len(folders) == 400 and folders["d7"]["oid"] != folders["d8"]["oid"]
    assert waited < 1.0, f"a small request waited {waited:.1f} s behind paths-info"
    # The tree of a repo with thousands of folders lists each folder once, with the same oid.
    tree = client.request("GET", f"/api/models/{repo}/tree/main").json()
    tree_folders = {item["path"]: item["oid"] for item in tree if item["type"] == "directory"}
    assert tree_folders["d7"] == folders["d7"]["oid"] and len(tree_folders) == 400
    inside = client.request("GET", f"/api/models/{repo}/tree/main/d7").json()
    assert sorted(item["path"] for item in inside) == [f"d7/sub{k}" for k in range(7)]


def test_thousands_of_folder_deletions_keep_the_loop_free(server, alice) -> None:  # type: ignore[no-untyped-def]
    from zoolab.hub.store import AddFile

    repo = _repo(alice, server, "alice")
    Store(server.home).commit(repo, [AddFile(f"d{i}/s{k}/x.txt", content=b"%d" % k) for i in range(1000)
                                     for k in range(4)], message="4000 files in 5000 folders")
    lines = [{"key": "deletedFolder", "value": {"path": f"d{i}/s{k}"}} for i in range(1000) for k in range(3)]
    client = Client(server.url, alice.token)
    statuses: list[int] = []
    thread = threading.Thread(target=lambda: statuses.append(client.commit(repo, lines).status))
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert client.request("GET", "/api/models?limit=1").status == 200
    waited = time.monotonic() - started
    thread.join()
    assert statuses == [200]
    left = Store(server.home).list_files(repo)
    assert sorted(e.path for e in left if e.path != ".gitattributes") == [f"d{i}/s3/x.txt" for i in sorted(range(1000), key=str)]
    assert waited < 1.0, f"a small request waited {waited:.1f} s behind a commit deleting 3000 folders"


# ---------------------------------------------------------------------------- 6. inline files
def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak RSS from /proc")
def test_many_small_inline_files_are_spilled_to_disk(make_hub_server) -> None:  # type: ignore[no-untyped-def]
    server = make_hub_server()
    client = Client(server.url, server.token("alice"))
    repo = server.new_repo_id("alice")
    assert client.create_repo(repo).status == 200
    before = _peak_rss_kib(server.process.pid)
    files = 256  # 64 MiB in 256 KiB files
    seed = os.urandom(256 * 1024)

    def body():  # type: ignore[no-untyped-def]
        yield (json.dumps({"key": "header", "value": {"summary": "many"}}) + "\n").encode()
        for i in range(files):
            content = i.to_bytes(4, "big") + seed[4:]
            yield (json.dumps(file_line(f"part-{i:04d}.bin", content)) + "\n").encode()

    reply = client.request("POST", f"/api/models/{repo}/commit/main", body(), {"Content-Type": "application/x-ndjson"})
    assert reply.status == 200, reply.body
    grown_mib = (_peak_rss_kib(server.process.pid) - before) / 1024
    assert grown_mib < 32, f"the server's peak memory grew by {grown_mib:.0f} MiB for a 64 MiB commit"
    assert client.download(repo, "part-0003.bin").body == (3).to_bytes(4, "big") + seed[4:]


# ---------------------------------------------------------------------------- 7. refused commits
def test_files_of_a_refused_commit_are_neither_stored_nor_committable(server, alice) -> None:  # type: ignore[no-untyped-def]
    repo = _repo(alice, server, "alice")
    big, small = os.urandom(300 * 1024), os.urandom(1000)
    blob_dir = server.home / "registry" / "blobs"
    before = {p.name for p in blob_dir.rglob("*") if p.is_file()}
    unknown = {"key": "lfsFile", "value": {"path": "x.bin", "algo": "sha256", "oid": "0" * 64, "size": 1}}
    refused = [
        [file_line("big.bin", big), file_line("small.bin", small), unknown],  # refused while streaming
        [file_line("big.bin", big), file_line("small.bin", small),  # refused by the card check in the transaction
         file_line("README.md", b"---\nfoo: [unclosed\n---\n")],
    ]
    for lines in refused:
        assert alice.commit(repo, lines).status == 400
    assert {p.name for p in blob_dir.rglob("*") if p.is_file()} == before
    for data in (big, small):
        assert alice.commit(repo, [lfs_line("again.bin", data)]).status == 400
    assert [s["rfilename"] for s in alice.request("GET", f"/api/models/{repo}").json()["siblings"]] == [".gitattributes"]


def test_a_refused_in_process_commit_stores_nothing(tmp_path: Path) -> None:
    from zoolab.errors import EntryNotFoundError
    from zoolab.hub.store import AddFile, DeleteFile

    store = Store(root=tmp_path / "registry")
    store.create_repo("alice/local")
    source = tmp_path / "w.bin"
    source.write_bytes(os.urandom(5000))
    before = sorted(p.name for p in (tmp_path / "registry" / "blobs").rglob("*") if p.is_file())
    with pytest.raises(EntryNotFoundError):
        store.commit("alice/local", [AddFile("a.bin", content=os.urandom(3000)), AddFile("w.bin", source=source),
                                     DeleteFile("missing.txt")], message="refused")
    assert sorted(p.name for p in (tmp_path / "registry" / "blobs").rglob("*") if p.is_file()) == before
    assert [p for p in (tmp_path / "registry" / "tmp").rglob("*") if p.is_file()] == []
    store.commit("alice/local", [AddFile("w.bin", source=source)], message="accepted")
    assert store.blob_path(store.file_entry("alice/local", "w.bin").sha256).read_bytes() == source.read_bytes()
