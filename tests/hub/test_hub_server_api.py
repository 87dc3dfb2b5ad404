"""Stock huggingface_hub against a real `zoolab hub serve` process: reads, downloads, refs, errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

CARD = "---\nlibrary_name: timm\npipeline_tag: image-classification\ntags: [vision]\n---\n# tiny\n"


@pytest.fixture
def published(hub_server, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A repo with a card, a config, weights and a sub-folder; returns (api, repo_id, files, token)."""
    token = hub_server.token("alice")
    api = HfApi(endpoint=hub_server.url, token=token)
    repo_id = hub_server.new_repo_id("alice")
    api.create_repo(repo_id)
    files = {
        "README.md": CARD.encode(),
        "config.json": b'{"architecture": "resnet18", "num_classes": 3}',
        "model.safetensors": os.urandom(300_000),
        "extra/notes.txt": b"hello\n",
        "extra/deep/data.bin": os.urandom(1000),
    }
    folder = tmp_path / "upload"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="first weights")
    return api, repo_id, files, token


def test_download_returns_uploaded_bytes_at_branch_tag_and_commit(hub_server, published) -> None:  # type: ignore[no-untyped-def]
    api, repo_id, files, token = published
    first_commit = api.model_info(repo_id).sha
    api.create_tag(repo_id, tag="v1.0")
    api.upload_file(path_or_fileobj=b"new weights", path_in_repo="model.safetensors", repo_id=repo_id)
    api.create_branch(repo_id, branch="feature/old", revision=first_commit)

    def fetch(revision: str | None) -> bytes:
        path = hf_hub_download(repo_id, "model.safetensors", revision=revision, endpoint=hub_server.url, token=token)
        return Path(path).read_bytes()

    assert fetch(None) == b"new weights"
    assert fetch("main") == b"new weights"
    assert fetch("v1.0") == files["model.safetensors"]
    assert fetch(first_commit) == files["model.safetensors"]
    assert fetch("feature/old") == files["model.safetensors"]  # a branch name with a slash


def test_head_and_ranged_get(hub_server, published) -> None:  # type: ignore[no-untyped-def]
    api, repo_id, files, _ = published
    data = files["model.safetensors"]
    url = f"{hub_server.url}/{repo_id}/resolve/main/model.safetensors"
    head = httpx.head(url)
    assert head.status_code == 200
    assert head.headers["x-repo-commit"] == api.model_info(repo_id).sha
    assert int(head.headers["content-length"]) == len(data) == int(head.headers["x-linked-size"])
    assert head.headers["etag"].strip('"') == hashlib.sha256(data).hexdigest()
    part = httpx.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.content == data[100:1100]
    tail = httpx.get(url, headers={"Range": "bytes=299990-"})
    assert tail.status_code == 206 and tail.content == data[299990:]
    # Ranges the file cannot satisfy get the Hub's error form, not a bare status.
    outside = httpx.get(url, headers={"Range": f"bytes={len(data) + 1}-{len(data) + 9}"})
    assert outside.status_code == 416 and outside.headers["content-range"] == f"bytes */{len(data)}"
    assert "outside the file" in outside.headers["x-error-message"] and "outside the file" in outside.json()["error"]
    backwards = httpx.get(url, headers={"Range": "bytes=9-2"})
    assert backwards.status_code == 400 and backwards.headers["x-error-code"] == "InvalidRange"
    assert "bytes=9-2" in backwards.json()["error"]
    config = files["config.json"]
    small = httpx.head(f"{hub_server.url}/{repo_id}/resolve/main/config.json")
    git_oid = hashlib.sha1(b"blob %d\0" % len(config) + config).hexdigest()
    assert small.headers["etag"].strip('"') == git_oid  # regular files: the git blob id, as on the Hub


def test_snapshot_download_with_patterns(hub_server, published) -> None:  # type: ignore[no-untyped-def]
    _, repo_id, files, token = published
    folder = Path(snapshot_download(repo_id, endpoint=hub_server.url, token=token, allow_patterns=["*.json", "extra/*"],
                                    ignore_patterns=["*.bin"]))
    got = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert got == ["config.json", "extra/notes.txt"]
    full = Path(snapshot_download(repo_id, endpoint=hub_server.url, token=token))
    for name, data in files.items():
        assert (full / name).read_bytes() == data


def test_model_info_tree_refs_commits(hub_server, published) -> None:  # type: ignore[no-untyped-def]
    api, repo_id, files, _ = published
    info = api.model_info(repo_id, files_metadata=True)
    assert info.id == repo_id and info.author == "alice" and not info.private
    assert info.library_name == "timm" and info.pipeline_tag == "image-classification"
    assert "vision" in info.tags and info.card_data.library_name == "timm"
    sizes = {s.rfilename: s.size for s in info.siblings}
    assert sizes["model.safetensors"] == len(files["model.safetensors"])
    assert sorted(api.list_repo_files(repo_id)) == sorted([".gitattributes", *files])
    top = {item.path: type(item).__name__ for item in api.list_repo_tree(repo_id)}
    assert top["extra"] == "RepoFolder" and "extra/notes.txt" not in top
    deep = {item.path for item in api.list_repo_tree(repo_id, path_in_repo="extra", recursive=True)}
    assert deep == {"extra/notes.txt", "extra/deep", "extra/deep/data.bin"}
    lfs = {i.path: i.lfs for i in api.list_repo_tree(repo_id, recursive=True) if hasattr(i, "lfs")}
    assert lfs["model.safetensors"] is not None and lfs["config.json"] is None
    api.create_branch(repo_id, branch="dev")
    api.create_tag(repo_id, tag="v2", tag_message="release")
    refs = api.list_repo_refs(repo_id)
    assert {b.name for b in refs.branches} == {"main", "dev"} and [t.name for t in refs.tags] == ["v2"]
    commits = api.list_repo_commits(repo_id)
    assert [c.title for c in commits] == ["first weights", "initial commit"]
    assert commits[0].commit_id == info.sha


