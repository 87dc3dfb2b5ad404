"""A model card built to blow up YAML parsers, published to the local registry with
``zoolab publish`` and ``zoo.import_weights``: refused in one line, quickly, in bounded memory,
and nothing is published."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hostile_repos as hostile
from zoolab.cli.main import app

runner = CliRunner()

#: 452 bytes: nine levels of nine aliases, 9**9 (387 million) strings once expanded.
BILLION_LAUGHS = "---\n" + "\n".join(
    ["a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
    + [f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]" for p, c in zip("abcdefgh", "bcdefghi")]
) + "\n---\n# card\n"


@pytest.fixture
def carded(tiny_models, copy_model) -> Path:
    folder = copy_model(tiny_models["bert-mlm"])
    (folder / "README.md").write_text(BILLION_LAUGHS)
    return folder


def test_alias_bomb_card_is_refused_by_zoolab_publish(carded: Path, isolated_home: Path) -> None:
    assert len(BILLION_LAUGHS.encode()) < 600
    script = (
        "import resource, subprocess, sys\n"
        f"out = subprocess.run([sys.executable, '-m', 'zoolab', 'publish', {str(carded)!r}, 'local:attacker/bomb'],"
        " capture_output=True, text=True, timeout=120)\n"
        "print(out.returncode); print(out.stderr.strip().splitlines()[-1])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    code, line, rss = out.stdout.strip().splitlines()
    assert code != "0" and line.startswith("error: ") and "alias" in line.lower(), out.stdout + out.stderr
    assert int(rss) < 1_000_000  # KiB: the expansion would need gigabytes
    result = runner.invoke(app, ["info", "local:attacker/bomb"])
    assert result.exit_code != 0  # nothing was published


def test_alias_bomb_card_is_refused_by_import(carded: Path) -> None:
    import zoolab.zoo as zoo
    from zoolab.errors import ZoolabError

    with pytest.raises(ZoolabError, match="(?i)alias"):
        zoo.import_weights(carded, repo="local:attacker/bomb2")


def test_hostile_zoolab_json_publishes_but_never_loads(tiny_models, copy_model) -> None:
    import zoolab.zoo as zoo
    from zoolab.errors import InvalidInputError

    folder = copy_model(tiny_models["timm"])
    hostile.zoolab_json(folder, labels=5, frameworks="torch")
    result = runner.invoke(app, ["publish", str(folder), "local:attacker/meta"])
    assert result.exit_code == 0, result.output  # the generated card reads no field it cannot trust
    with pytest.raises(InvalidInputError, match="zoolab.json field 'labels'"):
        zoo.load("local:attacker/meta")


def test_symlink_out_of_a_published_folder_is_refused(tiny_models, copy_model, tmp_path: Path) -> None:
    import zoolab.hub as hub
    from zoolab.errors import InvalidInputError

    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    folder = copy_model(tiny_models["bert-mlm"])
    (folder / "notes.txt").symlink_to(secret)
    result = runner.invoke(app, ["publish", str(folder), "local:attacker/leak"])
    assert result.exit_code != 0 and "notes.txt is a symlink" in result.stderr
    with pytest.raises(InvalidInputError, match="outside the folder"):
        hub.publish(folder, "local:attacker/leak")
    assert runner.invoke(app, ["info", "local:attacker/leak"]).exit_code != 0
    # A downloaded snapshot (links into the cache's blobs) still publishes as a mirror.
    (folder / "notes.txt").unlink()
    hub.publish(folder, "local:team/original", progress=False)
    snapshot = hub.download("local:team/original", progress=False).path
    assert hub.publish(snapshot, "local:team/mirror", progress=False).commit_id
