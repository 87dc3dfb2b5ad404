"""The scale-out store: migrating an embedded store to PostgreSQL + S3 (moto's emulator), the
maintenance commands on it, its configuration file and its errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from scale_support import PostgresServer, S3Emulator, pg_server, s3_server, store  # noqa: F401 (fixtures)
from typer.testing import CliRunner

from zoolab.cli.main import app
from zoolab.hub.store import AddFile, Store
from zoolab.hub.store.backends import StoreLocation

runner = CliRunner()
CARD = b"---\nlibrary_name: timm\ntags: [vision]\n---\n# Finds cats\n"


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def embedded_store(home: Path) -> tuple[Store, str]:
    """An embedded store with a bit of everything; returns it and a write token."""
    store = Store(home)
    token = store.create_token("alice", write=True)
    store.create_org("lab")
    store.add_member("lab", "alice")
    store.create_repo("alice/cats")
    store.commit("alice/cats", [AddFile("README.md", content=CARD), AddFile("w.bin", content=b"\0\1" * 40_000)],
                 message="weights")
    store.commit("alice/cats", [AddFile("config.json", content=b"{}")], message="config")
    store.create_tag("alice/cats", "v1")
    store.create_repo("lab/private", private=True)
    store.for_type("dataset").create_repo("alice/cats")  # the same id as a dataset
    return store, token


def test_migrate_copies_everything_and_verifies_blobs_with_s3emulator(
        tmp_path: Path, pg_server: PostgresServer, s3_server: S3Emulator) -> None:  # noqa: F811
    source, token = embedded_store(tmp_path / "home")
    db, bucket = pg_server.new_database(), s3_server.new_bucket()
    result = invoke("hub", "migrate", "--home", str(tmp_path / "home"), "--to", db, "--blobs", f"s3://{bucket}/hub",
                    "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["blobs"] == 4 and report["rows"]["commits"] == 5 and report["rows"]["tokens"] == 1
    target = Store(tmp_path / "other", location=StoreLocation(db, f"s3://{bucket}/hub"))
    alice = target.authenticate(token)
    assert alice is not None and alice.orgs == ("lab",) and alice.can_write
    history = [c.commit_id for c in source.list_commits("alice/cats")]
    assert [c.commit_id for c in target.list_commits("alice/cats")] == history
    assert target.list_files("alice/cats", "v1") == source.list_files("alice/cats", "v1")
    assert [r.repo_id for r in target.list_repos(search="cats")] == ["alice/cats"]  # the card is indexed
    assert [r.repo_id for r in target.list_repos(viewer=alice)] == ["alice/cats", "lab/private"]
    assert target.for_type("dataset").repo_info("alice/cats").repo_type == "dataset"
    weights = target.file_entry("alice/cats", "w.bin")
    assert target.blob_path(weights.sha256).read_bytes() == b"\0\1" * 40_000
    assert target.verify() == []
    new = target.create_repo("alice/after")  # the repo ids' sequence continues after the copied ones
    assert new.repo_id == "alice/after"
    again = invoke("hub", "migrate", "--home", str(tmp_path / "home"), "--to", db, "--blobs", f"s3://{bucket}/hub")
    assert again.exit_code == 1 and "holds repositories already" in again.output


def test_migrate_refuses_a_corrupted_source_blob_and_leaves_no_metadata_with_s3emulator(
        tmp_path: Path, pg_server: PostgresServer, s3_server: S3Emulator) -> None:  # noqa: F811
    source, _ = embedded_store(tmp_path / "home")
    sha = source.file_entry("alice/cats", "w.bin").sha256
    source.blob_path(sha).chmod(0o644)
    source.blob_path(sha).write_bytes(b"rot" * 10)
    db, bucket = pg_server.new_database(), s3_server.new_bucket()
    result = invoke("hub", "migrate", "--home", str(tmp_path / "home"), "--to", db, "--blobs", f"s3://{bucket}")
    assert result.exit_code == 2 and "Traceback" not in result.output  # IntegrityError's exit status
    assert "does not match" in result.output
    target = Store(tmp_path / "other", location=StoreLocation(db, f"s3://{bucket}"))
    assert target.list_repos() == []
    assert not target.blobs.exists(sha)  # nothing unverified was stored under the blob's name


def test_verify_and_gc_commands_on_postgresql_and_s3emulator_via_config_file(
        tmp_path: Path, pg_server: PostgresServer, s3_server: S3Emulator) -> None:  # noqa: F811
    db, bucket = pg_server.new_database(), s3_server.new_bucket()
    config = tmp_path / "hub-server.toml"
    config.write_text(f'[store]\ndatabase = "{db}"\nblobs = "s3://{bucket}/p"\n'
                      f's3_endpoint_url = "{s3_server.endpoint}"\n')
    store = Store(tmp_path / "home", location=StoreLocation(db, f"s3://{bucket}/p"))
    store.create_repo("alice/m")
    store.commit("alice/m", [AddFile("a.bin", content=b"\0" * 3000)], message="a")
    orphan, _ = store.put_blob(b"referenced by nothing")
    home = ["--home", str(tmp_path / "elsewhere"), "--config", str(config)]
    ok = invoke("hub", "verify", *home, "--json")
    assert ok.exit_code == 0 and json.loads(ok.output) == {"ok": True, "problems": []}
    gc = invoke("hub", "gc", *home, "--grace-minutes", "0", "--json")
    assert gc.exit_code == 0 and json.loads(gc.output) == {"blobs_removed": 1, "bytes_freed": 21}
    assert not store.blobs.exists(orphan)
    sha = store.file_entry("alice/m", "a.bin").sha256
    s3_server.client().put_object(Bucket=bucket, Key=f"p/{sha[:2]}/{sha}", Body=b"\1" * 3000)  # bit rot
    bad = invoke("hub", "verify", *home, "--json")
    assert bad.exit_code == 1 and sha in json.loads(bad.output)["problems"][0]
    tokens = invoke("hub", "token", "create", "--user", "bob", *home)
    assert tokens.exit_code == 0 and store.authenticate(tokens.output.strip()).name == "bob"  # type: ignore[union-attr]


def test_bad_store_settings_get_one_clear_line(tmp_path: Path, pg_server: PostgresServer) -> None:  # noqa: F811
    home = ["--home", str(tmp_path / "h")]
    cases = [
        (["--database", "mysql://x/y"], "unsupported database URL"),
        (["--database", "postgresql://zoolab@127.0.0.1:1/none"], "cannot connect to the PostgreSQL database"),
        (["--blobs", "s3:/nobucket"], "invalid blob store URL"),
        (["--database", pg_server.url(), "--blobs", "s3://no-such-bucket-here"], "cannot use bucket"),
    ]
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text('[store]\ndatabase = "postgresql://x/y"\nbucket = "s3://b"\n')
    cases.append((["--config", str(bad_config)], "unknown [store] key(s) bucket"))
    for args, message in cases:
        result = invoke("hub", "verify", *home, *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, (args, result.output)


def test_uploads_are_verified_before_the_bucket_names_them_with_s3emulator(
        tmp_path: Path, pg_server: PostgresServer, s3_server: S3Emulator) -> None:  # noqa: F811
    from zoolab.errors import IntegrityError

    bucket = s3_server.new_bucket()
    store = Store(tmp_path / "home", location=StoreLocation(pg_server.new_database(), f"s3://{bucket}"))
    data = b"model bytes" * 1000
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(IntegrityError):
        store.put_blob(data, expected_sha256=wrong)
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    sha, size = store.put_blob(data, expected_sha256=hashlib.sha256(data).hexdigest())
    assert size == len(data) and store.has_blob(sha)
    head = s3_server.client().head_object(Bucket=bucket, Key=f"{sha[:2]}/{sha}", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    assert list((tmp_path / "home" / "registry" / "tmp").iterdir()) == []  # no temp file left behind


def test_moves_squashes_lfs_listing_and_last_commits_on_both_stores(store: Store) -> None:  # noqa: F811
    from zoolab.hub.store import admin, history

    store.create_repo("alice/old")
    store.commit("alice/old", [AddFile("w.bin", content=b"\0" * 2000), AddFile("a.txt", content=b"a")], message="1")
    second = store.commit("alice/old", [AddFile("a.txt", content=b"b")], message="2")
    assert admin.move_repo(store, "alice/old", "alice/New") == "alice/New"
    assert store.repo_info("ALICE/old").repo_id == "alice/New"  # the old id resolves, case-insensitively
    assert [r.repo_id for r in store.list_repos(search="new")] == ["alice/New"]
    last = history.last_commits(store, "alice/New", "main", ["a.txt", "w.bin"])
    assert last["a.txt"].commit_id == second.commit_id and last["w.bin"].message == "1"
    lfs = admin.list_lfs_files(store, "alice/New")
    assert [(f.filename, f.size, f.ref) for f in lfs] == [("w.bin", 2000, "main")]
    squashed = admin.super_squash(store, "alice/New", "main", "squash")
    assert [c.commit_id for c in store.list_commits("alice/New")] == [squashed.commit_id]
    assert admin.delete_lfs_files(store, "alice/New", [lfs[0].sha256]) >= 1
    assert "w.bin" not in {e.path for e in store.list_files("alice/New")}
    store.create_repo("alice/old")  # the old id is free again
    assert store.repo_info("alice/old").repo_id == "alice/old"
