"""zoo.data: image folders, tables and datasets objects read as labelled splits, and the clear
error every bad input gets. Real data: scikit-learn's digits images and the kaomoji package."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from zoolab.errors import InvalidInputError
from zoolab.zoo import data as zdata


def _digits_folder(root: Path, classes: range = range(10), per_class: int = 20, split: str | None = None) -> Path:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    base = root / split if split else root
    for c in classes:
        (base / str(c)).mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(digits.target == c)[:per_class]:
            img = (digits.images[i] * (255 / 16)).astype(np.uint8)
            Image.fromarray(img).resize((16, 16)).save(base / str(c) / f"{i}.png")
    return root


def _kaomoji_csv(path: Path, categories: tuple[str, ...] = ("happy", "sad", "angry", "cool"), per: int = 50) -> Path:
    import kaomoji_dataset

    rows = []
    for cat in categories:
        rows += [(k["text"], cat) for k in kaomoji_dataset.by_category(cat, limit=per)]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["kaomoji", "category", "extra"])
        writer.writerows((t, c, "x") for t, c in rows)
    return path


def test_image_folder_holds_out_a_stratified_validation_split(tmp_path: Path) -> None:
    data = zdata.image_folder(_digits_folder(tmp_path / "d"), val_split=0.2, seed=3)
    assert data.task == "image-classification"
    assert data.labels == [str(i) for i in range(10)]
    assert data.sizes == {"train": 160, "validation": 40}
    assert Counter(data["validation"]["label"]) == {i: 4 for i in range(10)}  # stratified
    assert any("held out 40 of 200" in n for n in data.notes)
    row = data["train"][0]
    assert row["image"].size == (16, 16) and isinstance(row["label"], int)
    again = zdata.image_folder(tmp_path / "d", val_split=0.2, seed=3)
    assert again["validation"]["image"][0].tobytes() == data["validation"]["image"][0].tobytes()  # seeded


def test_image_folder_with_split_folders_keeps_them(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _digits_folder(root, range(3), 10, "train")
    _digits_folder(root, range(3), 4, "val")
    _digits_folder(root, range(3), 3, "test")
    data = zdata.image_folder(root)
    assert data.sizes == {"train": 30, "validation": 12, "test": 9}
    assert not any("held out" in n for n in data.notes)


def test_unreadable_images_are_skipped_counted_and_named(tmp_path: Path) -> None:
    root = _digits_folder(tmp_path / "d", range(2), 10)
    (root / "0" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "1" / "empty.jpg").write_bytes(b"")
    data = zdata.image_folder(root)
    assert sum(data.sizes.values()) == 20
    note = next(n for n in data.notes if "unreadable" in n)
    assert "2 unreadable" in note and "0/broken.png" in note and "1/empty.jpg" in note


@pytest.mark.parametrize("case", ["missing", "empty", "one-class", "file"])
def test_bad_image_folders_get_one_clear_error(tmp_path: Path, case: str) -> None:
    root = tmp_path / "d"
    if case == "empty":
        root.mkdir()
    elif case == "one-class":
        _digits_folder(root, range(1), 5)
    elif case == "file":
        root.write_text("x")
    with pytest.raises(InvalidInputError) as err:
        zdata.image_folder(root)
    message = str(err.value)
    assert "\n" not in message and str(root) in message
    assert {"missing": "does not exist", "empty": "no images", "one-class": "single label",
            "file": "is a file"}[case] in message  # fmt: skip


def test_validation_label_unknown_to_training_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _digits_folder(root, range(2), 5, "train")
    _digits_folder(root, range(3), 2, "validation")
    with pytest.raises(InvalidInputError, match="labels the training split lacks: 2"):
        zdata.image_folder(root)


def test_kaomoji_table_csv_jsonl_parquet_agree(tmp_path: Path) -> None:
    path = _kaomoji_csv(tmp_path / "k.csv")
    by_csv = zdata.table(path, text="kaomoji", label="category")
    assert by_csv.task == "text-classification"
    assert by_csv.labels == ["angry", "cool", "happy", "sad"]
    assert sorted(by_csv["train"].column_names) == ["label", "text"]
    assert sum(by_csv.sizes.values()) == 200
    import datasets

    raw = datasets.load_dataset("csv", data_files=str(path))["train"]
    raw.to_json(tmp_path / "k.jsonl")
    raw.to_parquet(tmp_path / "k.parquet")
    for other in ("k.jsonl", "k.parquet"):
        table = zdata.table(tmp_path / other, text="kaomoji", label="category")
        assert table.labels == by_csv.labels
        assert table["validation"]["text"] == by_csv["validation"]["text"]


def test_table_errors_name_the_columns_it_has(tmp_path: Path) -> None:
    path = _kaomoji_csv(tmp_path / "k.csv")
    with pytest.raises(InvalidInputError) as err:
        zdata.table(path, text="review", label="category")
    assert "no column 'review'" in str(err.value) and "kaomoji, category, extra" in str(err.value)
    with pytest.raises(InvalidInputError, match="single label"):
        zdata.table(path, text="kaomoji", label="extra")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInputError, match="not a table"):
        zdata.table(tmp_path / "notes.txt", text="a", label="b")
    with pytest.raises(InvalidInputError, match="does not exist"):
        zdata.load_data(tmp_path / "nope.csv")


def test_empty_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": "a" if i % 2 else "b"} for i in range(40)]
    rows += [{"text": "", "label": "a"}, {"text": "x", "label": None}]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    data = zdata.table(path)
    assert sum(data.sizes.values()) == 40
    assert any("dropped 2 row(s)" in n for n in data.notes)


def test_text_pairs_and_numeric_labels(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["premise", "hypothesis", "stars"])
        for i in range(30):
            writer.writerow([f"p {i}", f"h {i}", [1, 2, 10][i % 3]])
    data = zdata.table(path, text="premise", text_pair="hypothesis", label="stars")
    assert data.has_pairs and data.labels == ["1", "2", "10"]  # numbers sort as numbers
    row = data["train"][0]
    assert set(row) == {"text", "text_pair", "label"}


def test_datasets_objects_and_load_data_dispatch(tmp_path: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"sentence": [f"s{i}" for i in range(20)], "y": [i % 2 for i in range(20)]})
    ds = ds.cast_column("y", datasets.ClassLabel(names=["neg", "pos"]))
    data = zdata.from_datasets(datasets.DatasetDict({"train": ds, "test": ds}), text="sentence", label="y")
    assert data.labels == ["neg", "pos"] and set(data.splits) == {"train", "validation", "test"}
    assert zdata.load_data(data) is data
    assert zdata.load_data(_digits_folder(tmp_path / "d", range(2), 5)).task == "image-classification"
    assert zdata.load_data(tmp_path / "d", task="image-classification").labels == ["0", "1"]
    with pytest.raises(InvalidInputError, match="image-classification data, not text-classification"):
        zdata.load_data(zdata.image_folder(tmp_path / "d"), task="text-classification")
