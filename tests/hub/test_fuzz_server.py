"""Fuzzing the hub server with hypothesis: generated requests (methods, paths, repo ids, revisions,
file paths, query strings, headers, JSON / ndjson / binary bodies, LFS transfers) against a live
server must never get a 5xx, never kill it, and never change a repo the caller may not write.

The budget is bounded (``max_examples`` per test, no deadline); a failure prints the request that
reproduces it as a ``curl`` command line.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from hub_server_support import HubServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.xdist_group("hub-fuzz")

MAX_BODY_MB = 2
FUZZER = "fuzz"
SCRATCH = f"{FUZZER}/scratch"  # the fuzzer may change this one
GUARDED = "keeper/target"  # public, owned by someone else: must stay exactly as it is
GUARDED_FILES = {"README.md": b"---\nlicense: mit\ntags: [x]\n---\n# kept\n", "config.json": b'{"k": 1}',
                 "nested/dir/model.bin": bytes(range(256)) * 16}
FUZZ_SETTINGS = settings(max_examples=1000, deadline=None, database=None, print_blob=True,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.function_scoped_fixture])


_VISIBLE_ASCII = "".join(chr(c) for c in range(33, 127))


@dataclass
class Call:
    """One HTTP request, printed as a curl command when it fails."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def __post_init__(self) -> None:
        # Only what can be written on an HTTP request line: encode spaces, controls and non-ASCII.
        self.path = quote(self.path, safe=_VISIBLE_ASCII)

    def curl(self, base: str) -> str:
        parts = ["curl", "-X", self.method, "--path-as-is", shlex.quote(base + self.path)]
        for key, value in self.headers.items():
            parts += ["-H", shlex.quote(f"{key}: {value}")]
        if self.body is not None:
            shown = self.body if len(self.body) <= 2000 else self.body[:2000] + b"...(truncated)"
            parts += ["--data-binary", shlex.quote(shown.decode("latin-1"))]
        return " ".join(parts)


class Live:
    """The fuzzed server: sends a :class:`Call` raw and checks the answer is not a server error."""

    def __init__(self, server: HubServer, tokens: dict[str, str]):
        self.server = server
        self.tokens = tokens
        parts = urlsplit(server.url)
        self.host, self.port = parts.hostname, parts.port

    def send(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(call.method, call.path, body=call.body, headers=call.headers)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        except (http.client.HTTPException, OSError) as exc:
            raise AssertionError(f"server dropped the connection ({exc!r}); reproduce with:\n"
                                 f"{call.curl(self.server.url)}") from None
        finally:
            conn.close()

    def check(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = self.send(call)
        assert status < 500, (f"{status} {body[:500]!r}\nreproduce with:\n{call.curl(self.server.url)}\n"
                               f"server log tail:\n{self.server.log_path.read_text(errors='replace')[-3000:]}")
        if status >= 400 and call.method == "GET" and headers.get("content-type", "").startswith("text/html"):
            # A path the web pages own (e.g. /x.lock/x.lock as /<namespace>/<name>) gets an HTML error
            # page; no API, download or LFS path may answer in HTML.
            path = call.path.split("?")[0]
            assert not path.startswith("/api/") and "/resolve/" not in path and "/info/lfs" not in path, \
                call.curl(self.server.url)
            assert b"<html" in body.lower() and status < 500, call.curl(self.server.url)
        elif status >= 400 and call.method != "HEAD":
            assert "x-error-message" in headers, call.curl(self.server.url)
            assert isinstance(json.loads(body).get("error"), str), call.curl(self.server.url)
        assert self.server.process.poll() is None, "the server died"
        return status, headers, body


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = HubServer(tmp_path_factory.mktemp("fuzz") / "home",
                       ("--max-body-mb", str(MAX_BODY_MB), "--upload-mode", "lfs", "--lfs-chunk-mb", "1",
                        "--lfs-multipart-mb", "1"))
    try:
        from zoolab.hub.store import AddFile, Store

        store = Store(server.home)
        keeper = server.token("keeper")
        tokens = {"write": server.token(FUZZER), "read": server.token("reader", write=False), "keeper": keeper}
        for repo_id in (GUARDED, SCRATCH):
            store.create_repo(repo_id)
            store.commit(repo_id, [AddFile(p, content=d) for p, d in GUARDED_FILES.items()], message="files")
            store.create_branch(repo_id, "dev")
            store.create_tag(repo_id, "v1")
        store.create_repo("keeper/secret", private=True)
        yield Live(server, tokens)
    finally:
        server.stop()


def _guarded_state(home: Path) -> object:
    from zoolab.hub.store import Store

    store = Store(home)
    return (store.list_refs(GUARDED), store.list_commits(GUARDED),
            store.list_files(GUARDED), store.repo_info(GUARDED).private)


# ---------------------------------------------------------------------------- strategies
NASTY = ["..", ".", "", "%00", "%ff", "%2F", "%2E%2E", "a%5Cb", "~", "@{1}", "a..b", "x.lock", "-x", "a b",
         "%0A", "\u00e9", "%C3%A9", "a" * 300, "refs%2Fheads%2Fmain", "HEAD", "*", "?", "%", "%zz", "0" * 40,
         "a/b", "//", "%20"]  # fmt: skip


def _encoded(text: str) -> str:
    return quote(text, safe="")


segment = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=20).map(_encoded),
    st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True),
)


