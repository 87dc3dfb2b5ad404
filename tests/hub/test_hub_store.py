"""The store used in-process (the local registry): commits, revisions, blobs, search.

Every test taking ``store`` runs against both implementations: the embedded one (SQLite and a
blob folder) and PostgreSQL with blobs in S3 (moto's emulator)."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from scale_support import pg_server, s3_server, store  # noqa: F401 (fixtures: store runs each test on both)

from zoolab.errors import (
    ConflictError,
    EntryNotFoundError,
    IntegrityError,
    InvalidCardError,
    InvalidPathError,
    InvalidRepoIdError,
    InvalidRevisionError,
    PermissionDeniedError,
    RefExistsError,
    RepoExistsError,
    RepoNotFoundError,
    RevisionNotFoundError,
)
from zoolab.hub.store import AddFile, CopyFile, DeleteFile, Store, User

CARD = b"""---
library_name: timm
pipeline_tag: image-classification
license: apache-2.0
tags: [vision, tiny]
datasets: [cifar10]
---
# A tiny classifier
Finds cats in small pictures.
"""


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_store_lives_in_registry_dir_of_home(tmp_path: Path) -> None:
    Store(tmp_path / "h")
    assert (tmp_path / "h" / "registry" / "db.sqlite").is_file()


def test_commit_files_are_readable_with_hashes(store: Store) -> None:
    store.create_repo("alice/tiny")
    weights = bytes(range(256)) * 10
    info = store.commit("alice/tiny", [AddFile("config.json", content=b'{"a": 1}'),
                                       AddFile("model.safetensors", content=weights)], message="add model")
    assert re.fullmatch(r"[0-9a-f]{40}", info.commit_id)
    entries = {e.path: e for e in store.list_files("alice/tiny")}
    assert set(entries) == {".gitattributes", "config.json", "model.safetensors"}
    model = entries["model.safetensors"]
    assert model.sha256 == hashlib.sha256(weights).hexdigest()
    assert model.git_oid == git_oid(weights)
    assert model.lfs and model.etag == model.sha256
    assert not entries["config.json"].lfs and entries["config.json"].etag == git_oid(b'{"a": 1}')
    assert store.blob_path(model.sha256).read_bytes() == weights
    assert store.repo_info("alice/tiny").sha == info.commit_id


def test_revisions_branches_tags_and_history(store: Store) -> None:
    store.create_repo("alice/r")
    first = store.commit("alice/r", [AddFile("a.txt", content=b"one")], message="one").commit_id
    store.create_tag("alice/r", "v1")
    store.create_branch("alice/r", "dev")
    second = store.commit("alice/r", [AddFile("a.txt", content=b"two")], message="two").commit_id
    dev = store.commit("alice/r", [AddFile("b.txt", content=b"dev")], message="dev work", branch="dev").commit_id
    assert store.resolve_revision("alice/r", "v1") == first
    assert store.resolve_revision("alice/r", "main") == second
    assert store.resolve_revision("alice/r", first) == first
    read = lambda rev: store.blob_path(store.file_entry("alice/r", "a.txt", rev).sha256).read_bytes()  # noqa: E731
    assert read("v1") == b"one" and read("main") == b"two" and read(first) == b"one"
    assert [c.commit_id for c in store.list_commits("alice/r")][:2] == [second, first]
    assert [c.message for c in store.list_commits("alice/r", "dev")][:2] == ["dev work", "one"]
    refs = {(r.kind, r.name): r.commit_id for r in store.list_refs("alice/r")}
    assert refs == {("branch", "main"): second, ("branch", "dev"): dev, ("tag", "v1"): first}
    with pytest.raises(RevisionNotFoundError):
        store.resolve_revision("alice/r", "nope")
    with pytest.raises(RefExistsError):
        store.create_tag("alice/r", "v1")
    store.create_tag("alice/r", "v1", exist_ok=True)
    store.delete_tag("alice/r", "v1")
    store.delete_branch("alice/r", "dev")
    assert {r.name for r in store.list_refs("alice/r")} == {"main"}


def test_delete_copy_and_folder_operations(store: Store) -> None:
    store.create_repo("alice/ops")
    store.commit("alice/ops", [AddFile("d/x.txt", content=b"x"), AddFile("d/y.txt", content=b"y"),
                               AddFile("keep.txt", content=b"k")], message="add")
    store.commit("alice/ops", [CopyFile("keep.txt", "copy.txt"), DeleteFile("d", is_folder=True)], message="mv")
    assert [e.path for e in store.list_files("alice/ops")] == [".gitattributes", "copy.txt", "keep.txt"]
    with pytest.raises(EntryNotFoundError):
        store.commit("alice/ops", [DeleteFile("missing.txt")], message="rm")
    with pytest.raises(EntryNotFoundError):
        store.file_entry("alice/ops", "d/x.txt")


def test_failed_commit_changes_nothing(store: Store) -> None:
    store.create_repo("alice/atomic")
    head = store.commit("alice/atomic", [AddFile("a.txt", content=b"a")], message="a").commit_id
    with pytest.raises(EntryNotFoundError):
        # the first operation is fine, the second fails: neither may be visible
        store.commit("alice/atomic", [AddFile("b.txt", content=b"b"), DeleteFile("nope.txt")], message="bad")
    assert store.resolve_revision("alice/atomic") == head
    assert [e.path for e in store.list_files("alice/atomic")] == [".gitattributes", "a.txt"]
    with pytest.raises(ConflictError):
        store.commit("alice/atomic", [AddFile("c.txt", content=b"c")], message="c", parent_commit="0" * 40)
    assert store.resolve_revision("alice/atomic") == head


def test_put_blob_verifies_and_never_publishes_bad_bytes(store: Store) -> None:
    data = b"hello world"
    sha = hashlib.sha256(data).hexdigest()
    assert store.put_blob(io.BytesIO(data), expected_sha256=sha, expected_size=len(data)) == (sha, len(data))
    bad_sha = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(IntegrityError):
        store.put_blob(data + b"!", expected_sha256=bad_sha)
    with pytest.raises(IntegrityError):
        store.put_blob(data, expected_size=3)
    assert not store.blob_path(bad_sha).exists()
    assert list(store.blobs.tmp_dir.iterdir()) == []  # temp files cleaned up


def test_card_metadata_tags_and_search(store: Store) -> None:
    store.create_repo("alice/cat-finder")
    store.commit("alice/cat-finder", [AddFile("README.md", content=CARD)], message="card")
    store.create_repo("bob/bert-small")
    info = store.repo_info("alice/cat-finder")
    assert info.library_name == "timm" and info.pipeline_tag == "image-classification"
    assert {"vision", "tiny", "timm", "image-classification", "license:apache-2.0", "dataset:cifar10"} <= set(info.tags)
    assert info.card_data["license"] == "apache-2.0"
    ids = lambda **kw: [r.repo_id for r in store.list_repos(**kw)]  # noqa: E731
    assert ids(search="cat") == ["alice/cat-finder"]
    assert ids(search="vision") == ["alice/cat-finder"]  # full-text over tags
    assert ids(search="small pictures") == ["alice/cat-finder"]  # ... and over the card's prose
    assert ids(search="bert") == ["bob/bert-small"]
    assert ids(author="bob") == ["bob/bert-small"]
    assert ids(tags=["timm", "vision"]) == ["alice/cat-finder"]
    assert ids(search='"; DROP TABLE repos; --') == []
    store.record_download("bob/bert-small")
    assert ids(sort="downloads")[0] == "bob/bert-small"
    assert ids(sort="updated")[0] == "bob/bert-small"
    assert len(ids(limit=1)) == 1


def test_invalid_card_yaml_is_refused(store: Store) -> None:
    store.create_repo("alice/card")
    with pytest.raises(InvalidCardError):
        store.commit("alice/card", [AddFile("README.md", content=b"---\ntags: [unclosed\n---\n")], message="x")


def test_private_repos_are_invisible_to_others(store: Store) -> None:
    store.create_repo("alice/secret", private=True)
    store.create_org("lab")
    store.add_member("lab", "carol")
    store.create_repo("lab/shared", private=True)
    alice, bob = User("alice", can_write=True), User("bob", can_write=True)
    carol = User("carol", orgs=("lab",), can_write=True)
    assert store.repo_info("alice/secret", viewer=alice).private
    for viewer in (None, bob):
        with pytest.raises(RepoNotFoundError) as hidden:
            store.repo_info("alice/secret", viewer=viewer)
        with pytest.raises(RepoNotFoundError) as missing:
            store.repo_info("alice/nothing", viewer=viewer)
        assert str(hidden.value).replace("secret", "X") == str(missing.value).replace("nothing", "X")
        assert "alice/secret" not in [r.repo_id for r in store.list_repos(viewer=viewer)]
    assert store.repo_info("lab/shared", viewer=carol).private
    assert [r.repo_id for r in store.list_repos(search="shared", viewer=carol)] == ["lab/shared"]


def test_actor_may_write_only_to_own_namespace_or_orgs(store: Store) -> None:
    store.create_org("lab")
    store.create_repo("bob/x", actor=User("bob", can_write=True))
    with pytest.raises(PermissionDeniedError):
        store.create_repo("lab/x", actor=User("bob", can_write=True))
    with pytest.raises(PermissionDeniedError):
        store.create_repo("bob/y", actor=User("bob", can_write=False))
    store.create_repo("lab/x", actor=User("carol", orgs=("lab",), can_write=True))
    with pytest.raises(PermissionDeniedError):
        store.commit("bob/x", [AddFile("a", content=b"a")], message="m", actor=User("carol", can_write=True))
    with pytest.raises(RepoExistsError):
        store.create_repo("bob/x")


def test_tokens_are_stored_hashed(store: Store, tmp_path: Path) -> None:
    token = store.create_token("alice", write=True)
    store.create_org("lab")
    store.add_member("lab", "alice")
    user = store.authenticate(token)
    assert user == User("alice", orgs=("lab",), can_write=True)
    assert store.authenticate(token + "x") is None
    assert store.authenticate(store.create_token("bob")).can_write is False  # type: ignore[union-attr]
    if store.location.database is None:
        assert token.encode() not in (store.root / "db.sqlite").read_bytes()
    else:
        rows = store.db.conn().execute("SELECT * FROM tokens").fetchall()
        assert rows and not any(token in str(value) for row in rows for value in row)
    store.remove_member("lab", "alice")
    assert store.authenticate(token).orgs == ()  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["../etc/passwd", "/abs", "a\\..\\..\\b", "C:\\b", "a\\.git\\config", "a\0b", "a//b", "a/./b", "", ".git/config"])
def test_unsafe_paths_are_refused(store: Store, path: str) -> None:
    store.create_repo("alice/paths")
    with pytest.raises(InvalidPathError):
        store.commit("alice/paths", [AddFile(path, content=b"x")], message="m")
    assert [e.path for e in store.list_files("alice/paths")] == [".gitattributes"]


@pytest.mark.parametrize("repo_id", ["noslash", "a/b/c", "-a/b", "a/b..c", "a/" + "x" * 200, "a b/c", ""])
def test_invalid_repo_ids_are_refused(store: Store, repo_id: str) -> None:
    with pytest.raises(InvalidRepoIdError):
        store.create_repo(repo_id)


@pytest.mark.parametrize("name", ["a..b", "a b", "-x", "x.lock", "a~1", "refs^", "a:b", "0" * 40])
def test_invalid_branch_names_are_refused(store: Store, name: str) -> None:
    store.create_repo("alice/br")
    with pytest.raises(InvalidRevisionError):
        store.create_branch("alice/br", name)


def test_verify_finds_corruption_and_gc_removes_unreferenced(store: Store) -> None:
    store.create_repo("alice/m")
    store.commit("alice/m", [AddFile("w.bin", content=b"\0" * 1000)], message="w")
    orphan_sha, _ = store.put_blob(b"nobody references me")
    assert store.verify() == []
    assert store.gc(grace_s=3600) == (0, 0)  # young orphans survive (an upload may be in flight)
    removed, freed = store.gc(grace_s=0)
    assert (removed, freed) == (1, len(b"nobody references me"))
    assert not store.has_blob(orphan_sha)
    sha = store.file_entry("alice/m", "w.bin").sha256
    overwrite_blob(store, sha, b"\1" * 1000)  # bit rot
    problems = store.verify()
    assert len(problems) == 1 and sha in problems[0]
    store.blobs.delete(sha)
    assert any("missing" in p for p in store.verify())


def overwrite_blob(store: Store, sha: str, data: bytes) -> None:
    """Change a stored blob's bytes behind the store's back (the damage verify must find)."""
    if store.location.blobs is None:
        store.blob_path(sha).chmod(0o644)  # blobs are stored read-only
        store.blob_path(sha).write_bytes(data)
    else:
        store.blobs.client.put_object(Bucket=store.blobs.bucket, Key=store.blobs.key(sha), Body=data)


def test_delete_repo_then_gc_frees_its_blobs(store: Store) -> None:
    store.create_repo("alice/gone")
    store.commit("alice/gone", [AddFile("w.bin", content=b"\0" * 5000)], message="w")
    store.delete_repo("alice/gone")
    with pytest.raises(RepoNotFoundError):
        store.repo_info("alice/gone")
    removed, freed = store.gc(grace_s=0)
    assert freed >= 5000
    store.create_repo("alice/gone")  # the id is free again


def test_reusing_an_old_unreferenced_blob_protects_it_from_gc(store: Store) -> None:
    import os
    import time

    sha, _ = store.put_blob(b"uploaded long ago, never committed")
    old = time.time() - 7200
    os.utime(store.blob_path(sha), (old, old))
    store.put_blob(b"uploaded long ago, never committed")  # the same bytes again: about to be committed
    assert store.gc(grace_s=3600) == (0, 0)
    store.create_repo("alice/reuse")
    store.commit("alice/reuse", [AddFile("a.txt", sha256=sha)], message="use it")
    assert store.verify() == []
