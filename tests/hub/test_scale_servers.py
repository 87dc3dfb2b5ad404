"""Several ``zoolab hub serve`` processes on one PostgreSQL database and one bucket (moto's S3
emulator), behind Debian's nginx: concurrent commits through different processes, a process
killed mid-upload, and presigned redirects that stock clients follow."""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from hub_server_support import HubServer
from test_hub_server_upload import make_folder, run_upload
from scale_support import Nginx, PostgresServer, S3Emulator, pg_server, s3_server, start_nginx  # noqa: F401

from zoolab.hub.store import Store
from zoolab.hub.store.backends import StoreLocation


class Cluster:
    """Server processes sharing one database and bucket, each with a home of its own."""

    def __init__(self, root: Path, pg: PostgresServer, s3: S3Emulator, count: int, *extra: str):
        self.location = StoreLocation(pg.new_database(), f"s3://{s3.new_bucket()}/hub")
        self.s3 = s3
        # The schema is created once, before the processes race to open the store.
        self.store = Store(root / "admin", location=self.location)
        env = {**s3.env(), "ZOOLAB_HUB_DATABASE": self.location.database or "",
               "ZOOLAB_HUB_BLOBS": self.location.blobs or ""}
        with ThreadPoolExecutor(count) as pool:
            self.servers = list(pool.map(lambda i: HubServer(root / f"node{i}", extra, env), range(count)))

    def token(self, user: str, *, write: bool = True) -> str:
        """A token of ``user`` in the shared store (as :meth:`HubServer.token` does for one home)."""
        return self.store.create_token(user, write=write)

    def bucket_keys(self) -> set[str]:
        bucket = (self.location.blobs or "")[5:].split("/")[0]
        pages = self.s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {obj["Key"] for page in pages for obj in page.get("Contents", [])}

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def cluster3(tmp_path: Path, pg_server: PostgresServer,  # noqa: F811
             s3_server: S3Emulator) -> Iterator[tuple[Cluster, Nginx]]:  # noqa: F811
    cluster = Cluster(tmp_path, pg_server, s3_server, 3)
    try:  # the servers are stopped even when nginx cannot start
        nginx = start_nginx([s.url for s in cluster.servers], tmp_path / "nginx")
    except BaseException:
        cluster.stop()
        raise
    try:
        yield cluster, nginx
    finally:
        nginx.stop()
        cluster.stop()


def test_three_processes_behind_nginx_lose_no_commit_with_postgresql_and_s3emulator(
        cluster3: tuple[Cluster, Nginx]) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    cluster, nginx = cluster3
    token = cluster.store.create_token("alice", write=True)
    api = HfApi(endpoint=nginx.url, token=token)
    repo = api.create_repo("alice/shared").repo_id
    served_by = {httpx.get(f"{nginx.url}/api/models/{repo}").headers["x-upstream"] for _ in range(6)}
    assert len(served_by) == 3  # round robin: requests reach every process

    def commit(i: int) -> str:
        ops = [CommitOperationAdd(f"files/{i}.txt", f"commit {i}\n".encode())]
        return api.create_commit(repo, ops, commit_message=f"c{i}").oid

    with ThreadPoolExecutor(6) as pool:
        acknowledged = list(pool.map(commit, range(18)))
    history = api.list_repo_commits(repo)
    ids = [c.commit_id for c in history]
    assert set(acknowledged) <= set(ids) and len(ids) == 18 + 1  # + the initial commit
    # Linear: every commit's parent is the next older one (no two commits on one parent).
    store = cluster.store
    for newer, older in zip(store.list_commits(repo), store.list_commits(repo)[1:]):
        assert newer.parent_ids == (older.commit_id,)
    assert {f"files/{i}.txt" for i in range(18)} <= set(api.list_repo_files(repo))

    # The same parent named by several commits at once: one wins, the others get the Hub's 412.
    head = ids[0]

    def racing(i: int) -> int:
        try:
            api.create_commit(repo, [CommitOperationAdd(f"race/{i}.txt", b"x")], commit_message=f"r{i}",
                              parent_commit=head)
            return 200
        except HfHubHTTPError as exc:
            return exc.response.status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(racing, range(6)))
    assert statuses == [200] + [412] * 5
    assert store.list_commits(repo)[0].parent_ids == (head,)


