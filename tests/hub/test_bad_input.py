"""Bad input against a live hub server: every malformed request gets a 4xx with a Hugging Face–style
error (``{"error": ...}`` body, ``X-Error-Message`` header) and leaves the store as it was.

Requests are sent raw (``http.client``, so paths like ``a/../b`` reach the server unnormalised) and
through stock ``huggingface_hub`` calls that can carry such input.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hub_server_support import HubServer

MAX_BODY_MB = 1
OWNER = "alice"
REPO = f"{OWNER}/target"
FILES = {"README.md": b"---\nlicense: mit\n---\n# target\n", "config.json": b'{"a": 1}',
         "weights/model.bin": bytes(range(256)) * 64}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.body)


class Raw:
    """Sends requests exactly as written (no path normalisation, any bytes as body)."""

    def __init__(self, url: str, token: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.token = token

    def __call__(self, method: str, path: str, body: bytes | str | None = None,
                 headers: dict[str, str] | None = None, *, auth: bool = True) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            all_headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
            all_headers.update(headers or {})
            data = body.encode() if isinstance(body, str) else body
            conn.request(method, path, body=data, headers=all_headers)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()


def store_state(home: Path) -> dict[str, object]:
    """Everything a bad request must not change: repos, refs, commits, file lists, blobs, temp files."""
    root = home / "registry"
    db = sqlite3.connect(f"file:{root / 'db.sqlite'}?mode=ro", uri=True)
    try:
        tables = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
                  for t in ("repos", "refs", "commits", "commit_files", "blobs")}
    finally:
        db.close()
    tables["blob_files"] = sorted(p.name for p in (root / "blobs").rglob("*") if p.is_file())
    tables["temp_files"] = sorted(str(p) for p in (root / "tmp").rglob("*") if p.is_file())
    return tables


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = HubServer(tmp_path_factory.mktemp("bad-input") / "home",
                    ("--max-body-mb", str(MAX_BODY_MB), "--upload-mode", "lfs"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def raw(server: HubServer) -> Raw:
    token = server.token(OWNER)
    client = Raw(server.url, token)
    assert client("POST", "/api/repos/create", json.dumps({"name": "target", "organization": OWNER}),
                  {"Content-Type": "application/json"}).status == 200
    lines = [{"key": "header", "value": {"summary": "add files"}}]
    lines += [{"key": "file", "value": {"path": p, "content": base64.b64encode(d).decode(), "encoding": "base64"}}
              for p, d in FILES.items()]
    reply = client("POST", f"/api/models/{REPO}/commit/main", ndjson(*lines),
                   {"Content-Type": "application/x-ndjson"})
    assert reply.status == 200, reply.body
    assert client("POST", f"/api/models/{REPO}/tag/main", json.dumps({"tag": "v1"}),
                  {"Content-Type": "application/json"}).status == 200
    return client


def ndjson(*lines: object) -> bytes:
    return b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"


JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}
HEADER = {"key": "header", "value": {"summary": "bad"}}
OID = "ab" * 32


def add(path: str, content: bytes = b"x") -> dict[str, object]:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}


# (id, method, path, body, headers, expected status) — every one must be refused.
BAD = [
    # malformed or mistyped JSON
    ("create-not-json", "POST", "/api/repos/create", b"{name: ", JSON, 400),
    ("create-json-array", "POST", "/api/repos/create", b'["x"]', JSON, 400),
    ("create-name-number", "POST", "/api/repos/create", b'{"name": 5}', JSON, 400),
    ("create-not-utf8", "POST", "/api/repos/create", b'{"name": "\xff\xfe"}', JSON, 400),
    ("create-bad-visibility", "POST", "/api/repos/create", b'{"name": "ok", "visibility": "secret"}', JSON, 400),
    ("tag-not-json", "POST", f"/api/models/{REPO}/tag/main", b"\x00\x01", JSON, 400),
    ("branch-start-number", "POST", f"/api/models/{REPO}/branch/dev", b'{"startingPoint": 1}', JSON, 400),
    ("settings-private-text", "PUT", f"/api/models/{REPO}/settings", b'{"private": "maybe"}', JSON, 400),
    ("preupload-files-text", "POST", f"/api/models/{REPO}/preupload/main", b'{"files": "a"}', JSON, 400),
    ("preupload-bad-sample", "POST", f"/api/models/{REPO}/preupload/main",
     b'{"files": [{"path": "a", "size": 1, "sample": "!!"}]}', JSON, 400),
    ("lfs-batch-not-json", "POST", f"/{REPO}.git/info/lfs/objects/batch", b"{", JSON, 400),
    ("lfs-batch-objects-text", "POST", f"/{REPO}.git/info/lfs/objects/batch",
     b'{"operation": "upload", "objects": "x"}', JSON, 400),
    ("paths-info-not-list", "POST", f"/api/models/{REPO}/paths-info/main", b'{"paths": 3}', JSON, 400),
    ("validate-yaml-number", "POST", "/api/validate-yaml", b'{"content": 3}', JSON, 400),
    # malformed ndjson commits
    ("commit-not-json", "POST", f"/api/models/{REPO}/commit/main", b"{oops\n", NDJSON, 400),
    ("commit-no-header", "POST", f"/api/models/{REPO}/commit/main", ndjson(add("new.txt")), NDJSON, 400),
    ("commit-unknown-key", "POST", f"/api/models/{REPO}/commit/main",
     ndjson(HEADER, {"key": "rename", "value": {}}), NDJSON, 400),
    ("commit-value-not-object", "POST", f"/api/models/{REPO}/commit/main",
     ndjson(HEADER, {"key": "file", "value": 3}), NDJSON, 400),
    ("commit-bad-base64", "POST", f"/api/models/{REPO}/commit/main",
     ndjson(HEADER, {"key": "file", "value": {"path": "a", "content": "%%%", "encoding": "base64"}}), NDJSON, 400),
    ("commit-bad-parent", "POST", f"/api/models/{REPO}/commit/main",
     ndjson({"key": "header", "value": {"summary": "s", "parentCommit": "nope"}}), NDJSON, 400),
    ("commit-stale-parent", "POST", f"/api/models/{REPO}/commit/main",
     ndjson({"key": "header", "value": {"summary": "s", "parentCommit": "0" * 40}}), NDJSON, 412),
    ("commit-delete-missing", "POST", f"/api/models/{REPO}/commit/main",
     ndjson(HEADER, {"key": "deletedFile", "value": {"path": "missing.txt"}}), NDJSON, 404),
    ("commit-lfs-not-uploaded", "POST", f"/api/models/{REPO}/commit/main",
     ndjson(HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": OID, "size": 3}}),
     NDJSON, 400),
    ("commit-lfs-bad-oid", "POST", f"/api/models/{REPO}/commit/main",
     ndjson(HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "xyz", "size": 3}}),
     NDJSON, 400),
    # wrong content types
    ("commit-as-json", "POST", f"/api/models/{REPO}/commit/main", ndjson(HEADER, add("n.txt")), JSON, 415),
    ("create-as-xml", "POST", "/api/repos/create", b"<repo/>", {"Content-Type": "application/xml"}, 415),
    ("tag-as-octets", "POST", f"/api/models/{REPO}/tag/main", b'{"tag": "v9"}',
     {"Content-Type": "application/octet-stream"}, 415),
    # oversize bodies (the server runs with --max-body-mb 1)
    ("commit-oversize", "POST", f"/api/models/{REPO}/commit/main",
     ndjson(HEADER, add("big.bin", b"\x00" * (MAX_BODY_MB * 1024 * 1024))), NDJSON, 413),
    ("create-oversize", "POST", "/api/repos/create", b" " * (MAX_BODY_MB * 1024 * 1024 + 1), JSON, 413),
    ("lfs-batch-object-oversize", "POST", f"/{REPO}.git/info/lfs/objects/batch",
     json.dumps({"operation": "upload", "objects": [{"oid": OID, "size": 2 * 1024 * 1024}]}).encode(), JSON, 413),
    # path traversal in file paths: commits
    *[(f"commit-path-{name}", "POST", f"/api/models/{REPO}/commit/main", ndjson(HEADER, add(path)), NDJSON, 400)
      for name, path in [("dotdot", "../escape.txt"), ("inner-dotdot", "a/../../escape.txt"),
                         ("absolute", "/etc/passwd"), ("nul", "a\x00b.txt"),
                         ("newline", "a\nb.txt"), ("empty-segment", "a//b.txt"), ("dot", "./a.txt"),
                         ("git-folder", ".git/config"), ("empty", ""), ("too-long", "a" * 2000)]],
    # a backslash is an ordinary character, but a path that leaves the repo when Windows reads it
    # gets the Hub's 422
    ("commit-path-backslash-dotdot", "POST", f"/api/models/{REPO}/commit/main", ndjson(HEADER, add("a\\..\\..\\b.txt")),
     NDJSON, 422),
    ("commit-delete-dotdot", "POST", f"/api/models/{REPO}/commit/main",
     ndjson(HEADER, {"key": "deletedFile", "value": {"path": "../config.json"}}), NDJSON, 400),
    ("preupload-path-dotdot", "POST", f"/api/models/{REPO}/preupload/main",
     b'{"files": [{"path": "../x", "size": 1, "sample": ""}]}', JSON, 400),
    ("paths-info-dotdot", "POST", f"/api/models/{REPO}/paths-info/main", b'{"paths": ["../x"]}', JSON, 400),
    # path traversal in file paths: downloads and listings
    *[(f"resolve-{name}", method, f"/{REPO}/resolve/main/{path}", None, {}, 400)
      for method in ("GET", "HEAD")
      for name, path in [("dotdot", "../../etc/passwd"), ("encoded-dotdot", "%2E%2E/config.json"),
                         ("encoded-slash", "..%2F..%2Fetc%2Fpasswd"), ("absolute", "%2Fetc%2Fpasswd"),
                         ("nul", "config.json%00.txt"),
                         ("bad-utf8", "%ff%fe"), ("dot-segment", "weights/./model.bin")]],
    *[(f"resolve-backslash-dotdot-{method}", method, f"/{REPO}/resolve/main/..%5Cconfig.json", None, {}, 422)
      for method in ("GET", "HEAD")],
    ("tree-dotdot", "GET", f"/api/models/{REPO}/tree/main/weights/../..", None, {}, 400),
    ("tree-nul", "GET", f"/api/models/{REPO}/tree/main/weights%00", None, {}, 400),
    # invalid repo ids
    *[(f"repo-id-{name}", "GET", f"/api/models/{rid}", None, {}, 400)
      for name, rid in [("dotdot-name", f"{OWNER}/.."), ("dotdot-namespace", "../target"),
                        ("dash-namespace", "-alice/target"), ("dot-git", f"{OWNER}/target.git"),
                        ("double-dash", f"{OWNER}/a--b"), ("nul", f"{OWNER}/tar%00get"),
                        ("too-long", f"{OWNER}/{'x' * 200}"), ("bad-utf8", f"{OWNER}/%ff")]],
    ("create-repo-bad-name", "POST", "/api/repos/create", b'{"name": "../x"}', JSON, 400),
    ("create-repo-bad-org", "POST", "/api/repos/create", b'{"name": "x", "organization": "a b"}', JSON, 400),
    ("resolve-repo-bad", "GET", f"/{OWNER}/..%00/resolve/main/config.json", None, {}, 400),
    # invalid branch names and revisions
    *[(f"revision-{name}-{kind}", "GET", url.format(rev=rev), None, {}, 400)
      for name, rev in [("dotdot", "a..b"), ("nul", "%00"), ("tilde", "main~1"), ("space", "a%20b"),
                        ("backslash", "a%5Cb"), ("dot", "."), ("lock", "x.lock"), ("reflog", "main@%7B1%7D"),
                        ("too-long", "x" * 300), ("bad-utf8", "%ff")]
      for kind, url in [("resolve", f"/{REPO}/resolve/{{rev}}/config.json"),
                        ("info", f"/api/models/{REPO}/revision/{{rev}}"),
                        ("tree", f"/api/models/{REPO}/tree/{{rev}}"),
                        ("commits", f"/api/models/{REPO}/commits/{{rev}}")]],
    ("branch-create-bad", "POST", f"/api/models/{REPO}/branch/a..b", b"", JSON, 400),
    ("branch-create-sha-like", "POST", f"/api/models/{REPO}/branch/{'a' * 40}", b"", JSON, 400),
    ("branch-create-bad-start", "POST", f"/api/models/{REPO}/branch/dev", b'{"startingPoint": "a..b"}', JSON, 400),
    ("branch-delete-bad", "DELETE", f"/api/models/{REPO}/branch/a..b", None, {}, 400),
    ("tag-create-bad", "POST", f"/api/models/{REPO}/tag/main", b'{"tag": "v 1"}', JSON, 400),
    ("tag-create-bad-revision", "POST", f"/api/models/{REPO}/tag/a..b", b'{"tag": "v2"}', JSON, 400),
    ("tag-delete-nul", "DELETE", f"/api/models/{REPO}/tag/%00", None, {}, 400),
    ("commit-bad-branch", "POST", f"/api/models/{REPO}/commit/a..b", ndjson(HEADER, add("n.txt")), NDJSON, 400),
    ("commit-to-tag-name", "POST", f"/api/models/{REPO}/commit/no-such-branch", ndjson(HEADER, add("n.txt")),
     NDJSON, 404),
    # query parameters
    ("list-limit-text", "GET", "/api/models?limit=ten", None, {}, 400),
    ("list-offset-huge", "GET", "/api/models?offset=99999999999999999999999", None, {}, 400),
    ("list-sort-unknown", "GET", "/api/models?sort=size", None, {}, 400),
    ("tree-cursor-negative", "GET", f"/api/models/{REPO}/tree/main?cursor=-1", None, {}, 400),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"),
                         [pytest.param(*case[1:], id=case[0]) for case in BAD])
def test_bad_request_is_refused_and_stores_nothing(server: HubServer, raw: Raw, method: str, path: str,
                                                    body: bytes | None, headers: dict[str, str],
                                                    status: int) -> None:
    before = store_state(server.home)
    reply = raw(method, path, body, headers)
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers.get("x-error-message"), "no X-Error-Message header"
    if method != "HEAD":
        error = reply.json()["error"]
        assert isinstance(error, str) and error
    assert store_state(server.home) == before
    # The server is still healthy and the repo intact.
    ok = raw("GET", f"/{REPO}/resolve/main/config.json")
    assert ok.status == 200 and ok.body == FILES["config.json"]


def test_not_found_errors_carry_hub_error_codes(raw: Raw) -> None:
    cases = {f"/{REPO}/resolve/main/missing.txt": "EntryNotFound",
             f"/{REPO}/resolve/no-branch/config.json": "RevisionNotFound",
             f"/{OWNER}/no-repo/resolve/main/config.json": "RepoNotFound"}
    for path, code in cases.items():
        for method in ("GET", "HEAD"):
            reply = raw(method, path)
            assert (reply.status, reply.headers.get("x-error-code")) == (404, code), (method, path)
    # Malformed names in a download URL are 400s that stock clients still map onto their typed errors.
    malformed = {f"/{REPO}/resolve/a..b/config.json": (400, "RevisionNotFound"),
                 f"/{REPO}/resolve/main/..%5Cb.txt": (422, "EntryNotFound"),  # traversal on Windows
                 f"/{REPO}/resolve/main/a%5Cb.txt": (404, "EntryNotFound"),  # a plain (missing) name
                 f"/{REPO}/resolve/main/..%2Fconfig.json": (400, "EntryNotFound")}
    for path, expected in malformed.items():
        reply = raw("HEAD", path)
        assert (reply.status, reply.headers.get("x-error-code")) == expected, path


def _lfs_upload_url(raw: Raw, oid: str, size: int) -> str:
    reply = raw("POST", f"/{REPO}.git/info/lfs/objects/batch",
                json.dumps({"operation": "upload", "objects": [{"oid": oid, "size": size}]}), JSON)
    assert reply.status == 200, reply.body
    href = reply.json()["objects"][0]["actions"]["upload"]["href"]
    parts = urlsplit(href)
    return f"{parts.path}?{parts.query}"


@pytest.mark.parametrize("body_change", ["other-bytes", "one-short", "one-extra", "empty"])
def test_lfs_upload_not_matching_its_oid_or_size_stores_nothing(server: HubServer, raw: Raw,
                                                                body_change: str) -> None:
    data = b"real weights " * 1000
    oid = hashlib.sha256(data).hexdigest()
    url = _lfs_upload_url(raw, oid, len(data))
    sent = {"other-bytes": b"X" * len(data), "one-short": data[:-1], "one-extra": data + b"!",
            "empty": b""}[body_change]
    before = store_state(server.home)
    reply = raw("PUT", url, sent, {"Content-Type": "application/octet-stream"}, auth=False)
    assert reply.status == 400, reply.body
    assert "sha256" in reply.json()["error"] or "bytes" in reply.json()["error"]
    assert store_state(server.home) == before
    # ...and a commit naming that oid is refused, since the object was never stored.
    commit = raw("POST", f"/api/models/{REPO}/commit/main",
                 ndjson(HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid,
                                                            "size": len(data)}}), NDJSON)
    assert commit.status == 400
    assert store_state(server.home) == before


def test_lfs_commit_with_wrong_size_is_refused(server: HubServer, raw: Raw) -> None:
    data = b"uploaded for real" * 100
    oid = hashlib.sha256(data).hexdigest()
    url = _lfs_upload_url(raw, oid, len(data))
    assert raw("PUT", url, data, {"Content-Type": "application/octet-stream"}, auth=False).status == 200
    before = store_state(server.home)
    reply = raw("POST", f"/api/models/{REPO}/commit/main",
                ndjson(HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid,
                                                           "size": len(data) + 1}}), NDJSON)
    assert reply.status == 400 and "bytes" in reply.json()["error"]
    assert store_state(server.home) == before


def test_forged_or_incomplete_lfs_upload_url_is_refused(server: HubServer, raw: Raw) -> None:
    before = store_state(server.home)
    forged = raw("PUT", f"/api/lfs-upload/{OID}?repo={REPO}&size=1&chunk=0&exp=9999999999&sig=00", b"x",
                 auth=False)
    incomplete = raw("PUT", f"/api/lfs-upload/{OID}?repo={REPO}", b"x", auth=False)
    bad_oid = raw("PUT", f"/api/lfs-upload/not-an-oid?repo={REPO}&size=1&chunk=0&exp=1&sig=00", b"x", auth=False)
    assert (forged.status, incomplete.status, bad_oid.status) == (403, 403, 400)
    assert store_state(server.home) == before


def test_invalid_token_header_is_401(raw: Raw) -> None:
    for value in ("Basic abc", "Bearer", "Bearer not-a-token"):
        reply = raw("GET", "/api/whoami-v2", headers={"Authorization": value}, auth=False)
        assert reply.status == 401 and reply.json()["error"]


def test_stock_client_bad_input_gets_typed_errors(server: HubServer, raw: Raw) -> None:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    # This server splits files like the Hub (--upload-mode lfs); a default client (Xet on) asks for
    # regular uploads per request.
    api = HfApi(endpoint=server.url, token=raw.token, headers={"X-Zoolab-Upload-Mode": "regular"})
    before = store_state(server.home)
    attempts = {
        "backslash traversal": lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="..\\b.txt", repo_id=REPO),
        "nul path": lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="a\x00b.txt", repo_id=REPO),
        "empty segment": lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="a//b.txt", repo_id=REPO),
        "oversize file": lambda: api.upload_file(path_or_fileobj=b"\x00" * (MAX_BODY_MB * 1024 * 1024 + 1),
                                                 path_in_repo="big.bin", repo_id=REPO),
        "bad branch": lambda: api.create_branch(REPO, branch="a..b"),
        "bad tag": lambda: api.create_tag(REPO, tag="v 1"),
        "bad revision": lambda: hf_hub_download(REPO, "config.json", revision="a..b", endpoint=server.url,
                                                token=raw.token),
        "bad namespace": lambda: api.create_repo("bad_org/model"),
        "commit to missing branch": lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt",
                                                            repo_id=REPO, revision="no-such-branch"),
    }
    for what, attempt in attempts.items():
        with pytest.raises(HfHubHTTPError) as caught:
            attempt()
        status = caught.value.response.status_code
        assert 400 <= status < 500, (what, status)
        assert store_state(server.home) == before, what
    files = {f: api.hf_hub_download(REPO, f) for f in FILES}
    assert {f: Path(p).read_bytes() for f, p in files.items()} == FILES
