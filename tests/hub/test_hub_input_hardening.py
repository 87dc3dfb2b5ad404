"""Input that used to get through or get a 500 from a live hub server (issue 10 §2): trailing
newlines in names, lone surrogates, deep nesting, ``.git`` below the root or in another case,
unescaped download file names, and repo ids that differ only in case."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, unquote

import pytest
from hostile_client import Client, file_line
from hub_server_support import HubServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = HubServer(tmp_path_factory.mktemp("input-hardening") / "home")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def alice(server: HubServer) -> Client:
    return Client(server.url, server.token("alice"))


@pytest.fixture(scope="module")
def repo(server: HubServer, alice: Client) -> str:
    repo_id = server.new_repo_id("alice")
    assert alice.create_repo(repo_id).status == 200
    assert alice.commit(repo_id, [file_line("config.json", b"{}")]).status == 200
    return repo_id


def _is_hub_error(reply, status: int) -> bool:  # type: ignore[no-untyped-def]
    return reply.status == status and "error" in reply.json() and "x-error-message" in reply.headers


# ---------------------------------------------------------------------------- trailing newlines
def test_names_with_a_trailing_newline_are_refused(server, alice, repo) -> None:  # type: ignore[no-untyped-def]
    assert _is_hub_error(alice.json("POST", "/api/repos/create", {"name": "model\n"}), 400)
    assert _is_hub_error(alice.json("POST", "/api/repos/create", {"name": "model", "organization": "alice\n"}), 400)
    assert _is_hub_error(alice.json("POST", f"/api/models/{repo}/tag/main", {"tag": "v1\n"}), 400)
    assert _is_hub_error(alice.request("POST", f"/api/models/{repo}/branch/{quote('dev' + chr(10), safe='')}"), 400)
    assert _is_hub_error(alice.request("GET", f"/api/models/{repo}/revision/{'a' * 40}%0A"), 400)
    assert _is_hub_error(alice.request("GET", f"/api/models/{repo}%0A"), 400)
    refs = alice.request("GET", f"/api/models/{repo}/refs").json()
    assert [b["name"] for b in refs["branches"]] == ["main"] and refs["tags"] == []


def test_a_conflict_echoing_a_name_keeps_the_connection(server, alice, repo) -> None:  # type: ignore[no-untyped-def]
    reply = alice.create_repo(repo)
    assert _is_hub_error(reply, 409) and reply.json()["url"].endswith(repo)


# ---------------------------------------------------------------------------- surrogates, nesting
def _raw_json(client: Client, method: str, path: str, text: str):  # type: ignore[no-untyped-def]
    return client.request(method, path, text.encode(), {"Content-Type": "application/json"})


def test_lone_surrogates_get_400(server, alice, repo) -> None:  # type: ignore[no-untyped-def]
    lone = "\\ud800"  # as a JSON escape: the bytes on the wire are valid UTF-8
    assert _is_hub_error(_raw_json(alice, "POST", f"/api/models/{repo}/tag/main", f'{{"tag": "v{lone}"}}'), 400)
    assert _is_hub_error(_raw_json(alice, "POST", f"/api/models/{repo}/preupload/main",
                                   f'{{"files": [{{"path": "a{lone}.bin", "size": 1, "sample": ""}}]}}'), 400)
    header = f'{{"key": "header", "value": {{"summary": "bad {lone}"}}}}\n'
    assert _is_hub_error(alice.request("POST", f"/api/models/{repo}/commit/main", header.encode(),
                                       {"Content-Type": "application/x-ndjson"}), 400)
    line = json.dumps(file_line("x.txt", b"x")).replace("x.txt", f"x{lone}.txt")
    body = '{"key": "header", "value": {"summary": "ok"}}\n' + line + "\n"
    assert _is_hub_error(alice.request("POST", f"/api/models/{repo}/commit/main", body.encode(),
                                       {"Content-Type": "application/x-ndjson"}), 400)
    assert _is_hub_error(_raw_json(alice, "POST", "/api/validate-yaml", f'{{"content": "---\\\\na: {lone}\\\\n---\\\\n"}}'),
                         400)
    card = '---\na: "\\ud800"\n---\n'  # the surrogate as a YAML escape inside a valid JSON string
    assert _is_hub_error(alice.json("POST", "/api/validate-yaml", {"content": card}), 400)
    assert alice.request("GET", f"/api/models/{repo}").status == 200


def test_deeply_nested_json_gets_400(server, alice, repo) -> None:  # type: ignore[no-untyped-def]
    deep = "[" * 100_000 + "]" * 100_000
    assert _is_hub_error(_raw_json(alice, "POST", "/api/repos/create", deep), 400)
    body = '{"key": "header", "value": {"summary": "x", "deep": ' + deep + "}}\n"
    assert _is_hub_error(alice.request("POST", f"/api/models/{repo}/commit/main", body.encode(),
                                       {"Content-Type": "application/x-ndjson"}), 400)


# ---------------------------------------------------------------------------- .git anywhere
@pytest.mark.parametrize("path", [".GIT/config", "sub/.git/config", "a/.git", ".Git", "x/.git./hooks", "GIT~1/config"])
def test_git_folders_are_refused_at_any_depth_and_case(server, alice, repo, path: str) -> None:  # type: ignore[no-untyped-def]
    assert _is_hub_error(alice.commit(repo, [file_line(path, b"[core]\n")]), 400)
    assert _is_hub_error(alice.json("POST", f"/api/models/{repo}/preupload/main",
                                    {"files": [{"path": path, "size": 7, "sample": ""}]}), 400)


def test_files_named_like_git_files_are_still_fine(server, alice, repo) -> None:  # type: ignore[no-untyped-def]
    assert alice.commit(repo, [file_line(".gitignore", b"*.tmp\n"), file_line("docs/.github/x.md", b"#")]).status == 200


# ---------------------------------------------------------------------------- Content-Disposition
_DISPOSITION = re.compile(r"""attachment; filename="([^"\\]*)"; filename\*=UTF-8''([A-Za-z0-9%!#$&+.^_`|~-]+)""")


