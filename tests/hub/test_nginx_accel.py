"""Behind Debian's nginx with the configuration of ``zoolab hub nginx-config``: the server decides
every download (token, visibility, revision, path) and answers with ``X-Accel-Redirect``; nginx
sends the bytes from its internal location over the blob folder. Driven by stock clients."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError
from nginx_support import Nginx, start_nginx

from hub_server_support import HubServer

# nginx marks what its internal blob location sent, so a test can tell it from the server's bytes.
SENT_BY_NGINX = "add_header X-Test-Sent-By nginx-blobs always;"
WEIGHTS = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes, binary: stored as an LFS file
TEXT = b'{"hidden_size": 8}\n'


@dataclass
class Site:
    server: HubServer
    nginx: Nginx
    owner: str
    outsider: str
    public: str
    private: str
    commit: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("hub-accel") / "home"
    server = HubServer(home, ["--behind-nginx"])
    nginx = None
    try:
        nginx = start_nginx([server.url], home.parent / "nginx", home / "registry" / "blobs",
                            blob_location_lines=[SENT_BY_NGINX])
        owner, outsider = server.token("alice"), server.token("mallory")
        api = HfApi(endpoint=nginx.url, token=owner)  # writes go through nginx too
        public, private = "alice/public-model", "alice/private-model"
        api.create_repo(public)
        api.create_repo(private, private=True)
        for repo in (public, private):
            api.upload_file(path_or_fileobj=WEIGHTS, path_in_repo="model.safetensors", repo_id=repo)
            commit = api.upload_file(path_or_fileobj=TEXT, path_in_repo="config.json", repo_id=repo).oid
            if repo == public:
                public_commit = commit
        yield Site(server, nginx, owner, outsider, public, private, public_commit)
    finally:
        if nginx is not None:
            nginx.stop()
        server.stop()


def test_public_file_through_nginx_has_the_bytes_and_the_hub_headers(site: Site, tmp_path: Path) -> None:
    path = hf_hub_download(site.public, "model.safetensors", endpoint=site.nginx.url, cache_dir=tmp_path)
    assert Path(path).read_bytes() == WEIGHTS
    assert Path(hf_hub_download(site.public, "config.json", revision=site.commit, endpoint=site.nginx.url,
                                cache_dir=tmp_path)).read_bytes() == TEXT

    url = f"{site.nginx.url}/{site.public}/resolve/main/model.safetensors"
    got = httpx.get(url)
    direct = httpx.head(f"{site.server.url}/{site.public}/resolve/main/model.safetensors")
    assert got.status_code == 200 and got.content == WEIGHTS
    assert got.headers["x-test-sent-by"] == "nginx-blobs"  # nginx's internal location sent it
    assert "x-accel-redirect" not in got.headers  # nginx consumed it
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    assert got.headers["etag"] == direct.headers["etag"] == f'"{sha}"'  # the Hub's ETag, not nginx's
    assert got.headers["x-linked-etag"] == f'"{sha}"'
    assert got.headers["x-repo-commit"] == site.commit
    assert got.headers["x-linked-size"] == got.headers["content-length"] == str(len(WEIGHTS))
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith('attachment; filename="model.safetensors"')
    assert got.headers["cache-control"] == "no-cache"  # a branch may move

    ranged = httpx.get(url, headers={"Range": "bytes=1000000-"})
    assert ranged.status_code == 206 and ranged.content == WEIGHTS[1000000:]
    assert ranged.headers["content-range"] == f"bytes 1000000-{len(WEIGHTS) - 1}/{len(WEIGHTS)}"
    assert ranged.headers["x-repo-commit"] == site.commit

    pinned = httpx.get(f"{site.nginx.url}/{site.public}/resolve/{site.commit}/config.json")
    assert pinned.content == TEXT and pinned.headers["x-test-sent-by"] == "nginx-blobs"
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert pinned.headers["etag"] == direct_etag(site, "config.json")  # git oid of a regular file
    assert "x-linked-etag" not in pinned.headers


def direct_etag(site: Site, path: str) -> str:
    return httpx.head(f"{site.server.url}/{site.public}/resolve/main/{path}").headers["etag"]


def test_head_is_answered_by_the_server_with_the_protocol_headers(site: Site) -> None:
    url = hf_hub_url(site.public, "model.safetensors", endpoint=site.nginx.url)
    meta = get_hf_file_metadata(url)
    assert (meta.commit_hash, meta.size) == (site.commit, len(WEIGHTS))
    assert meta.etag == hashlib.sha256(WEIGHTS).hexdigest()
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert "x-test-sent-by" not in head.headers  # no redirect for HEAD: the server's own answer
    assert head.headers["content-length"] == head.headers["x-linked-size"] == str(len(WEIGHTS))
    assert head.headers["x-repo-commit"] == site.commit

    missing = httpx.head(hf_hub_url(site.public, "nope.bin", endpoint=site.nginx.url))
    assert missing.status_code == 404 and missing.headers["x-error-code"] == "EntryNotFound"
    assert missing.headers["x-repo-commit"] == site.commit
    with pytest.raises(EntryNotFoundError):
        get_hf_file_metadata(hf_hub_url(site.public, "nope.bin", endpoint=site.nginx.url))
    bad_rev = httpx.head(hf_hub_url(site.public, "config.json", revision="no-such-branch", endpoint=site.nginx.url))
    assert bad_rev.status_code == 404 and bad_rev.headers["x-error-code"] == "RevisionNotFound"


def test_private_file_is_refused_through_nginx_to_anonymous_and_other_users(site: Site, tmp_path: Path) -> None:
    for token in (None, site.outsider):
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download(site.private, "model.safetensors", endpoint=site.nginx.url, token=token,
                            cache_dir=tmp_path / f"cache-{token is None}")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Asking for the redirect itself changes nothing: nginx overwrites the header, and the
        # server checks access first.
        for base in (site.nginx.url, site.server.url):
            got = httpx.get(f"{base}/{site.private}/resolve/main/model.safetensors",
                            headers={**headers, "X-Sendfile-Type": "X-Accel-Redirect"})
            assert got.status_code in (401, 404) and got.headers["x-error-code"] == "RepoNotFound"
            assert "x-accel-redirect" not in got.headers and WEIGHTS[:64] not in got.content
    owned = hf_hub_download(site.private, "model.safetensors", endpoint=site.nginx.url, token=site.owner,
                            cache_dir=tmp_path / "owner")
    assert Path(owned).read_bytes() == WEIGHTS


def test_internal_location_is_not_reachable_directly(site: Site) -> None:
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    for path in (f"/_zoolab/blobs/{sha[:2]}/{sha}", f"/_zoolab/blobs/{sha[:2]}/", "/_zoolab/blobs/"):
        got = httpx.get(site.nginx.url + path)
        assert got.status_code == 404 and WEIGHTS[:64] not in got.content


def test_server_alone_still_sends_bytes_and_redirects_only_for_nginx(site: Site) -> None:
    url = f"{site.server.url}/{site.public}/resolve/main/model.safetensors"
    assert httpx.get(url).content == WEIGHTS  # reached directly: no nginx header, the server sends
    asked = httpx.get(url, headers={"X-Sendfile-Type": "X-Accel-Redirect"})
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    assert asked.status_code == 200 and asked.content == b""
    assert asked.headers["x-accel-redirect"] == f"/_zoolab/blobs/{sha[:2]}/{sha}"


def test_web_page_download_links_are_sent_by_nginx_with_the_page_headers(site: Site) -> None:
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64  # binary: an LFS file, shown inline by the pages
    HfApi(endpoint=site.nginx.url, token=site.owner).upload_file(
        path_or_fileobj=picture, path_in_repo="curve.png", repo_id=site.public)
    for path, body, media in (("model.safetensors", WEIGHTS, "application/octet-stream"), ("curve.png", picture, "image/png")):
        got = httpx.get(f"{site.nginx.url}/{site.public}/raw/main/{path}")
        assert got.status_code == 200 and got.content == body
        assert got.headers["x-test-sent-by"] == "nginx-blobs" and got.headers["content-type"] == media
        assert "sandbox" in got.headers["content-security-policy"] and got.headers["x-content-type-options"] == "nosniff"
    refused = httpx.get(f"{site.nginx.url}/{site.private}/raw/main/model.safetensors")
    assert WEIGHTS[:64] not in refused.content and "x-test-sent-by" not in refused.headers


def test_nginx_config_command_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    for args, word in ((["--upstream", "no-port"], "upstream"), (["--listen", "99999"], "listen"),
                       (["--blob-root", str(tmp_path / "a b")], "path")):
        out = subprocess.run([sys.executable, "-m", "zoolab", "hub", "nginx-config", *args],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and word in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert out.stdout == ""