def mostly(valid: list[str]) -> st.SearchStrategy[str]:
    """A known-good value three times in four (so requests get past validation), else a nasty one."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(valid), segment)


namespace = mostly([FUZZER, FUZZER, "keeper", "nobody"])
repo_name = mostly(["scratch", "scratch", "target", "secret", "missing", "target.git"])
revision = mostly(["main", "main", "dev", "v1", "a" * 40])
file_path = st.one_of(
    st.sampled_from(["config.json", "README.md", "nested/dir/model.bin", "nested", "missing.txt"]),
    st.sampled_from(["config.json", "README.md", "nested/dir/model.bin", "nested", "new/file.txt"]),
    st.lists(segment, min_size=1, max_size=4).map("/".join),
)
query = st.one_of(
    st.just(""),
    st.dictionaries(st.sampled_from(["limit", "offset", "cursor", "recursive", "search", "author", "filter",
                                     "sort", "full", "cardData", "blobs", "expand", "create_pr", "repo", "size",
                                     "chunk", "exp", "sig"]),
                    st.one_of(st.sampled_from(["-1", "0", "1", "true", "99999999999999999999", "x", ""]),
                              st.text(max_size=12)), max_size=4)
    .map(lambda d: "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in d.items())),
)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                        st.floats(allow_nan=False), st.text(max_size=30), st.sampled_from(NASTY))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                               st.dictionaries(st.text(max_size=8), inner,
                                                                               max_size=4)), max_leaves=12)
FIELDS = ["name", "organization", "type", "private", "visibility", "files", "path", "size", "sample", "tag",
          "message", "startingPoint", "content", "repoType", "operation", "objects", "oid", "transfers",
          "hash_algo", "paths", "expand", "parts", "partNumber", "etag"]
json_object = st.dictionaries(st.sampled_from(FIELDS),
                              st.one_of(json_value, st.lists(st.dictionaries(st.sampled_from(FIELDS), json_value,
                                                                             max_size=4), max_size=3)),
                              max_size=5)
content_type = st.sampled_from([None, "application/json", "application/x-ndjson", "text/plain",
                                "application/x-www-form-urlencoded", "application/octet-stream",
                                "application/vnd.git-lfs+json", "multipart/form-data", "application/json; x=1",
                                "garbage"])
auth = st.sampled_from(["write", "read", "keeper", "none", "bogus", "malformed"])


def _headers(token_kind: str, tokens: dict[str, str], ctype: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if token_kind in tokens:
        headers["Authorization"] = f"Bearer {tokens[token_kind]}"
    elif token_kind == "bogus":
        headers["Authorization"] = "Bearer hf_not_a_real_token"
    elif token_kind == "malformed":
        headers["Authorization"] = "Token x y"
    if ctype is not None:
        headers["Content-Type"] = ctype
    return headers


READ_TEMPLATES = [
    ("GET", "/{ns}/{name}/resolve/{rev}/{path}"), ("HEAD", "/{ns}/{name}/resolve/{rev}/{path}"),
    ("GET", "/api/models/{ns}/{name}"), ("GET", "/api/models/{ns}/{name}/revision/{rev}"),
    ("GET", "/api/models/{ns}/{name}/tree/{rev}"), ("GET", "/api/models/{ns}/{name}/tree/{rev}/{path}"),
    ("GET", "/api/models/{ns}/{name}/refs"), ("GET", "/api/models/{ns}/{name}/commits/{rev}"),
    ("GET", "/api/models"), ("GET", "/api/whoami-v2"), ("GET", "/api/models/{ns}/{name}/xet-read-token/{rev}"),
    ("GET", "/{path}"), ("GET", "/openapi.json"),
]
WRITE_TEMPLATES = [
    ("POST", "/api/repos/create"), ("DELETE", "/api/repos/delete"), ("PUT", "/api/models/{ns}/{name}/settings"),
    ("POST", "/api/models/{ns}/{name}/paths-info/{rev}"), ("POST", "/api/models/{ns}/{name}/branch/{rev}"),
    ("DELETE", "/api/models/{ns}/{name}/branch/{rev}"), ("POST", "/api/models/{ns}/{name}/tag/{rev}"),
    ("DELETE", "/api/models/{ns}/{name}/tag/{rev}"), ("POST", "/api/validate-yaml"),
    ("POST", "/api/models/{ns}/{name}/preupload/{rev}"), ("POST", "/{ns}/{name}.git/info/lfs/objects/batch"),
    ("PUT", "/api/lfs-upload/{oid}{query}"), ("PUT", "/api/lfs-upload/{oid}/part/{rev}{query}"),
    ("POST", "/api/lfs-upload/{oid}{query}"),
]


@st.composite
def read_calls(draw: st.DrawFn) -> tuple[Call, str]:
    method, template = draw(st.sampled_from(READ_TEMPLATES))
    method = draw(st.sampled_from([method, method, "GET", "HEAD", "OPTIONS", "PATCH"]))
    path = template.format(ns=draw(namespace), name=draw(repo_name), rev=draw(revision), path=draw(file_path))
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["Range"] = draw(st.sampled_from(["bytes=0-", "bytes=5-", "bytes=-3", "bytes=9-2", "bytes=x",
                                                 "bytes=0-0,2-3", "bytes=99999999-", "lines=1-2"]))
    return Call(method, path + draw(query), headers), draw(auth)


@st.composite
def write_calls(draw: st.DrawFn) -> tuple[Call, str, str | None]:
    method, template = draw(st.sampled_from(WRITE_TEMPLATES))
    oid = draw(st.one_of(st.just("ab" * 32), st.from_regex(r"[0-9a-f]{64}", fullmatch=True), segment))
    path = template.format(ns=draw(namespace), name=draw(repo_name), rev=draw(revision), oid=oid,
                           query=draw(query))
    kind = draw(st.sampled_from(["json", "json", "json", "form", "bytes", "none"]))
    if kind == "json":
        body: bytes | None = json.dumps(draw(json_object)).encode()
    elif kind == "form":
        body = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in draw(json_object).items()).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    else:
        body = None
    return Call(method, path, {}, body), draw(auth), draw(content_type)


def _line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["file"] * 4 + ["deletedFile"] * 2 + ["header", "lfsFile", "deletedFolder",
                                                                     "other", "raw"]))
    if kind == "raw":
        return draw(st.binary(max_size=80)).replace(b"\n", b" ")
    if kind == "other":
        return json.dumps(draw(json_value)).encode()
    value: dict[str, object] = {}
    if kind == "header":
        value = {"summary": draw(st.one_of(st.text(max_size=20), json_scalar))}
        if draw(st.booleans()):
            value["parentCommit"] = draw(st.one_of(st.sampled_from(["0" * 40, "zz"]), json_scalar))
    elif kind == "file":
        data = draw(st.binary(max_size=200))
        value = {"content": draw(st.one_of(st.just(base64.b64encode(data).decode()), st.text(max_size=20))
                                 if draw(st.integers(0, 3)) == 0 else st.just(base64.b64encode(data).decode())),
                 "path": draw(st.one_of(file_path, file_path, st.text(max_size=30), json_scalar)),
                 "encoding": draw(st.sampled_from(["base64"] * 4 + ["utf-8", "hex", None]))}
    elif kind == "lfsFile":
        value = {"path": draw(file_path), "algo": draw(st.sampled_from(["sha256", "md5"])),
                 "oid": draw(st.one_of(st.just(hashlib.sha256(b"").hexdigest()), segment)),
                 "size": draw(json_scalar)}
    else:
        value = {"path": draw(st.one_of(file_path, json_scalar))}
    if draw(st.integers(0, 9)) == 0:
        value.update(draw(json_object))
    return json.dumps({"key": kind, "value": value}).encode()


@st.composite
def commit_calls(draw: st.DrawFn) -> tuple[Call, str]:
    lines = [_line(draw) for _ in range(draw(st.integers(0, 5)))]
    if lines and draw(st.booleans()):
        lines[0] = json.dumps({"key": "header", "value": {"summary": "fuzz"}}).encode()
    body = b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\n\n"]))
    ns = draw(st.sampled_from([FUZZER] * 4 + ["keeper"]))
    name = "scratch" if ns == FUZZER else "target"
    path = f"/api/models/{ns}/{name}/commit/{draw(revision)}" + draw(query)
    headers = {"Content-Type": draw(st.sampled_from(["application/x-ndjson"] * 4 + ["application/json"]))}
    return Call("POST", path, headers, body), draw(st.sampled_from(["write"] * 6 + ["read", "keeper"]))


# ---------------------------------------------------------------------------- tests
@FUZZ_SETTINGS
@given(drawn=read_calls())
def test_fuzz_reads_never_fail_on_the_server(live: Live, drawn: tuple[Call, str]) -> None:
    call, token_kind = drawn
    call.headers.update(_headers(token_kind, live.tokens, None))
    status, headers, body = live.check(call)
    if "keeper/secret" in call.path and token_kind != "keeper":
        assert status >= 400, call.curl(live.server.url)  # a private repo stays invisible


@FUZZ_SETTINGS
@given(drawn=write_calls())
def test_fuzz_json_writes_never_fail_on_the_server(live: Live, drawn: tuple[Call, str, str | None]) -> None:
    call, token_kind, ctype = drawn
    call.headers.update(_headers(token_kind if token_kind != "keeper" else "write", live.tokens, ctype))
    before = _guarded_state(live.server.home)
    live.check(call)
    assert _guarded_state(live.server.home) == before, call.curl(live.server.url)


@FUZZ_SETTINGS
@given(drawn=commit_calls())
def test_fuzz_commits_never_fail_on_the_server(live: Live, drawn: tuple[Call, str]) -> None:
    call, token_kind = drawn
    call.headers.update(_headers(token_kind, live.tokens, None) | call.headers)
    before = _guarded_state(live.server.home)
    live.check(call)
    if token_kind != "keeper":
        assert _guarded_state(live.server.home) == before, call.curl(live.server.url)


@settings(FUZZ_SETTINGS, max_examples=150)
@given(data=st.binary(max_size=3000), oid_kind=st.sampled_from(["right", "other", "right", "right"]),
       size_delta=st.sampled_from([0, 0, 0, -1, 1, 10**6]), sent=st.sampled_from(["same", "other", "cut", "more"]),
       multipart=st.booleans())
def test_fuzz_lfs_transfers_never_fail_on_the_server(live: Live, data: bytes, oid_kind: str, size_delta: int,
                                                     sent: str, multipart: bool) -> None:
    """Batch, then PUT (basic) or PUT parts and complete (multipart) with bytes that may not match."""
    if multipart:
        data = data * (1024 * 1024 // max(len(data), 1) + 1) if data else b"\x01" * (1024 * 1024 + 7)
    oid = hashlib.sha256(data if oid_kind == "right" else data + b"?").hexdigest()
    size = max(0, len(data) + size_delta)
    headers = _headers("write", live.tokens, "application/vnd.git-lfs+json")
    batch = Call("POST", f"/{SCRATCH}.git/info/lfs/objects/batch", headers,
                 json.dumps({"operation": "upload", "objects": [{"oid": oid, "size": size}]}).encode())
    status, _, body = live.check(batch)
    if status != 200:
        return
    action = json.loads(body)["objects"][0].get("actions", {}).get("upload")
    if action is None:
        return  # already stored
    payload = {"same": data, "other": bytes(reversed(data)) + b"!", "cut": data[:-1],
               "more": data + b"more"}[sent]
    href = urlsplit(action["href"])
    upload_path = f"{href.path}?{href.query}"
    parts = {k: v for k, v in action.get("header", {}).items() if k.isdigit()}
    if not parts:
        live.check(Call("PUT", upload_path, {"Content-Type": "application/octet-stream"}, payload))
    else:
        chunk = int(action["header"]["chunk_size"])
        etags = []
        for number in sorted(parts, key=int):
            part_url = urlsplit(parts[number])
            piece = payload[(int(number) - 1) * chunk:int(number) * chunk]
            _, got, _ = live.check(Call("PUT", f"{part_url.path}?{part_url.query}", {}, piece))
            etags.append({"partNumber": int(number), "etag": got.get("etag", "")})
        live.check(Call("POST", upload_path, {"Content-Type": "application/json"},
                        json.dumps({"oid": oid, "parts": etags}).encode()))


def test_store_is_sound_after_fuzzing(live: Live) -> None:
    """Runs last in this module: the guarded repo serves its original bytes and the store verifies."""
    from zoolab.hub.store import Store

    for path, data in GUARDED_FILES.items():
        status, _, body = live.check(Call("GET", f"/{GUARDED}/resolve/main/{path}"))
        assert (status, body) == (200, data)
    assert Store(live.server.home).verify() == []
