"""``zoolab predict`` inputs: a folder of images, a text model given an image file, ``-q``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoolab.cli.main import app
from zoolab.errors import InvalidInputError
from zoolab.zoo.inputs import prediction_inputs

runner = CliRunner()


def test_predict_takes_a_folder_of_images(tiny_models, images, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for img in images:
        shutil.copy(img, folder / img.name)
    (folder / "notes.txt").write_text("not an image")
    result = runner.invoke(app, ["predict", str(tiny_models["timm"]), str(folder), "-k", "1", "--json", "-q"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert [Path(r["input"]).name for r in rows] == sorted(img.name for img in images)
    assert all(len(r["predictions"]) == 1 for r in rows)


def test_predict_quiet_prints_only_the_table(tiny_models, images) -> None:
    result = runner.invoke(app, ["predict", str(tiny_models["timm"]), str(images[0]), "-q"])
    assert result.exit_code == 0, result.output
    assert "Loading" not in result.stderr and result.stderr.strip() == ""
    assert "probability" in result.stdout


def test_text_model_refuses_an_image_file(tiny_models, images) -> None:
    result = runner.invoke(app, ["predict", str(tiny_models["distilbert-cls"]), str(images[0])])
    assert result.exit_code == 2
    assert "is an image file, but this is a text-classification model" in result.stderr
    assert "Traceback" not in result.output


def test_prediction_inputs_rules(images, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="holds no image files"):
        prediction_inputs([str(empty)], "image-classification")
    # texts pass through untouched, including words that look like file names but are not files
    assert prediction_inputs(["cat.jpg is a file name", "hello"], "fill-mask") == ["cat.jpg is a file name", "hello"]
    with pytest.raises(InvalidInputError, match="folder"):
        prediction_inputs([str(images[0].parent)], "feature-extraction")
