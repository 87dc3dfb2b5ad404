"""Fixtures for fine-tuning tests: the real digits images as a folder, a tiny timm model
"pretrained" on digits 0-4 (seconds on CPU), and labelled data built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoolab.zoo.data import LabelledData

TINY_INPUT = (3, 32, 32)


def write_digits(folder: Path, classes: range | list[int], per_class: int | None = None) -> Path:
    """scikit-learn's 8x8 digits as ``folder/<digit>/<i>.png`` (grey, upscaled to 16x16)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c in classes:
        (folder / str(c)).mkdir(parents=True, exist_ok=True)
        idx = np.flatnonzero(digits.target == c)[:per_class]
        for i in idx:
            img = (digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
            Image.fromarray(img, mode="L").resize((16, 16), Image.NEAREST).save(folder / str(c) / f"{i:04d}.png")
    return folder


def digits_data(classes: list[int], per_class: int | None = None, seed: int = 0) -> LabelledData:
    """Digits ``classes`` as in-memory image splits train/validation (80/20, stratified)."""
    import datasets
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    labels = [str(c) for c in classes]
    imgs, ys = [], []
    for k, c in enumerate(classes):
        for i in np.flatnonzero(digits.target == c)[:per_class]:
            img = (digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
            imgs.append(Image.fromarray(img, mode="L").resize((16, 16), Image.NEAREST).convert("RGB"))
            ys.append(k)
    order = np.random.default_rng(seed).permutation(len(ys))
    cut = int(len(ys) * 0.8)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})

    def split(ids: np.ndarray) -> Any:
        return datasets.Dataset.from_dict({"image": [imgs[i] for i in ids], "label": [ys[i] for i in ids]}, features=features)

    dd = datasets.DatasetDict({"train": split(order[:cut]), "validation": split(order[cut:])})
    return LabelledData(dd, labels, "image-classification", [], {"format": "digits"})


def tiny_pretrained(folder: Path, seed: int = 0) -> Path:
    """A timm ``test_resnet`` at 32x32 trained briefly on digits 0-4, saved in timm's hub format."""
    import timm
    import torch
    from timm.models import save_for_hf

    torch.manual_seed(seed)
    model = timm.create_model("test_resnet", num_classes=5,
                              pretrained_cfg_overlay={"input_size": TINY_INPUT, "crop_pct": 1.0, "mean": (0.5,) * 3,
                                                      "std": (0.5,) * 3, "interpolation": "bilinear"})
    import timm.data

    tf = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    data = digits_data([0, 1, 2, 3, 4])["train"]
    x = torch.stack([tf(img) for img in data["image"]])
    y = torch.tensor(data["label"])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(3):
        for i in range(0, len(y), 64):
            loss = torch.nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    folder.mkdir(parents=True, exist_ok=True)
    save_for_hf(model, str(folder), model_config={"label_names": ["0", "1", "2", "3", "4"]}, safe_serialization=True)
    return folder


# ---------------------------------------------------------------------------------------------
# Real data on disk, in the layouts users hand to zoo.data / `zoolab finetune` / `zoolab evaluate`

DIGITS_SIZE = 32
"""Side of the digits PNGs written by :func:`write_digits_folder` (timm's tiny models take 32x32)."""
KAOMOJI_CATEGORIES = ("angry", "fight", "greeting", "happy", "sad", "sleepy", "surprised", "sympathy")
"""Eight of the larger kaomoji-dataset categories (each has 2,400+ rows)."""


def write_digits_folder(folder: Path, *, classes: range | list[int] = range(10), per_class: int | None = None,
                        size: int = DIGITS_SIZE, splits: dict[str, float] | None = None) -> Path:
    """scikit-learn's 1,797 real 8x8 digits as RGB PNGs ``folder/<digit>/<index>.png`` (``size`` px).

    ``splits`` (e.g. ``{"train": 0.8, "test": 0.2}``) writes ``folder/<split>/<digit>/*.png`` instead,
    each digit's images cut in that ratio in index order (deterministic).
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c in classes:
        idx = np.flatnonzero(digits.target == c)[:per_class]
        cuts = [("", idx)]
        if splits:
            bounds = np.cumsum([0.0, *splits.values()]) / sum(splits.values())
            cuts = [(name, idx[int(round(lo * len(idx))):int(round(hi * len(idx)))])
                    for name, lo, hi in zip(splits, bounds[:-1], bounds[1:])]
        for split, chosen in cuts:
            out = folder / split / str(c) if split else folder / str(c)
            out.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                grey = (digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
                img = Image.fromarray(grey, mode="L").resize((size, size), Image.BILINEAR).convert("RGB")
                img.save(out / f"{i:04d}.png")
    return folder


def kaomoji_rows(per_class: int = 60, categories: tuple[str, ...] = KAOMOJI_CATEGORIES,
                 seed: int = 0) -> list[dict[str, str]]:
    """``{"text", "category"}`` rows of the real kaomoji-dataset: ``per_class`` distinct texts per
    category, drawn with ``seed``, in a shuffled (seeded) order."""
    import kaomoji_dataset

    rng = np.random.default_rng(seed)
    by_cat: dict[str, list[str]] = {c: [] for c in categories}
    seen: set[str] = set()
    for row in kaomoji_dataset.load():
        text = row["text"]
        if row["category"] in by_cat and text not in seen and text.strip():
            seen.add(text)
            by_cat[row["category"]].append(text)
    rows = []
    for cat in categories:
        texts = by_cat[cat]
        pick = rng.choice(len(texts), size=min(per_class, len(texts)), replace=False)
        rows += [{"text": texts[i], "category": cat} for i in sorted(pick)]
    return [rows[i] for i in rng.permutation(len(rows))]


def write_kaomoji_csv(path: Path, *, per_class: int = 60, categories: tuple[str, ...] = KAOMOJI_CATEGORIES,
                      seed: int = 0) -> Path:
    """A CSV (columns ``text,category``) of :func:`kaomoji_rows`; ``zoo.data.table(path, label="category")``."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(kaomoji_rows(per_class, categories, seed))
    return path
