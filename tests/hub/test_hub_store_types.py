"""Model and dataset repositories in one store, and the migration of a store from before repo types."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from zoolab.errors import RepoExistsError, RepoNotFoundError, UnsupportedError
from zoolab.hub.store import AddFile, Store

# The repos, commits and refs tables of a version-1 store (ids unique across all repos, no type).
V1_TABLES = """
CREATE TABLE repos (pk INTEGER PRIMARY KEY, repo_id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, name TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, last_modified REAL NOT NULL,
    downloads INTEGER NOT NULL DEFAULT 0, likes INTEGER NOT NULL DEFAULT 0,
    default_branch TEXT NOT NULL DEFAULT 'main', tags_json TEXT NOT NULL DEFAULT '[]', library_name TEXT,
    pipeline_tag TEXT, card_json TEXT NOT NULL DEFAULT '{}');
CREATE TABLE commits (repo_pk INTEGER NOT NULL REFERENCES repos(pk) ON DELETE CASCADE, commit_id TEXT NOT NULL,
    parents_json TEXT NOT NULL, message TEXT NOT NULL, author TEXT, created_at REAL NOT NULL,
    PRIMARY KEY (repo_pk, commit_id));
CREATE TABLE refs (repo_pk INTEGER NOT NULL REFERENCES repos(pk) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('branch', 'tag')), name TEXT NOT NULL, commit_id TEXT NOT NULL, message TEXT,
    PRIMARY KEY (repo_pk, kind, name));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def test_models_and_datasets_are_apart(tmp_path: Path) -> None:
    models = Store(tmp_path / "home")
    datasets = models.for_type("dataset")
    models.create_repo("lab/x")
    datasets.create_repo("lab/x")  # one id may name a model and a dataset
    datasets.commit("lab/x", [AddFile("train.csv", content=b"a,b\n1,2\n")], message="data")
    assert [f.path for f in datasets.list_files("lab/x")] == [".gitattributes", "train.csv"]
    assert [f.path for f in models.list_files("lab/x")] == [".gitattributes"]
    assert [r.repo_id for r in datasets.list_repos()] == ["lab/x"]
    assert datasets.repo_info("lab/x").repo_type == "dataset"
    with pytest.raises(RepoExistsError):
        datasets.create_repo("LAB/X")
    models.delete_repo("lab/x")
    assert datasets.repo_info("lab/x").sha is not None
    with pytest.raises(RepoNotFoundError):
        models.repo_info("lab/x")
    with pytest.raises(UnsupportedError):
        models.for_type("space")


def test_a_version_1_store_is_migrated_with_its_repos_as_models(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    conn = sqlite3.connect(root / "db.sqlite")
    conn.executescript(V1_TABLES)
    conn.execute("INSERT INTO repos(pk, repo_id, owner, name, created_at, last_modified) "
                 "VALUES (1, 'lab/old', 'lab', 'old', 1.0, 2.0)")
    conn.execute("INSERT INTO commits VALUES (1, ?, '[]', 'initial commit', NULL, 1.0)", ("a" * 40,))
    conn.execute("INSERT INTO refs VALUES (1, 'branch', 'main', ?, NULL)", ("a" * 40,))
    conn.commit()
    conn.close()
    store = Store(root=root)
    info = store.repo_info("lab/old")
    assert (info.repo_type, info.sha) == ("model", "a" * 40)  # the commits survived the table rebuild
    assert [c.message for c in store.list_commits("lab/old")] == ["initial commit"]
    store.for_type("dataset").create_repo("lab/old")
    assert store.for_type("dataset").repo_info("lab/old").repo_type == "dataset"
    check = sqlite3.connect(root / "db.sqlite")
    assert check.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    assert check.execute("PRAGMA foreign_key_check").fetchall() == []
    Store(root=root)  # opening a migrated store again changes nothing
    assert store.repo_info("lab/old").sha == "a" * 40
