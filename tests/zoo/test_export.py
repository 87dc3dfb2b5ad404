"""§6: exports to torchscript, pt2, onnx, savedmodel and tflite, each checked by running it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from zoolab.errors import InvalidInputError, UnsupportedError
from zoolab.zoo.export import FORMATS, TOLERANCES, export_model
from zoolab.zoo.keras_checkpoints import make_checkpoint


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint("bert", tmp_path_factory.mktemp("export") / "tiny-bert", num_labels=2)


@pytest.mark.parametrize("fmt", ["torchscript", "pt2", "onnx"])
def test_torch_exports_run_and_match(fmt: str, bert: Path, tmp_path: Path) -> None:
    report = export_model(bert, fmt, tmp_path / f"model.{fmt}")
    assert report.passed and report.max_abs_diff <= TOLERANCES[fmt] and report.framework == "torch"
    assert report.path.is_file() and report.size_bytes == report.path.stat().st_size > 10_000
    assert report.input_shapes["input_ids"][0] == 2
    if fmt in ("pt2", "onnx"):
        # Exported with free batch and sequence dimensions; checked on a 3-item batch too.
        assert report.flexible_shapes


def test_onnx_file_is_usable_on_its_own(bert: Path, tmp_path: Path) -> None:
    """onnxruntime alone gives the classifier's logits for tokenizer output."""
    import onnxruntime
    import torch
    import transformers

    report = export_model(bert, "onnx", tmp_path / "bert.onnx")
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert)
    enc = tokenizer(["the cat sat on the mat"], return_tensors="np")
    session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    feeds = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
    logits = session.run(None, feeds)[0]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(bert).eval()
    with torch.no_grad():
        expected = model(**tokenizer(["the cat sat on the mat"], return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)


@pytest.mark.tf
@pytest.mark.xdist_group("tf")
@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_tensorflow_exports_run_and_match(fmt: str, bert: Path, tmp_path: Path) -> None:
    report = export_model(bert, fmt, tmp_path / f"model-{fmt}")
    assert report.passed and report.max_abs_diff <= TOLERANCES[fmt] and report.framework == "tf"
    assert report.size_bytes > 10_000
    if fmt == "savedmodel":
        assert (report.path / "saved_model.pb").is_file()
    assert set(report.input_shapes) == {"token_ids", "padding_mask", "segment_ids"}
    assert report.flexible_shapes


@pytest.mark.tf
@pytest.mark.xdist_group("tf")
def test_export_a_framework_cannot_make_says_why(tiny_models, tmp_path: Path) -> None:
    import timm
    from timm.models import save_for_hf

    save_for_hf(timm.create_model("convnext_atto", num_classes=2), str(tmp_path / "convnext"), safe_serialization=True)
    with pytest.raises(UnsupportedError, match="cannot export .* to savedmodel.*TensorFlow.*PyTorch"):
        export_model(tmp_path / "convnext", "savedmodel", tmp_path / "out")
    # A ResNet with other widths than keras-hub's resnet18: keras-hub cannot convert it.
    with pytest.raises(UnsupportedError, match="to tflite.*PyTorch only"):
        export_model(tiny_models["timm"], "tflite", tmp_path / "out.tflite")
    assert not (tmp_path / "out.tflite").exists() and not (tmp_path / "out").exists()


def test_bad_format_or_framework_is_a_clear_error(bert: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown export format 'keras'.*torchscript"):
        export_model(bert, "keras")
    with pytest.raises(InvalidInputError, match="onnx is made from the PyTorch model.*--framework torch"):
        export_model(bert, "onnx", framework="tf")
    assert set(FORMATS) == {"torchscript", "pt2", "onnx", "savedmodel", "tflite"}


def test_cli_prints_the_check(bert: Path, tmp_path: Path, tiny_models) -> None:
    from zoolab.cli.main import app

    runner = CliRunner()
    out = tmp_path / "cli.onnx"
    result = runner.invoke(app, ["export", str(bert), "--format", "onnx", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == "onnx" and data["passed"] is True and Path(data["path"]) == out and out.is_file()
    table = runner.invoke(app, ["export", str(tiny_models["timm"]), "--format", "pt2", "--out", str(tmp_path / "t.pt2")])
    assert table.exit_code == 0, table.output
    # Narrow terminals wrap the headers: look for single words.
    for word in ("format", "size", "shapes", "diff", "tolerance", "pass", "pt2", "yes", "any"):
        assert word in table.stdout
    bad = runner.invoke(app, ["export", str(bert), "--format", "tflite", "--framework", "torch"])
    assert bad.exit_code != 0
    assert "tflite is made from the TensorFlow/Keras model" in bad.stderr and "Traceback" not in bad.output
