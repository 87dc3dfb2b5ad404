"""Uploads through stock huggingface_hub: regular (any client, Xet or not), LFS basic and multipart
(clients with HF_HUB_DISABLE_XET=1), and what the server refuses."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.utils._runtime import is_xet_available

LFS_ARGS = ("--upload-mode", "lfs", "--lfs-chunk-mb", "1", "--lfs-multipart-mb", "2")

# Uploads a folder with a stock client in a fresh interpreter (HF_HUB_DISABLE_XET is read at import)
# and prints what the client saw: whether Xet was on, and the commit id.
UPLOAD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from huggingface_hub import HfApi
    from huggingface_hub.utils._runtime import is_xet_available
    endpoint, token, repo_id, folder = sys.argv[1:5]
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=folder)
    print(json.dumps({"xet": is_xet_available(), "commit": info.oid}))
    """
)


def run_upload(server, repo_id: str, folder: Path, *, disable_xet: bool) -> dict:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_ENDPOINT", "HF_HUB_DISABLE_XET")}
    if disable_xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    token = server.token(repo_id.split("/")[0])
    out = subprocess.run([sys.executable, "-c", UPLOAD_SCRIPT, server.url, token, repo_id, str(folder)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def assert_downloads_equal(server, repo_id: str, files: dict[str, bytes]) -> None:  # type: ignore[no-untyped-def]
    token = server.token("reader", write=False)
    for name, data in files.items():
        path = hf_hub_download(repo_id, name, endpoint=server.url, token=token)
        assert Path(path).read_bytes() == data, name


def test_default_client_with_xet_uploads_to_default_server(hub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert is_xet_available(), "this test is about the default client, which has hf_xet"
    files = {
        "model.safetensors": os.urandom(200_000),
        "big.bin": os.urandom(6 * 1024 * 1024),  # its commit line is streamed to disk, not held in memory
        "config.json": b"{}",
        "README.md": b"# hi\n",
    }
    repo_id = hub_server.new_repo_id("alice")
    api = HfApi(endpoint=hub_server.url, token=hub_server.token("alice"))
    api.create_repo(repo_id)
    api.upload_folder(repo_id=repo_id, folder_path=make_folder(tmp_path / "f", files))
    assert_downloads_equal(hub_server, repo_id, files)
    # the server's file index still says which files are LFS files, like the Hub
    tree = {i.path: i for i in api.list_repo_tree(repo_id)}
    assert tree["model.safetensors"].lfs is not None and tree["config.json"].lfs is None


def test_client_without_xet_uploads_regular_files_too(hub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = {"weights.bin": os.urandom(50_000), "notes.txt": b"plain text"}
    repo_id = hub_server.new_repo_id("alice")
    seen = run_upload(hub_server, repo_id, make_folder(tmp_path / "f", files), disable_xet=True)
    assert seen["xet"] is False
    assert_downloads_equal(hub_server, repo_id, files)


def test_lfs_mode_basic_and_multipart_with_xet_disabled(make_hub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = make_hub_server(*LFS_ARGS)
    files = {
        "big.safetensors": os.urandom(3 * 1024 * 1024 + 123),  # >= 2 MiB: multipart, 4 parts of 1 MiB
        "small.bin": os.urandom(4096),  # binary: basic LFS transfer
        "config.json": b'{"a": 1}',  # text: regular
    }
    repo_id = server.new_repo_id("alice")
    seen = run_upload(server, repo_id, make_folder(tmp_path / "f", files), disable_xet=True)
    assert seen["xet"] is False
    assert_downloads_equal(server, repo_id, files)
    api = HfApi(endpoint=server.url)
    tree = {i.path: i for i in api.list_repo_tree(repo_id)}
    assert tree["big.safetensors"].lfs.sha256 == hashlib.sha256(files["big.safetensors"]).hexdigest()
    assert tree["small.bin"].lfs is not None and tree["config.json"].lfs is None
    assert api.model_info(repo_id).sha == seen["commit"]
    assert not list((server.home / "registry" / "tmp").rglob("*.part"))  # assembly files cleaned up


def _batch(server, token: str, repo_id: str, oid: str, size: int) -> dict:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{server.url}/{repo_id}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.git-lfs+json"},
        json={"operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
              "objects": [{"oid": oid, "size": size}]},
    )
    assert response.status_code == 200, response.text
    return response.json()["objects"][0]


def test_lfs_bytes_that_do_not_match_their_oid_are_refused(make_hub_server) -> None:  # type: ignore[no-untyped-def]
    server = make_hub_server(*LFS_ARGS)
    token = server.token("alice")
    repo_id = server.new_repo_id("alice")
    HfApi(endpoint=server.url, token=token).create_repo(repo_id)
    data = os.urandom(10_000)
    oid = hashlib.sha256(data).hexdigest()
    action = _batch(server, token, repo_id, oid, len(data))["actions"]["upload"]
    bad = httpx.put(action["href"], content=os.urandom(10_000))
    assert bad.status_code == 400 and "sha256" in bad.json()["error"]
    short = httpx.put(action["href"], content=data[:-1])
    assert short.status_code == 400
    forged = httpx.put(action["href"].replace("sig=", "sig=0"), content=data)
    assert forged.status_code == 403
    blob = server.home / "registry" / "blobs" / oid[:2] / oid
    assert not blob.exists()
    # committing the never-uploaded object fails and leaves the repo as it was
    head = HfApi(endpoint=server.url).model_info(repo_id).sha
    payload = (json.dumps({"key": "header", "value": {"summary": "x"}}) + "\n"
               + json.dumps({"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid}}) + "\n")
    commit = httpx.post(f"{server.url}/api/models/{repo_id}/commit/main", content=payload,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
    assert commit.status_code == 400
    assert HfApi(endpoint=server.url).model_info(repo_id).sha == head
    good = httpx.put(action["href"], content=data)
    assert good.status_code == 200 and blob.read_bytes() == data
    assert "actions" not in _batch(server, token, repo_id, oid, len(data))  # present: nothing to upload


def test_upload_folder_with_a_file_over_2gb(make_hub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A sparse 2 GiB + 1 byte file through LFS multipart (64 MiB parts), about 45 s here; the same
    path on a small file is test_lfs_mode_basic_and_multipart_with_xet_disabled."""
    server = make_hub_server("--upload-mode", "lfs")
    folder = tmp_path / "big"
    folder.mkdir()
    size = 2 * 1024**3 + 1
    with open(folder / "huge.bin", "wb") as fh:
        fh.seek(size - 1)
        fh.write(b"\1")
    (folder / "config.json").write_bytes(b"{}")
    repo_id = server.new_repo_id("alice")
    started = time.monotonic()
    try:
        run_upload(server, repo_id, folder, disable_xet=True)
        entry = {i.path: i for i in HfApi(endpoint=server.url).list_repo_tree(repo_id)}["huge.bin"]
        assert entry.size == size
        expected = hashlib.sha256()
        with open(folder / "huge.bin", "rb") as fh:
            while chunk := fh.read(1 << 24):
                expected.update(chunk)
        assert entry.lfs.sha256 == expected.hexdigest()
        tail = httpx.get(f"{server.url}/{repo_id}/resolve/main/huge.bin", headers={"Range": f"bytes={size - 2}-"})
        assert tail.status_code == 206 and tail.content == b"\0\1"
        print(f"2 GiB upload took {time.monotonic() - started:.1f}s")
    finally:
        # pytest keeps recent temp folders: do not leave gigabytes behind
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(server.home / "registry", ignore_errors=True)


def test_preupload_answers_regular_by_default_and_lfs_on_request(hub_server) -> None:  # type: ignore[no-untyped-def]
    token = hub_server.token("alice")
    repo_id = hub_server.new_repo_id("alice")
    HfApi(endpoint=hub_server.url, token=token).create_repo(repo_id)
    body = {"files": [{"path": "w.safetensors", "size": 100, "sample": ""},
                      {"path": "notes.txt", "size": 5, "sample": "aGVsbG8="}]}

    def modes(**headers: str) -> list[str]:
        response = httpx.post(f"{hub_server.url}/api/models/{repo_id}/preupload/main", json=body,
                              headers={"Authorization": f"Bearer {token}", **headers})
        assert response.status_code == 200, response.text
        return [f["uploadMode"] for f in response.json()["files"]]

    assert modes() == ["regular", "regular"]  # safe for clients that would use Xet for "lfs"
    assert modes(**{"X-Zoolab-Upload-Mode": "lfs"}) == ["lfs", "regular"]


def test_concurrent_commits_to_one_branch_all_land(hub_server) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    repo_id = hub_server.new_repo_id("alice")
    api = HfApi(endpoint=hub_server.url, token=hub_server.token("alice"))
    api.create_repo(repo_id)
    contents = {f"file-{i}.txt": f"content {i}".encode() for i in range(8)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda item: api.upload_file(path_or_fileobj=item[1], path_in_repo=item[0], repo_id=repo_id),
                      contents.items()))
    assert set(contents) <= set(api.list_repo_files(repo_id))
    commits = api.list_repo_commits(repo_id)
    assert len(commits) == 1 + len(contents)  # one linear history: every commit built on the previous
    assert_downloads_equal(hub_server, repo_id, contents)