def _slow_commit(server_url: str, repo: str, token: str, size: int, started: threading.Event) -> None:
    """POST a commit whose one inline file trickles in: the server is killed before it ends."""
    parts = urlsplit(server_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    header = json.dumps({"key": "header", "value": {"summary": "never finished"}}) + "\n"
    content = base64.b64encode(os.urandom(size)).decode()
    line = json.dumps({"key": "file", "value": {"path": "big.bin", "encoding": "base64", "content": content}})
    body = (header + line + "\n").encode()
    try:
        conn.putrequest("POST", f"/api/models/{repo}/commit/main")
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", "application/x-ndjson")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        half = len(body) // 2
        conn.send(body[:half])
        started.set()
        for i in range(half, len(body), 64 * 1024):  # the rest slowly, until the process dies
            conn.send(body[i:i + 64 * 1024])
            time.sleep(0.05)
        conn.getresponse()
    except OSError:
        pass  # the connection dies with the server: expected
    finally:
        started.set()
        conn.close()


def test_a_process_killed_mid_upload_leaves_nothing_referenced_with_s3emulator(
        cluster3: tuple[Cluster, Nginx]) -> None:
    from huggingface_hub import HfApi

    cluster, nginx = cluster3
    token = cluster.store.create_token("alice", write=True)
    api = HfApi(endpoint=nginx.url, token=token)
    repo = api.create_repo("alice/crash").repo_id
    api.upload_file(path_or_fileobj=b"before\n", path_in_repo="a.txt", repo_id=repo)
    head = api.model_info(repo).sha
    keys_before = cluster.bucket_keys()
    victim = cluster.servers[0]
    started = threading.Event()
    upload = threading.Thread(target=_slow_commit, args=(victim.url, repo, token, 4 * 1024 * 1024, started))
    upload.start()
    assert started.wait(30)
    temp_dir = victim.home / "registry" / "tmp"
    deadline = time.monotonic() + 20
    while not any(temp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)  # until the server is writing the file's bytes
    partial = [p.name for p in temp_dir.iterdir()]
    assert partial, "the server never started writing the upload"
    victim.process.kill()
    victim.process.wait()
    upload.join(30)
    # The other processes keep serving, through nginx too (it stops sending to the dead one).
    for _ in range(4):
        assert api.model_info(repo).sha == head
    api.upload_file(path_or_fileobj=b"after\n", path_in_repo="b.txt", repo_id=repo)
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", "a.txt", "b.txt"]
    assert "big.bin" not in api.list_repo_files(repo)
    new_keys = cluster.bucket_keys() - keys_before
    assert len(new_keys) == 1  # b.txt's blob; nothing of the killed upload reached the bucket
    assert cluster.store.verify() == []


def test_large_downloads_redirect_to_presigned_urls_that_stock_clients_follow_with_s3emulator(
        tmp_path: Path, pg_server: PostgresServer, s3_server: S3Emulator) -> None:  # noqa: F811
    from huggingface_hub import HfApi, hf_hub_download

    cluster = Cluster(tmp_path, pg_server, s3_server, 1, "--presign-min-mb", "1")
    try:
        server = cluster.servers[0]
        token = cluster.store.create_token("alice", write=True)
        api = HfApi(endpoint=server.url, token=token)
        repo = api.create_repo("alice/big", private=True).repo_id
        big = os.urandom(3 * 1024 * 1024 + 17)
        api.upload_file(path_or_fileobj=big, path_in_repo="model.safetensors", repo_id=repo)
        api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo)
        auth = {"Authorization": f"Bearer {token}"}
        redirect = httpx.get(f"{server.url}/{repo}/resolve/main/model.safetensors", headers=auth)
        assert redirect.status_code == 302 and redirect.headers["location"].startswith(s3_server.endpoint)
        assert redirect.headers["x-linked-size"] == str(len(big)) and "x-repo-commit" in redirect.headers
        anonymous = httpx.get(f"{server.url}/{repo}/resolve/main/model.safetensors")
        assert anonymous.status_code in (401, 404) and "location" not in anonymous.headers  # access rules first
        small = httpx.get(f"{server.url}/{repo}/resolve/main/config.json", headers=auth)
        assert small.status_code == 200 and small.content == b"{}"  # small files: served directly
        path = hf_hub_download(repo, "model.safetensors", endpoint=server.url, token=token,
                               cache_dir=tmp_path / "cache")
        assert Path(path).read_bytes() == big
        # The web pages' download link of a public repo takes the same way out as the API.
        public = api.create_repo("alice/open").repo_id
        api.upload_file(path_or_fileobj=big, path_in_repo="model.safetensors", repo_id=public)
        page_link = httpx.get(f"{server.url}/{public}/raw/main/model.safetensors")
        assert page_link.status_code == 302 and page_link.headers["location"].startswith(s3_server.endpoint)
        assert httpx.get(page_link.headers["location"]).content == big
        private_link = httpx.get(f"{server.url}/{repo}/raw/main/model.safetensors")
        assert "location" not in private_link.headers  # a private repo's page link still asks who you are
    finally:
        cluster.stop()


