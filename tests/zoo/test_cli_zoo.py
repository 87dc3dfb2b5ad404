"""``zoolab models``, ``zoolab predict`` and ``zoolab zoo import`` through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

import zoolab.zoo as zoo
from zoolab.cli.main import app

runner = CliRunner()


def test_models_table_and_json() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "resnet50" in result.output and "gpt2" in result.output
    result = runner.invoke(app, ["models", "--framework", "tf", "--task", "image-classification", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["resnet18", "resnet50", "mobilenetv3", "efficientnet-b0", "vit-b16"]
    assert rows[1]["tf_preset"] == "resnet_50_imagenet" and rows[1]["params"] == 25557032


def test_models_bad_filter_is_one_line() -> None:
    result = runner.invoke(app, ["models", "--framework", "jax"])
    assert result.exit_code == 2
    assert "error: unknown framework 'jax'" in result.stderr and "Traceback" not in result.output


def test_predict_image_json(tiny_models, images) -> None:
    result = runner.invoke(app, ["predict", str(tiny_models["timm"]), *map(str, images), "--top-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["task"] == "image-classification" and len(data["results"]) == 2
    expected = zoo.predict(tiny_models["timm"], images, top_k=2)
    for row, preds in zip(data["results"], expected):
        assert [(p["label"], round(p["score"], 6)) for p in row["predictions"]] == \
            [(p.label, round(p.score, 6)) for p in preds]  # fmt: skip


def test_predict_text_table_and_embeddings(tiny_models) -> None:
    result = runner.invoke(app, ["predict", str(tiny_models["distilbert-cls"]), "hello world", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert "hello world" in result.stdout and ("positive" in result.stdout or "negative" in result.stdout)
    result = runner.invoke(app, ["predict", str(tiny_models["sentence"]), "the cat", "a dog", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert rows[0]["embedding_dim"] == 16 and abs(rows[0]["norm"] - 1.0) < 1e-5
    assert rows[0]["predictions"][0]["label"] == "a dog"


def test_predict_errors_are_one_line(tiny_models, tmp_path: Path) -> None:
    result = runner.invoke(app, ["predict", "resnet5O", "x.jpg"])
    assert result.exit_code != 0
    assert "did you mean: resnet50" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(app, ["predict", str(tiny_models["bert-mlm"]), "no mask"])
    assert result.exit_code == 2 and "mask token" in result.stderr


def test_zoo_import_cli(tiny_models) -> None:
    result = runner.invoke(app, ["zoo", "import", str(tiny_models["bert-mlm"]), "--repo", "local:acme/tiny-bert", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["repo"] == "local:acme/tiny-bert" and data["task"] == "fill-mask"
    assert zoo.load("local:acme/tiny-bert").task == "fill-mask"


def test_predict_in_a_real_subprocess(tiny_models, images) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "zoolab", "predict", str(tiny_models["timm"]), str(images[0]), "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    preds = json.loads(out.stdout)["results"][0]["predictions"]
    logits = zoo.load(tiny_models["timm"])([images[0]])[0]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert preds[0]["label"] == f"LABEL_{int(np.argmax(probs))}"
    assert abs(preds[0]["score"] - float(probs.max())) < 1e-5
