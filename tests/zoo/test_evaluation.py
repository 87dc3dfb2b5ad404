"""zoo.evaluate and metrics_from: metrics checked against values worked out by hand, labels matched
by name, the report's files, figure and model-index, and real models on the real digits images."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from zoolab.errors import InvalidInputError, UnsupportedError
from zoolab.zoo.tuning.evaluation import expected_calibration_error, label_map, metrics_from


def _logits_for(probs: list[list[float]]) -> np.ndarray:
    return np.log(np.asarray(probs, dtype=np.float64))


# --- metrics against hand-computed values ------------------------------------------------------
def test_metrics_match_hand_computed_values() -> None:
    # 3 classes, 5 rows; predictions: 0, 1, 1, 2, 0 against truth 0, 1, 2, 2, 1
    probs = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]]
    y = [0, 1, 2, 2, 1]
    report = metrics_from(y, _logits_for(probs), ["a", "b", "c"], split="test")
    assert report.n == 5 and report.split == "test"
    assert report.accuracy == pytest.approx(3 / 5)
    expected_loss = -(math.log(0.7) + math.log(0.8) + math.log(0.3) + math.log(0.8) + math.log(0.3)) / 5
    assert report.loss == pytest.approx(expected_loss)
    # per class: a: P=1/2 R=1/1; b: P=1/2 R=1/2; c: P=1/1 R=1/2
    f1 = {"a": 2 * 0.5 * 1 / 1.5, "b": 0.5, "c": 2 * 1 * 0.5 / 1.5}
    rows = {r["label"]: r for r in report.per_class}
    assert rows["a"]["precision"] == pytest.approx(0.5) and rows["a"]["recall"] == pytest.approx(1.0)
    assert rows["c"]["precision"] == pytest.approx(1.0) and rows["c"]["recall"] == pytest.approx(0.5)
    assert [rows[k]["support"] for k in "abc"] == [1, 2, 2]
    assert [rows[k]["f1"] for k in "abc"] == pytest.approx([f1[k] for k in "abc"])
    assert report.macro_f1 == pytest.approx(sum(f1.values()) / 3)
    assert report.weighted_f1 == pytest.approx((f1["a"] * 1 + f1["b"] * 2 + f1["c"] * 2) / 5)
    assert report.confusion_matrix == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert report.top5_accuracy is None  # 3 labels: top-5 would always be 1
    assert json.loads(json.dumps(report.to_dict()))["confusion_matrix"] == report.confusion_matrix


def test_top5_accuracy_with_more_than_five_labels() -> None:
    labels = [f"l{i}" for i in range(7)]
    z = np.array([[6, 5, 4, 3, 2, 1, 0],    # truth 6: the lowest score, not in the top 5
                  [6, 5, 4, 3, 2, 1, 0],    # truth 4: 5th best -> top-5 hit, top-1 miss
                  [0, 1, 2, 3, 4, 5, 6]],   # truth 6: top-1 hit
                 dtype=np.float64)  # fmt: skip
    report = metrics_from([6, 4, 6], z, labels)
    assert report.accuracy == pytest.approx(1 / 3)
    assert report.top5_accuracy == pytest.approx(2 / 3)


def test_expected_calibration_error_known_cases() -> None:
    # Two rows at confidence 0.9, both right; two at 0.6, both wrong:
    # ECE = 1/2 * |1 - 0.9| + 1/2 * |0 - 0.6| = 0.35
    probs = [[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]]
    report = metrics_from([0, 1, 1, 0], _logits_for(probs), ["x", "y"])
    assert report.ece == pytest.approx(0.35)
    # Perfect calibration: 10 rows at confidence 0.8 (one bin), 8 of them right.
    conf = np.full(10, 0.8)
    correct = np.array([1] * 8 + [0] * 2, dtype=float)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)
    # Confidence 1.0 and 1/15 (bin edges) land in the last and first bins, not outside.
    assert expected_calibration_error(np.array([1.0, 1 / 15]), np.array([1.0, 0.0])) == pytest.approx(
        0.5 * 0 + 0.5 * (1 / 15))


def test_metrics_equal_scikit_learns_on_random_predictions() -> None:
    """The numpy confusion-matrix arithmetic gives scikit-learn's numbers, also with classes that
    never occur in the truth or are never predicted (zero_division=0, averages over present classes)."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    rng = np.random.default_rng(7)
    for n_rows, n_labels, used in [(50, 4, 4), (200, 12, 7), (9, 10, 3), (30, 2, 1)]:
        labels = [f"l{i}" for i in range(n_labels)]
        y = rng.integers(0, used, n_rows)
        z = rng.normal(size=(n_rows, n_labels))
        z[:, -1] -= 10  # the last class is never predicted
        report = metrics_from(y, z, labels)
        pred = z.argmax(axis=1)
        ids = list(range(n_labels))
        p, r, f, support = precision_recall_fscore_support(y, pred, labels=ids, zero_division=0)
        assert [row["precision"] for row in report.per_class] == pytest.approx(p.tolist(), abs=1e-12)
        assert [row["recall"] for row in report.per_class] == pytest.approx(r.tolist(), abs=1e-12)
        assert [row["f1"] for row in report.per_class] == pytest.approx(f.tolist(), abs=1e-12)
        assert [row["support"] for row in report.per_class] == support.tolist()
        assert report.macro_f1 == pytest.approx(f1_score(y, pred, average="macro", zero_division=0), abs=1e-12)
        assert report.weighted_f1 == pytest.approx(f1_score(y, pred, average="weighted", zero_division=0), abs=1e-12)
        assert report.confusion_matrix == confusion_matrix(y, pred, labels=ids).tolist()


