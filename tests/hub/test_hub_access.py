"""Access control over HTTP: tokens, organisations, private repos, --require-auth."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError


def status_of(call) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(HfHubHTTPError) as info:
        call()
    return info.value.response.status_code


def test_private_repo_answers_exactly_like_a_missing_one(hub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    owner = hub_server.token("alice")
    repo_id = hub_server.new_repo_id("alice")
    api = HfApi(endpoint=hub_server.url, token=owner)
    api.create_repo(repo_id, private=True)
    api.upload_file(path_or_fileobj=b"secret", path_in_repo="config.json", repo_id=repo_id)
    missing = f"alice/missing-{repo_id.split('/')[1]}"
    assert api.model_info(repo_id).private is True
    assert Path(hf_hub_download(repo_id, "config.json", endpoint=hub_server.url, token=owner)).read_bytes() == b"secret"

    outsider = HfApi(endpoint=hub_server.url, token=hub_server.token("mallory"))
    anonymous = HfApi(endpoint=hub_server.url)
    for client, token in ((outsider, outsider.token), (anonymous, None)):
        with pytest.raises(RepositoryNotFoundError):
            client.model_info(repo_id)
        with pytest.raises(RepositoryNotFoundError):
            list(client.list_repo_tree(repo_id))
        with pytest.raises(RepositoryNotFoundError):
            # a cache of their own: the owner's copy must not answer for the server
            hf_hub_download(repo_id, "config.json", endpoint=hub_server.url, token=token,
                            cache_dir=tmp_path / f"cache-{token is None}")
        assert repo_id not in [m.id for m in client.list_models(author="alice")]
        assert repo_id not in [m.id for m in client.list_models(search=repo_id.split("/")[1])]

    headers = {"Authorization": f"Bearer {outsider.token}"}
    for suffix in ("api/models/{}", "api/models/{}/tree/main", "{}/resolve/main/config.json",
                   "api/models/{}/revision/main", "api/models/{}/refs"):
        hidden = httpx.get(f"{hub_server.url}/{suffix.format(repo_id)}", headers=headers)
        absent = httpx.get(f"{hub_server.url}/{suffix.format(missing)}", headers=headers)
        assert hidden.status_code == absent.status_code == 404, suffix
        assert hidden.headers["x-error-code"] == absent.headers["x-error-code"] == "RepoNotFound"
        assert hidden.json()["error"].replace(repo_id, "X") == absent.json()["error"].replace(missing, "X")


def test_writes_need_a_write_token_in_own_namespace(hub_server) -> None:  # type: ignore[no-untyped-def]
    repo_id = hub_server.new_repo_id("alice")
    assert status_of(lambda: HfApi(endpoint=hub_server.url).create_repo(repo_id)) == 401
    reader = HfApi(endpoint=hub_server.url, token=hub_server.token("alice", write=False))
    assert status_of(lambda: reader.create_repo(repo_id)) == 403
    bob = HfApi(endpoint=hub_server.url, token=hub_server.token("bob"))
    assert status_of(lambda: bob.create_repo(repo_id)) == 403
    alice = HfApi(endpoint=hub_server.url, token=hub_server.token("alice"))
    alice.create_repo(repo_id)
    assert status_of(lambda: bob.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=repo_id)) == 403
    assert status_of(lambda: reader.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=repo_id)) == 403
    assert status_of(lambda: bob.delete_repo(repo_id)) == 403
    assert status_of(lambda: bob.create_branch(repo_id, branch="evil")) == 403
    assert "x" not in alice.list_repo_files(repo_id)
    bad = HfApi(endpoint=hub_server.url, token="zl_not-a-real-token")
    assert status_of(lambda: bad.model_info(repo_id)) == 401
    assert status_of(lambda: bad.whoami()) == 401


def test_org_members_write_to_org_repos(hub_server) -> None:  # type: ignore[no-untyped-def]
    from zoolab.hub.store import Store

    org = f"lab{abs(hash(hub_server.url)) % 10_000}"
    carol = HfApi(endpoint=hub_server.url, token=hub_server.token("carol", orgs=[org]))
    assert org in [o["name"] for o in carol.whoami()["orgs"]]
    repo_id = f"{org}/shared-model"
    carol.create_repo(repo_id, private=True)
    carol.upload_file(path_or_fileobj=b"w", path_in_repo="w.bin", repo_id=repo_id)
    dave_token = hub_server.token("dave", orgs=[org])
    dave = HfApi(endpoint=hub_server.url, token=dave_token)
    assert "w.bin" in dave.list_repo_files(repo_id)  # members see the org's private repos
    outsider = HfApi(endpoint=hub_server.url, token=hub_server.token("erin"))
    with pytest.raises(RepositoryNotFoundError):
        outsider.model_info(repo_id)
    Store(hub_server.home).remove_member(org, "dave")
    with pytest.raises(RepositoryNotFoundError):
        dave.model_info(repo_id)


def test_require_auth_server_refuses_anonymous_reads(make_hub_server) -> None:  # type: ignore[no-untyped-def]
    server = make_hub_server("--require-auth")
    token = server.token("alice")
    repo_id = server.new_repo_id("alice")
    api = HfApi(endpoint=server.url, token=token)
    api.create_repo(repo_id)  # public
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id)
    anonymous = HfApi(endpoint=server.url)
    with pytest.raises(HfHubHTTPError) as info:
        anonymous.model_info(repo_id)
    assert info.value.response.status_code == 401
    assert httpx.get(f"{server.url}/{repo_id}/resolve/main/config.json").status_code == 401
    assert httpx.get(f"{server.url}/api/models").status_code == 401
    reader = server.token("bob", write=False)
    path = hf_hub_download(repo_id, "config.json", endpoint=server.url, token=reader)
    assert Path(path).read_bytes() == b"{}"


def test_tokens_never_reach_the_server_log(make_hub_server) -> None:  # type: ignore[no-untyped-def]
    server = make_hub_server()
    token = server.token("alice")
    api = HfApi(endpoint=server.url, token=token)
    repo_id = server.new_repo_id("alice")
    api.create_repo(repo_id)
    httpx.get(f"{server.url}/api/models/{repo_id}", headers={"Authorization": f"Bearer {token}x"})
    server.stop()
    assert token not in server.log_path.read_text()
    assert token.encode() not in (server.home / "registry" / "db.sqlite").read_bytes()
