"""``zoolab finetune MODEL SOURCE:org/dataset``: training data read from a dataset repository
published with ``zoolab publish --type dataset``, in the local registry and on a live hub server;
``datasets.load_dataset`` through HF_ENDPOINT sees the same rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from finetune_support import tiny_pretrained, write_digits_folder
from typer.testing import CliRunner

from zoolab.cli.main import app
from zoolab.hub import config

LABELS = ["5", "6", "7", "8", "9"]
PER_CLASS = 20


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_pretrained(tmp_path_factory.mktemp("tiny") / "digits04")


@pytest.fixture(scope="module")
def digits59(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits_folder(tmp_path_factory.mktemp("d59") / "digits", classes=range(5, 10), per_class=PER_CLASS)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_XET": "1", **extra}


def _finetune(model: Path, data: str, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "zoolab", "finetune", str(model), data, "--epochs", "1", "--lr", "3e-3",
         "--batch-size", "16", "--set", "optim.backbone_lr_scale=1", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "labels: 5, 6, 7, 8, 9" in proc.stderr
    return json.loads((out / "best" / "zoolab.json").read_text())["training"]


def _publish(folder: Path, target: str) -> dict:
    result = CliRunner().invoke(app, ["publish", str(folder), target, "--type", "dataset", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_finetune_reads_a_local_dataset_repo(pretrained: Path, digits59: Path, tmp_path: Path) -> None:
    published = _publish(digits59, "local:lab/digits59")
    assert len(published["files"]) == 5 * PER_CLASS  # images only: no model card generated
    training = _finetune(pretrained, "local:lab/digits59", tmp_path / "run")
    assert training["data"]["ref"] == "local:lab/digits59" and training["data"]["source"] == "local:lab/digits59"
    assert "datasets--lab--digits59" in training["data"]["path"]
    assert training["labels"] == LABELS


LOAD = """
import sys
from datasets import load_dataset
ds = load_dataset(sys.argv[1], split="train")
print("ROWS", ds.num_rows, ",".join(ds.features["label"].names))
"""


def test_finetune_and_load_dataset_read_a_server_dataset_repo(pretrained: Path, digits59: Path, tmp_path: Path,
                                                              hub_server) -> None:  # type: ignore[no-untyped-def]
    token = hub_server.token("alice")
    config.add_source("team", hub_server.url, token=token)
    _publish(digits59, "team:alice/digits59")
    training = _finetune(pretrained, "team:alice/digits59", tmp_path / "run")
    assert training["data"]["ref"] == "team:alice/digits59" and training["labels"] == LABELS
    assert "datasets--alice--digits59" in training["data"]["path"]
    # The stock client sees the same images and labels.
    env = {k: v for k, v in _env().items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update({"HF_ENDPOINT": hub_server.url, "HF_TOKEN": token, "HF_HOME": str(tmp_path / "hf"),
                "HF_HUB_DISABLE_TELEMETRY": "1"})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(LOAD), "alice/digits59"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"ROWS {5 * PER_CLASS} {','.join(LABELS)}" in proc.stdout


def test_missing_dataset_repo_is_one_clear_line(pretrained: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "zoolab", "finetune", str(pretrained), "local:lab/no-such-data",
                           "--epochs", "1", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "lab/no-such-data" in proc.stderr and "not found" in proc.stderr