@pytest.mark.parametrize(
    "y, logits, labels, message",
    [
        ([0, 1], np.zeros((3, 2)), ["a", "b"], "do not match"),
        ([0, 1], np.zeros((2, 3)), ["a", "b"], "3 columns for 2 labels"),
        ([0, 2], np.zeros((2, 2)), ["a", "b"], "label ids"),
        ([], np.zeros((0, 2)), ["a", "b"], "empty"),
    ],
)
def test_metrics_from_refuses_mismatched_inputs(y, logits, labels, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        metrics_from(y, logits, labels)


# --- label matching ----------------------------------------------------------------------------
def test_label_map_reorders_by_name_and_names_unknown_labels() -> None:
    assert label_map(["cat", "dog", "bird"], ["bird", "cat", "dog"], "m").tolist() == [2, 0, 1]
    with pytest.raises(InvalidInputError, match="does not know: fish") as err:
        label_map(["cat", "dog"], ["cat", "fish"], "local:me/pets")
    assert "local:me/pets" in str(err.value) and "cat, dog" in str(err.value)
    with pytest.raises(InvalidInputError, match="no label names"):
        label_map(None, ["a", "b"], "m")


# --- report files, figure and model-index -------------------------------------------------------
def test_save_writes_json_and_png_and_model_index_is_hub_schema(tmp_path: Path) -> None:
    from huggingface_hub import ModelCardData

    rng = np.random.default_rng(0)
    labels = [f"class-{i}" for i in range(12)]
    y = rng.integers(0, 12, 200)
    z = rng.normal(size=(200, 12)) + 3 * np.eye(12)[y]
    report = metrics_from(y, z, labels, split="test")
    path = report.save(tmp_path / "eval")
    assert json.loads(path.read_text()) == json.loads(json.dumps(report.to_dict()))
    assert (tmp_path / "eval" / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    index = report.model_index("me/digits-resnet", task="image-classification", dataset_name="digits",
                               dataset_type="imagefolder", split="test")  # fmt: skip
    card = ModelCardData(**{"model-index": index})  # huggingface_hub parses it as the Hub does
    scores = {(r.metric_type, r.metric_name): r.metric_value for r in card.eval_results}
    assert scores[("accuracy", "Accuracy")] == pytest.approx(report.accuracy, abs=1e-4)
    assert scores[("f1", "Macro F1")] == pytest.approx(report.macro_f1, abs=1e-4)
    result = card.eval_results[0]
    assert (result.task_type, result.dataset_name, result.dataset_type, result.dataset_split) == (
        "image-classification", "digits", "imagefolder", "test")


def test_confusion_matrix_figure_stays_readable_with_many_classes() -> None:
    from matplotlib.figure import Figure

    rng = np.random.default_rng(1)
    for n in (3, 60):
        labels = [f"label number {i}" for i in range(n)]
        y = rng.integers(0, n, 300)
        fig = metrics_from(y, rng.normal(size=(300, n)), labels).plot_confusion_matrix()
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        shown = [t.get_text() for t in ax.get_xticklabels()]
        if n == 3:
            assert shown == labels and ax.texts  # counts written in the cells
        else:
            assert not any(shown) and not ax.texts  # no overlapping labels or numbers
        assert fig.get_size_inches()[0] <= 20


# --- real models on the real digits ------------------------------------------------------------
def _digit_model(tmp_path: Path, label_names: list[str], fit_on: Path | None = None) -> Path:
    """A random resnet18 (both frameworks load it) whose head is named ``label_names``.

    With ``fit_on`` (an image folder of those labels) the head becomes a nearest-centroid classifier
    of the backbone's features on those images, so its predictions carry real signal.
    """
    from zoolab.zoo.keras_checkpoints import make_checkpoint

    folder = make_checkpoint("resnet18", tmp_path / "model", num_labels=len(label_names))
    config = json.loads((folder / "config.json").read_text())
    config["label_names"] = label_names
    (folder / "config.json").write_text(json.dumps(config))
    if fit_on is not None:
        import torch
        from safetensors.torch import load_file, save_file

        import zoolab.zoo as zoo

        loaded = zoo.load(folder, framework="torch")
        train = zoo.data.image_folder(fit_on, val_split=None)["train"]
        names = zoo.data.image_folder(fit_on, val_split=None).labels
        x = torch.stack([loaded.preprocessor(img.convert("RGB")) for img in train["image"]])
        with torch.no_grad():
            feats = loaded.model.forward_head(loaded.model.forward_features(x), pre_logits=True)
        mean = feats.mean(dim=0)
        feats = feats - mean  # centred, so classes differ by more than a shared offset
        y = torch.tensor(train["label"])
        centroids = torch.stack([feats[y == names.index(n)].mean(dim=0) for n in label_names])
        weights = load_file(folder / "model.safetensors")
        weights["fc.weight"] = centroids.contiguous()
        weights["fc.bias"] = (-0.5 * (centroids ** 2).sum(dim=1) - centroids @ mean).contiguous()
        save_file(weights, folder / "model.safetensors")
    return folder


@pytest.fixture(scope="module")
def digits_0_to_3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finetune_support import write_digits_folder

    return write_digits_folder(tmp_path_factory.mktemp("d") / "digits", classes=range(4), per_class=30,
                               splits={"train": 0.5, "test": 0.5})  # fmt: skip


def test_evaluate_matches_labels_by_name_whatever_the_model_order(tmp_path: Path, digits_0_to_3: Path) -> None:
    import zoolab.zoo as zoo

    model = zoo.load(_digit_model(tmp_path, ["3", "1", "0", "2"]), framework="torch")
    data = zoo.data.image_folder(digits_0_to_3)
    report = zoo.evaluate(model, data, split="test")
    # Worked out independently: the model's raw outputs, its column names, the data's label names.
    test = data["test"]
    raw = np.concatenate([model(list(test[i:i + 16]["image"])) for i in range(0, len(test), 16)])
    predicted = [model.labels[k] for k in raw.argmax(axis=1)]
    truth = [data.labels[k] for k in test["label"]]
    assert report.n == len(test) == 60
    assert report.accuracy == pytest.approx(np.mean([p == t for p, t in zip(predicted, truth)]))
    support = {r["label"]: r["support"] for r in report.per_class}
    assert support == {name: truth.count(name) for name in model.labels}


def test_evaluate_errors(tmp_path: Path, digits_0_to_3: Path) -> None:
    import zoolab.zoo as zoo

    model = zoo.load(_digit_model(tmp_path, ["0", "1", "2"]), framework="torch")
    with pytest.raises(InvalidInputError, match="does not know: 3"):
        zoo.evaluate(model, digits_0_to_3)
    four = zoo.load(_digit_model(tmp_path / "four", ["0", "1", "2", "3"]), framework="torch")
    with pytest.raises(InvalidInputError, match="no nonsense split; it has: train, "):
        zoo.evaluate(four, zoo.data.image_folder(digits_0_to_3), split="nonsense")
    texts = tmp_path / "t.csv"
    texts.write_text("text,label\nhello,0\nworld,1\n")
    with pytest.raises(UnsupportedError, match="text-classification"):
        zoo.evaluate(model, texts)


def test_evaluate_refuses_a_model_that_is_not_a_classifier(tiny_models, digits_0_to_3: Path) -> None:
    import zoolab.zoo as zoo

    encoder = zoo.load(tiny_models["bert-mlm"], framework="torch")
    assert encoder.task not in ("image-classification", "text-classification")
    with pytest.raises(UnsupportedError, match="classifiers"):
        zoo.evaluate(encoder, digits_0_to_3)


def test_folder_without_splits_is_evaluated_whole(tmp_path: Path) -> None:
    import zoolab.zoo as zoo
    from finetune_support import write_digits_folder

    folder = write_digits_folder(tmp_path / "flat", classes=range(2), per_class=10)
    model = zoo.load(_digit_model(tmp_path, ["0", "1"]), framework="torch")
    notes: list[str] = []
    report = zoo.evaluate(model, folder, notes=notes)
    assert report.n == 20 and sum(sum(row) for row in report.confusion_matrix) == 20
    assert any("no test split" in n for n in notes)


@pytest.mark.tf
@pytest.mark.xdist_group("tf")
def test_same_checkpoint_same_accuracy_in_pytorch_and_keras(tmp_path: Path, digits_0_to_3: Path) -> None:
    import zoolab.zoo as zoo

    folder = _digit_model(tmp_path, ["0", "1", "2", "3"], fit_on=digits_0_to_3 / "train")
    data = zoo.data.image_folder(digits_0_to_3)
    torch_report = zoo.evaluate(zoo.load(folder, framework="torch"), data)
    keras_report = zoo.evaluate(zoo.load(folder, framework="tf"), data)
    assert torch_report.n == keras_report.n == 60
    assert keras_report.accuracy == torch_report.accuracy
    assert keras_report.confusion_matrix == torch_report.confusion_matrix
    assert keras_report.loss == pytest.approx(torch_report.loss, abs=1e-3)
    # The head carries signal: the agreement is over real, spread predictions, not one constant class.
    assert torch_report.accuracy > 0.5
    assert all(np.asarray(torch_report.confusion_matrix).sum(axis=0) > 0)


def test_saved_model_card_carries_the_scores_and_zoolab_info_shows_them(tmp_path: Path, digits_0_to_3: Path) -> None:
    from huggingface_hub import ModelCard
    from typer.testing import CliRunner

    import zoolab.hub as hub
    import zoolab.zoo as zoo
    from zoolab.cli.main import app

    model = zoo.load(_digit_model(tmp_path, ["0", "1", "2", "3"]), framework="torch")
    report = zoo.evaluate(model, digits_0_to_3)
    model.metadata["evaluation"] = report.card_entry(dataset="digits", dataset_type="imagefolder",
                                                     task=model.task)  # fmt: skip
    folder = model.save(tmp_path / "saved")
    card = ModelCard.load(folder / "README.md")  # huggingface_hub reads the scores as the Hub does
    assert card.data.datasets == ["digits"]
    accuracy = next(r for r in card.data.eval_results if r.metric_type == "accuracy")
    assert accuracy.metric_value == pytest.approx(report.accuracy, abs=1e-4)
    assert (accuracy.dataset_name, accuracy.dataset_split, accuracy.task_type) == ("digits", "test",
                                                                                  "image-classification")  # fmt: skip
    hub.publish(folder, "local:me/digits-eval", progress=False)
    result = CliRunner().invoke(app, ["info", "local:me/digits-eval"])
    assert result.exit_code == 0, result.output
    assert f"Accuracy {report.accuracy:.4f} (digits, test)" in result.stdout
    assert f"Macro F1 {report.macro_f1:.4f} (digits, test)" in result.stdout


def test_text_pairs_reach_the_model(tmp_path: Path) -> None:
    import torch

    import zoolab.zoo as zoo
    from zoolab.zoo.keras_checkpoints import make_checkpoint

    folder = make_checkpoint("bert", tmp_path / "bert", num_labels=2)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "no", "1": "yes"}, {"no": 0, "yes": 1}
    (folder / "config.json").write_text(json.dumps(config))
    rows = [("the cat sat on the mat", "a cat is on a mat", "yes"), ("the dog is red", "the dog is blue", "no"),
            ("hello world", "the world", "yes"), ("one two three", "three two one", "no"),
            ("the model is fast", "the model is slow", "no"), ("green and blue", "blue and green", "yes")]  # fmt: skip
    table = tmp_path / "pairs.jsonl"
    table.write_text("".join(json.dumps({"premise": a, "hypothesis": b, "label": y}) + "\n" for a, b, y in rows))
    model = zoo.load(folder, framework="torch")
    report = zoo.evaluate(model, table, text="premise", text_pair="hypothesis", label="label")
    # Worked out by hand: the tokenizer's pair encoding straight into the model.
    enc = model.preprocessor([r[0] for r in rows], [r[1] for r in rows], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model.model(**enc).logits.numpy()
    y = [model.labels.index(r[2]) for r in rows]
    expected = metrics_from(y, logits, model.labels)
    assert report.loss == pytest.approx(expected.loss, abs=1e-5)
    assert report.confusion_matrix == expected.confusion_matrix
    single = zoo.evaluate(model, table, text="premise", label="label")
    assert abs(single.loss - report.loss) > 1e-6  # the second text changed what the model saw


def test_unreadable_images_are_skipped_and_said(tmp_path: Path) -> None:
    import zoolab.zoo as zoo
    from finetune_support import write_digits_folder

    folder = write_digits_folder(tmp_path / "flat", classes=range(2), per_class=5)
    (folder / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    model = zoo.load(_digit_model(tmp_path, ["0", "1"]), framework="torch")
    notes: list[str] = []
    report = zoo.evaluate(model, folder, notes=notes)
    assert report.n == 10
    assert any("skipped 1 unreadable image" in n and "broken.png" in n for n in notes), notes


@pytest.mark.tf
@pytest.mark.xdist_group("tf")
def test_same_text_checkpoint_same_scores_in_pytorch_and_keras(tmp_path: Path) -> None:
    import zoolab.zoo as zoo
    from finetune_support import kaomoji_rows
    from zoolab.zoo.keras_checkpoints import make_checkpoint

    # ASCII kaomoji only: the two frameworks' BERT tokenizers still split some full-width and
    # katakana characters differently (a tokenizer matter, not an evaluation one).
    rows = [r for r in kaomoji_rows(per_class=3000, categories=("angry", "happy", "sad")) if r["text"].isascii()]
    table = tmp_path / "k.csv"
    with table.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "category"])
        writer.writeheader()
        for category in ("angry", "happy", "sad"):
            writer.writerows([r for r in rows if r["category"] == category][:6])
    folder = make_checkpoint("bert", tmp_path / "bert", num_labels=3)
    config = json.loads((folder / "config.json").read_text())
    names = ["sad", "angry", "happy"]  # not the data's sorted order
    config["id2label"], config["label2id"] = dict(enumerate(names)), {n: i for i, n in enumerate(names)}
    (folder / "config.json").write_text(json.dumps(config))
    data = zoo.data.table(table, label="category", val_split=None)
    torch_report = zoo.evaluate(zoo.load(folder, framework="torch"), data, split="train")
    keras_report = zoo.evaluate(zoo.load(folder, framework="tf"), data, split="train")
    assert torch_report.n == keras_report.n >= 12 and keras_report.labels == torch_report.labels == names
    assert keras_report.confusion_matrix == torch_report.confusion_matrix
    assert keras_report.accuracy == torch_report.accuracy
    assert keras_report.loss == pytest.approx(torch_report.loss, abs=1e-3)


def test_a_fine_tuned_models_training_scores_reach_the_card(tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    import zoolab.zoo as zoo

    model = zoo.load(_digit_model(tmp_path, ["0", "1"]), framework="torch")
    model.metadata["training"] = {"data": {"path": "/data/pets", "format": "imagefolder"},
                                  "evaluation": {"split": "test", "accuracy": 0.875, "macro_f1": 0.8, "n": 40}}  # fmt: skip
    card = ModelCard.load(model.save(tmp_path / "saved") / "README.md")
    assert card.data.datasets == ["pets"]
    scores = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert scores["accuracy"] == 0.875 and scores["f1"] == 0.8
    assert {(r.dataset_name, r.dataset_type, r.dataset_split) for r in card.data.eval_results} == {
        ("pets", "imagefolder", "test")}
