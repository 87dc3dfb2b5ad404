"""A process that loads Keras and then uses the local registry keeps SQLite's FTS5 search.

TensorFlow ships its own SQLite without FTS5; a ``_sqlite3`` loaded after it binds to that copy.
The test runs in a fresh process, since the test session itself loads sqlite3 early."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

@pytest.mark.tf
def test_local_registry_search_works_after_keras_is_loaded(tmp_path: Path) -> None:
    code = (
        "from zoolab.zoo.keras_backend import import_keras\n"
        "import_keras()\n"
        "import sqlite3\n"
        "c = sqlite3.connect(':memory:')\n"
        "c.execute('create virtual table t using fts5(x)')\n"
        "c.execute(\"insert into t values ('tiny bert')\")\n"
        "print(c.execute(\"select x from t where t match 'bert'\").fetchone()[0])\n"
    )
    env = {**os.environ, "ZOOLAB_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "tiny bert"