@pytest.mark.parametrize("name", ['evil"; filename="run.exe', "naïve résumé.txt", "a;b%20c.bin", "plain.json"])
def test_content_disposition_quotes_the_file_name(server, alice, repo, name: str) -> None:  # type: ignore[no-untyped-def]
    assert alice.commit(repo, [file_line(f"files/{name}", b"data")]).status == 200
    reply = alice.request("GET", f"/{repo}/resolve/main/{quote('files/' + name)}")
    assert reply.status == 200 and reply.body == b"data"
    match = _DISPOSITION.fullmatch(reply.headers["content-disposition"])
    assert match is not None, reply.headers["content-disposition"]
    assert unquote(match.group(2)) == name
    assert match.group(1).isascii() and ";" not in match.group(1)


# ---------------------------------------------------------------------------- case-insensitive ids
def test_repo_ids_are_case_insensitive_and_keep_their_spelling(server, alice) -> None:  # type: ignore[no-untyped-def]
    repo_id = server.new_repo_id("alice").replace("repo", "Model")
    assert alice.create_repo(repo_id).status == 200
    assert _is_hub_error(alice.create_repo(repo_id.lower()), 409)
    assert _is_hub_error(alice.create_repo(repo_id.upper().replace("ALICE", "alice")), 409)
    assert alice.commit(repo_id.lower(), [file_line("config.json", b'{"x": 1}')]).status == 200
    info = alice.request("GET", f"/api/models/{repo_id.upper()}")
    assert info.status == 200 and info.json()["id"] == repo_id
    assert alice.download(repo_id.upper(), "config.json").body == b'{"x": 1}'
    listed = [m["id"] for m in alice.request("GET", "/api/models?author=ALICE&limit=1000").json()]
    assert listed.count(repo_id) == 1 and repo_id.lower() not in listed


def test_namespaces_are_case_insensitive(server, alice) -> None:  # type: ignore[no-untyped-def]
    # A repo under 'ALICE/...' is alice's: stored under her spelling, no second namespace.
    name = server.new_repo_id("x").split("/")[1]
    reply = alice.json("POST", "/api/repos/create", {"name": name, "organization": "ALICE"})
    assert reply.status == 200 and reply.json()["id"] == f"alice/{name}"
    # 'Alice' is not a second user: a token for it is alice's token.
    other = Client(server.url, server.token("Alice"))
    assert other.request("GET", "/api/whoami-v2").json()["name"] == "alice"
    from zoolab.errors import ConflictError
    from zoolab.hub.store import Store

    with pytest.raises(ConflictError):
        Store(server.home).create_org("ALICE")
