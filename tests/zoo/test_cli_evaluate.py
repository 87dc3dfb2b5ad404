"""`zoolab evaluate MODEL DATA` in a real subprocess: tables, files, --json, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from typer.testing import CliRunner

import zoolab.zoo as zoo
from zoolab.cli.main import app
from zoolab.zoo.keras_checkpoints import make_checkpoint

runner = CliRunner()


def _zoolab(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "zoolab", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def digits_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finetune_support import write_digits_folder

    return write_digits_folder(tmp_path_factory.mktemp("cli") / "digits", classes=range(3), per_class=20,
                               splits={"train": 0.5, "test": 0.5})  # fmt: skip


@pytest.fixture(scope="module")
def digit_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_checkpoint("resnet18", tmp_path_factory.mktemp("cli-model") / "m", num_labels=3)
    config = json.loads((folder / "config.json").read_text())
    config["label_names"] = ["0", "1", "2"]
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_tables_files_and_json(digit_model: Path, digits_split: Path, tmp_path: Path) -> None:
    out = _zoolab("evaluate", digit_model, digits_split, "--out", tmp_path / "ev", "--batch-size", "7")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for word in ("accuracy", "macro F1", "weighted F1", "loss", "ECE", "precision", "recall", "support"):
        assert word in text, word
    assert "top-5" not in text  # 3 labels
    png = tmp_path / "ev" / "confusion_matrix.png"
    assert text.strip().splitlines()[-1].endswith(str(png)) and png.read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    expected = zoo.evaluate(zoo.load(digit_model), digits_split)  # the same numbers in-process
    assert report["n"] == expected.n == 30 and report["split"] == "test"
    assert report["accuracy"] == pytest.approx(expected.accuracy)
    assert report["confusion_matrix"] == expected.confusion_matrix
    assert [r["label"] for r in report["per_class"]] == ["0", "1", "2"]
    assert f"{expected.accuracy:.4f}" in text

    # --json prints the same report (plus the notes and where the files are), in-process this time
    result = runner.invoke(app, ["evaluate", str(digit_model), str(digits_split), "--json", "--out", str(tmp_path / "j")])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["accuracy"] == report["accuracy"] and printed["per_class"] == report["per_class"]
    assert printed["confusion_matrix_png"] == str(tmp_path / "j" / "confusion_matrix.png")


def test_text_columns_of_a_kaomoji_table(tmp_path: Path, kaomoji_csv: Path) -> None:
    from finetune_support import KAOMOJI_CATEGORIES

    folder = make_checkpoint("bert", tmp_path / "bert", num_labels=len(KAOMOJI_CATEGORIES))
    config = json.loads((folder / "config.json").read_text())
    # The model's label order differs from the data's sorted one: matched by name.
    names = list(reversed(KAOMOJI_CATEGORIES))
    config["id2label"] = {str(i): n for i, n in enumerate(names)}
    config["label2id"] = {n: i for i, n in enumerate(names)}
    (folder / "config.json").write_text(json.dumps(config))
    table = tmp_path / "k.csv"
    table.write_text(kaomoji_csv.read_text(encoding="utf-8").replace("text,category", "face,mood", 1),
                     encoding="utf-8")  # fmt: skip
    out = _zoolab("evaluate", folder, table, "--text-column", "face", "--label-column", "mood", "--json",
                  "--out", tmp_path / "ev")  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["n"] == 480 and report["labels"] == names
    assert {r["label"]: r["support"] for r in report["per_class"]} == {n: 60 for n in names}
    assert report["top5_accuracy"] is not None  # 8 labels
    assert any("no test split" in n for n in report["notes"])


def test_bad_input_in_a_subprocess_is_one_line_and_non_zero(digit_model: Path, tmp_path: Path) -> None:
    out = _zoolab("evaluate", digit_model, tmp_path / "nowhere", "--out", tmp_path / "ev")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [f"error: image folder {tmp_path / 'nowhere'} does not exist"] or (
        len(out.stderr.strip().splitlines()) == 1 and "does not exist" in out.stderr), out.stderr
    assert not (tmp_path / "ev").exists()


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing-column", "has no column 'review'; its columns: text, category"),
        ("unknown-label", "does not know: 3"),
        ("unknown-split", "no validation split"),
        ("not-a-table", "not a table zoolab reads"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(case: str, message: str, digit_model: Path, tmp_path: Path,
                                            kaomoji_csv: Path) -> None:  # fmt: skip
    from finetune_support import write_digits_folder

    odd = tmp_path / "notes.docx"
    odd.write_bytes(b"PK")
    args = {
        "missing-column": [digit_model, kaomoji_csv, "--text-column", "review", "--label-column", "category"],
        "unknown-label": [digit_model, write_digits_folder(tmp_path / "four", classes=range(4), per_class=3)],
        "unknown-split": [digit_model, write_digits_folder(tmp_path / "three", classes=range(3), per_class=3),
                          "--split", "validation"],
        "not-a-table": [digit_model, odd],
    }[case]
    result = runner.invoke(app, ["evaluate", *map(str, args), "--out", str(tmp_path / "ev")])
    assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "ev").exists()  # nothing written for a failed evaluation