def test_list_models_search_author_filter_sort_limit(hub_server, published) -> None:  # type: ignore[no-untyped-def]
    api, repo_id, _, _ = published
    other = hub_server.new_repo_id("bob")
    HfApi(endpoint=hub_server.url, token=hub_server.token("bob")).create_repo(other)
    name = repo_id.split("/")[1]
    assert repo_id in [m.id for m in api.list_models(search=name)]
    assert other not in [m.id for m in api.list_models(search=name)]
    assert repo_id not in [m.id for m in api.list_models(author="bob")]
    assert other in [m.id for m in api.list_models(author="bob")]
    assert repo_id in [m.id for m in api.list_models(filter="vision")]
    assert other not in [m.id for m in api.list_models(filter="vision")]
    assert len(list(api.list_models(limit=1))) == 1
    newest = list(api.list_models(sort="created_at", limit=1))[0]
    assert newest.id == other


def test_stock_client_raises_typed_errors(hub_server, published) -> None:  # type: ignore[no-untyped-def]
    api, repo_id, _, token = published
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/does-not-exist")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.txt", endpoint=hub_server.url, token=token)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "config.json", revision="nope", endpoint=hub_server.url, token=token)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/does-not-exist", "config.json", endpoint=hub_server.url, token=token)
    with pytest.raises(HfHubHTTPError) as exists:
        api.create_repo(repo_id)
    assert exists.value.response.status_code == 409
    api.create_repo(repo_id, exist_ok=True)
    raw = httpx.get(f"{hub_server.url}/{repo_id}/resolve/main/missing.txt")
    assert raw.status_code == 404 and raw.headers["x-error-code"] == "EntryNotFound"
    assert raw.headers["x-repo-commit"] == api.model_info(repo_id).sha  # lets clients cache the miss
    assert "error" in raw.json()


def test_write_operations(hub_server, published) -> None:  # type: ignore[no-untyped-def]
    api, repo_id, _, _ = published
    assert api.whoami()["name"] == "alice"
    api.delete_file("extra/notes.txt", repo_id=repo_id)
    assert "extra/notes.txt" not in api.list_repo_files(repo_id)
    api.create_branch(repo_id, branch="exp")
    api.upload_file(path_or_fileobj=b"on a branch", path_in_repo="branch.txt", repo_id=repo_id, revision="exp")
    assert "branch.txt" in api.list_repo_files(repo_id, revision="exp")
    assert "branch.txt" not in api.list_repo_files(repo_id)
    api.delete_repo(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id)
    api.delete_repo(repo_id, missing_ok=True)


def test_paths_info_folders_settings_and_ref_deletion(hub_server, published) -> None:  # type: ignore[no-untyped-def]
    api, repo_id, files, _ = published
    infos = {i.path: i for i in api.get_paths_info(repo_id, ["config.json", "extra", "nope.txt"])}
    assert set(infos) == {"config.json", "extra"}
    assert infos["config.json"].size == len(files["config.json"])
    api.delete_folder("extra", repo_id=repo_id)
    assert not [f for f in api.list_repo_files(repo_id) if f.startswith("extra/")]
    api.create_branch(repo_id, branch="tmp")
    api.create_tag(repo_id, tag="t1")
    api.delete_branch(repo_id, branch="tmp")
    api.delete_tag(repo_id, tag="t1")
    refs = api.list_repo_refs(repo_id)
    assert [b.name for b in refs.branches] == ["main"] and refs.tags == []
    api.update_repo_settings(repo_id, private=True)
    assert api.model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub_server.url).model_info(repo_id)


def test_copy_operations_in_a_commit(hub_server, published) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import CommitOperationCopy

    api, repo_id, files, token = published
    api.create_commit(repo_id, operations=[CommitOperationCopy("model.safetensors", "backup/model.safetensors"),
                                           CommitOperationCopy("config.json", "backup/config.json")],
                      commit_message="backup")
    for name in ("model.safetensors", "config.json"):
        path = hf_hub_download(repo_id, f"backup/{name}", endpoint=hub_server.url, token=token)
        assert Path(path).read_bytes() == files[name]


def test_tree_listing_follows_pages(hub_server) -> None:  # type: ignore[no-untyped-def]
    from zoolab.hub.store import AddFile, Store

    repo_id = hub_server.new_repo_id("alice")
    store = Store(hub_server.home)  # the same store the server uses, written in-process
    store.create_repo(repo_id)
    store.commit(repo_id, [AddFile(f"shards/{i:04d}.txt", content=b"x") for i in range(1100)], message="many")
    listed = [item.path for item in HfApi(endpoint=hub_server.url).list_repo_tree(repo_id, recursive=True)]
    assert len(listed) == 1 + 1 + 1100  # .gitattributes, the folder, the files: more than one page of 1000
    assert len(set(listed)) == len(listed)
