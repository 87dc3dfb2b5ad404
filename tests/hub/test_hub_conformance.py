"""Answers where huggingface_hub's own tests found the server differing from the Hub (issue 10 §3),
each checked through the stock client against a live server."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hub_server_support import HubServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = HubServer(tmp_path_factory.mktemp("conformance") / "home")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def api(server: HubServer):  # type: ignore[no-untyped-def]
    from huggingface_hub import HfApi

    return HfApi(endpoint=server.url, token=server.token("alice"))


@pytest.fixture
def repo(server: HubServer, api) -> str:  # type: ignore[no-untyped-def]
    repo_id = server.new_repo_id("alice")
    api.create_repo(repo_id)
    return repo_id


def test_missing_and_namespace_less_repos_answer_repo_not_found(api, repo: str) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from huggingface_hub.errors import RepositoryNotFoundError

    assert not api.repo_exists("no-namespace")
    assert not api.file_exists("no-namespace", "config.json")
    assert not api.repo_exists("alice/never-created")
    assert api.repo_exists(repo)
    with pytest.raises(RepositoryNotFoundError) as caught:
        api.model_info("alice/never-created")
    assert caught.value.response.headers["X-Request-Id"]  # every answer carries a request id
    assert "Request ID:" in str(caught.value)
    reply = httpx.get(f"{api.endpoint}/api/models/{repo}", headers={"X-Request-Id": "trace-42"})
    assert reply.headers["x-request-id"] == "trace-42"


def test_expand_gives_last_commits_and_only_asked_fields(server: HubServer, api, repo: str) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import HfFileSystem

    first = api.upload_file(repo_id=repo, path_in_repo="data/a.txt", path_or_fileobj=b"a")
    second = api.upload_file(repo_id=repo, path_in_repo="b.txt", path_or_fileobj=b"b")
    infos = {i.path: i for i in api.get_paths_info(repo, ["data/a.txt", "b.txt", "data"], expand=True)}
    assert infos["data/a.txt"].last_commit.oid == first.oid
    assert infos["b.txt"].last_commit.oid == second.oid
    assert infos["data"].last_commit.oid == first.oid
    assert infos["b.txt"].last_commit.title == "Upload b.txt with huggingface_hub"
    tree = {i.path: i for i in api.list_repo_tree(repo, expand=True)}
    assert tree["data"].last_commit.oid == first.oid and tree["b.txt"].last_commit.oid == second.oid
    fs = HfFileSystem(endpoint=server.url, token=api.token, skip_instance_cache=True)
    assert fs.modified(f"{repo}/b.txt") == infos["b.txt"].last_commit.date
    info = api.model_info(repo, expand=["author", "downloads"])
    assert info.author == "alice" and info.downloads == 0
    assert info.sha is None and info.siblings is None and info.tags is None


def test_gated_setting_is_stored_filtered_and_enforced(server: HubServer, api, repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import GatedRepoError

    api.upload_file(repo_id=repo, path_in_repo="config.json", path_or_fileobj=b"{}")
    api.update_repo_settings(repo, gated="manual")
    assert api.model_info(repo).gated == "manual"
    assert repo in {m.id for m in api.list_models(gated=True)}
    assert repo not in {m.id for m in api.list_models(gated=False)}
    bob = HfApi(endpoint=server.url, token=server.token("bob"))
    assert bob.model_info(repo).gated == "manual"  # metadata stays public
    with pytest.raises(GatedRepoError, match="is restricted and you are not in the authorized list"):
        hf_hub_download(repo, "config.json", endpoint=server.url, token=bob.token, cache_dir=tmp_path)
    with pytest.raises(GatedRepoError):
        bob.auth_check(repo)
    api.auth_check(repo)  # the owner reads it
    assert Path(hf_hub_download(repo, "config.json", endpoint=server.url, token=api.token,
                                cache_dir=tmp_path)).read_bytes() == b"{}"
    api.update_repo_settings(repo, gated=False)
    assert api.model_info(repo).gated is False
    bob.auth_check(repo)


def test_card_validation_like_the_hub(api, repo: str) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import CommitOperationAdd

    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        api.create_commit(repo, commit_message="bad card", operations=[
            CommitOperationAdd("README.md", b"\n---\nmodel-index: foo\n---\n\ncard"),
        ])
    assert "README.md" not in api.list_repo_files(repo)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api.create_commit(repo, commit_message="plain card", operations=[CommitOperationAdd("README.md", b"# hi")])
    assert any("Warnings while validating metadata in README.md" in str(w.message) for w in caught)


def test_preupload_honours_the_repo_gitignore(api, repo: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api.upload_file(repo_id=repo, path_in_repo=".gitignore", path_or_fileobj=b"nested/*\n*.log\n!keep.log\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "file.bin").write_bytes(b"x")
    for name in ("run.log", "keep.log", "model.txt"):
        (tmp_path / name).write_bytes(b"y")
    api.upload_folder(folder_path=tmp_path, repo_id=repo)
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", ".gitignore", "keep.log", "model.txt"]


def test_commits_refs_and_paths_as_on_the_hub(api, repo: str) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

    parent = api.model_info(repo).sha
    api.upload_file(repo_id=repo, path_in_repo="folder/x.txt", path_or_fileobj=b"x")
    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit(repo, commit_message="late", parent_commit=parent,
                          operations=[CommitOperationAdd("y.txt", b"y")])
    assert stale.value.response.status_code == 412
    assert "The branch was updated since you opened this page" in str(stale.value)
    # a folder named without '/' is deleted whole; an empty file is not an LFS file
    api.create_commit(repo, commit_message="tidy", operations=[CommitOperationDelete("folder"),
                                                               CommitOperationAdd("empty.bin", b"")])
    info = api.model_info(repo, files_metadata=True)
    assert {s.rfilename: s.lfs for s in info.siblings} == {".gitattributes": None, "empty.bin": None}
    # branches and tags are apart; tags take short commit ids; a missing revision is RevisionNotFound
    api.create_tag(repo, tag="v1", revision=info.sha[:7])
    api.create_branch(repo, branch="v1")
    refs = api.list_repo_refs(repo)
    assert [b.name for b in refs.branches if b.name == "v1"] == ["v1"] and [t.name for t in refs.tags] == ["v1"]
    assert refs.tags[0].target_commit == info.sha
    with pytest.raises(HfHubHTTPError, match="Reference refs/heads/v1 already exists"):
        api.create_branch(repo, branch="v1")
    with pytest.raises(HfHubHTTPError, match="Cannot delete refs/heads/main"):
        api.delete_branch(repo, branch="main")
    with pytest.raises(HfHubHTTPError, match="Invalid rev id"):
        api.delete_branch(repo, branch="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo, tag="bad tag", revision="no-such-revision")
    # a backslash is a plain character; a path leaving the repo on Windows gets the Hub's 422
    api.upload_file(repo_id=repo, path_in_repo="odd\\name.txt", path_or_fileobj=b"odd")
    assert Path(hf_hub_download(repo, "odd\\name.txt", endpoint=api.endpoint, token=api.token)).read_bytes() == b"odd"
    with pytest.raises(HfHubHTTPError) as traversal:
        api.upload_file(repo_id=repo, path_in_repo="..\\evil.txt", path_or_fileobj=b"evil")
    assert traversal.value.response.status_code == 422
    assert "..\\evil.txt" not in api.list_repo_files(repo)


def test_move_squash_and_lfs_file_endpoints(api, repo: str) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    api.upload_file(repo_id=repo, path_in_repo="weights.bin", path_or_fileobj=b"old weights")
    api.upload_file(repo_id=repo, path_in_repo="weights.bin", path_or_fileobj=b"new weights")
    api.upload_file(repo_id=repo, path_in_repo="notes.txt", path_or_fileobj=b"notes")
    moved = repo + "-renamed"
    api.move_repo(repo, moved)
    assert api.model_info(moved).id == moved
    assert api.model_info(repo).id == moved  # the old id still leads to it
    other = api.create_repo(repo + "-other").repo_id
    with pytest.raises(HfHubHTTPError, match="A model repository called .* already exists"):
        api.move_repo(moved, other)
    lfs = {f.filename: f for f in api.list_lfs_files(moved)}
    assert sorted(lfs) == ["weights.bin"] and len(list(api.list_lfs_files(moved))) == 2  # both versions
    api.super_squash_history(moved)
    commits = api.list_repo_commits(moved)
    assert [c.title for c in commits] == ["Super-squash branch 'main' using huggingface_hub"]
    assert sorted(api.list_repo_files(moved)) == [".gitattributes", "notes.txt", "weights.bin"]
    api.permanently_delete_lfs_files(moved, list(api.list_lfs_files(moved)))
    assert list(api.list_lfs_files(moved)) == []
    assert sorted(api.list_repo_files(moved)) == [".gitattributes", "notes.txt"]
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(moved, "weights.bin", endpoint=api.endpoint, token=api.token)


def test_discussions_and_pull_requests_get_a_clear_refusal(api, repo: str) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError, match="pull requests are not supported"):
        api.upload_file(repo_id=repo, path_in_repo="x.txt", path_or_fileobj=b"x", create_pr=True)
    with pytest.raises(HfHubHTTPError, match="discussions and pull requests are not supported"):
        list(api.get_repo_discussions(repo))