def test_stock_client_tour_with_lfs_multipart_across_processes_on_postgresql_and_s3emulator(
        tmp_path: Path, pg_server: PostgresServer, s3_server: S3Emulator) -> None:  # noqa: F811
    from huggingface_hub import HfApi, snapshot_download

    # Three processes behind nginx: the parts of one multipart upload reach different processes.
    cluster = Cluster(tmp_path, pg_server, s3_server, 3, "--upload-mode", "lfs", "--lfs-chunk-mb", "1",
                      "--lfs-multipart-mb", "2", "--presign-min-mb", "1")
    nginx = None
    try:  # the servers are stopped even when nginx cannot start
        nginx = start_nginx([s.url for s in cluster.servers], tmp_path / "nginx")
        server = nginx
        files = {"model.safetensors": os.urandom(3 * 1024 * 1024 + 5), "config.json": b"{}",
                 "README.md": b"---\nlibrary_name: timm\ntags: [otters]\n---\n# Otter spotter\n"}

        class Endpoint:  # what run_upload needs of a server: its URL and tokens of the shared store
            url = server.url
            token = staticmethod(cluster.token)

        seen = run_upload(Endpoint, "alice/otters", make_folder(tmp_path / "up", files), disable_xet=True)
        api = HfApi(endpoint=server.url, token=cluster.token("alice"))
        assert seen["commit"] == api.model_info("alice/otters").sha
        got = Path(snapshot_download("alice/otters", endpoint=server.url, cache_dir=tmp_path / "cache"))
        assert {name: (got / name).read_bytes() for name in files} == files
        assert [m.id for m in api.list_models(search="otter")] == ["alice/otters"]
        assert [m.id for m in api.list_models(filter="otters")] == ["alice/otters"]
        api.create_branch("alice/otters", branch="dev")
        api.create_tag("alice/otters", tag="v1")
        api.delete_file("config.json", "alice/otters", revision="dev")
        assert "config.json" not in api.list_repo_files("alice/otters", revision="dev")
        assert "config.json" in api.list_repo_files("alice/otters", revision="v1")
        api.create_repo("alice/otters", repo_type="dataset")
        api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data.csv", repo_id="alice/otters",
                        repo_type="dataset")
        assert api.list_repo_files("alice/otters", repo_type="dataset") == [".gitattributes", "data.csv"]
        assert cluster.store.verify() == []
        assert not [k for k in cluster.bucket_keys() if "/uploads/" in k]  # no part object left behind
    finally:
        if nginx is not None:
            nginx.stop()
        cluster.stop()
