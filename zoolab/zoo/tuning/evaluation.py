"""Evaluation of classifiers: ``zoo.evaluate(model, data)`` and the metrics behind it.

    >>> report = zoo.evaluate(model, data["test"])      # or zoo.evaluate("local:me/pets", "pets/")
    >>> report.accuracy, report.macro_f1, report.per_class[0]
    >>> report.plot_confusion_matrix()                    # a matplotlib figure, inline in Jupyter

:func:`metrics_from` turns labels and logits into an :class:`EvaluationReport`: scikit-learn's
definitions (``precision_recall_fscore_support``, ``f1_score``, ``confusion_matrix`` with
``zero_division=0``) worked out from one numpy confusion matrix, because importing scikit-learn
took seconds of every fine-tuning run (the ``evaluate`` library fetches its metric scripts from
the network, so it is not used either).
The trainers call it on every validation; :func:`evaluate` runs any model zoolab loads, in either
framework, over a split and matches its labels to the data's by name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoolab.errors import InvalidInputError, UnsupportedError

ECE_BINS = 15
"""Equal-width confidence bins of the expected calibration error (Guo et al., 2017)."""
_CLASSIFIERS = ("image-classification", "text-classification")


@dataclass
class EvaluationReport:
    """Classification metrics of one model on one split."""

    labels: list[str]
    """The class names the per-class rows and the confusion matrix follow."""
    n: int
    """Rows evaluated."""
    loss: float
    """Mean cross-entropy."""
    accuracy: float
    top5_accuracy: float | None
    """Share of rows whose label is among the 5 highest scores; None with 5 labels or fewer."""
    macro_f1: float
    weighted_f1: float
    ece: float
    """Expected calibration error of the top-1 probability (15 equal-width bins)."""
    per_class: list[dict[str, Any]] = field(default_factory=list)
    """``{"label", "precision", "recall", "f1", "support"}`` per class."""
    confusion_matrix: list[list[int]] = field(default_factory=list)
    """Rows: true class; columns: predicted class (order of ``labels``)."""
    split: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON types."""
        return asdict(self)

    def summary(self) -> dict[str, float]:
        """The headline numbers (for tables, ``zoolab.json`` and the card)."""
        keys = ("loss", "accuracy", "top5_accuracy", "macro_f1", "weighted_f1", "ece")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def save(self, folder: str | Path) -> Path:
        """Write ``evaluation.json`` and ``confusion_matrix.png`` into ``folder``; return the JSON path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "evaluation.json"
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        from zoolab.zoo.tuning.report import save_figure

        save_figure(self.plot_confusion_matrix(), folder / "confusion_matrix.png")
        return path

    def plot_confusion_matrix(self, normalize: bool = True) -> Any:
        """A matplotlib figure of the confusion matrix (rows normalised to recall by default)."""
        from zoolab.zoo.tuning.report import confusion_figure

        return confusion_figure(self, normalize=normalize)

    def card_entry(self, *, dataset: str, dataset_type: str, task: str) -> dict[str, Any]:
        """What ``zoolab.json``'s ``evaluation`` holds and the card's ``model-index`` is made from."""
        return {"task": task, "dataset": {"name": dataset, "type": dataset_type, "split": self.split or "test"},
                "metrics": self.summary(), "n": self.n}  # fmt: skip

    def model_index(self, model_name: str, *, task: str, dataset_name: str, dataset_type: str = "custom",
                    split: str | None = None) -> list[dict[str, Any]]:
        """The Hugging Face ``model-index`` block (a list) for a model card's front matter."""
        from zoolab.zoo.tuning.report import model_index

        entry = self.card_entry(dataset=dataset_name, dataset_type=dataset_type, task=task)
        if split is not None:
            entry["dataset"]["split"] = split
        return model_index(model_name, entry)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in self.summary().items())
        return f"EvaluationReport(n={self.n}, {shown})"

    def _repr_html_(self) -> str:  # a readable table in a notebook
        from zoolab.zoo.tuning.report import report_html

        return report_html(self)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width confidence bins of (bin share) x |accuracy - mean confidence|."""
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin b holds confidences in (edges[b], edges[b+1]]; a confidence of exactly 0 goes to bin 0.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def _per_class_scores(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 and support per class of confusion matrix ``cm`` (rows: truth), 0 where
    a ratio has nothing to divide by, and the mask of classes that occur in the truth or the
    predictions (the ones scikit-learn's macro and weighted averages run over)."""
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    precision, recall = ratio(tp, predicted.astype(np.float64)), ratio(tp, support.astype(np.float64))
    # F1 as 2 tp / (support + predicted): scikit-learn's form, equal to 2PR / (P + R)
    f1 = ratio(2 * tp, (support + predicted).astype(np.float64))
    return precision, recall, f1, support, (support + predicted) > 0


def metrics_from(y_true: Any, logits: Any, labels: list[str], split: str | None = None) -> EvaluationReport:
    """Metrics of ``logits`` (N, C) against integer labels ``y_true`` (N,), classes named ``labels``.

    Per-class rows and the confusion matrix cover every class in ``labels``; macro-F1 averages
    over the classes that occur in ``y_true`` or in the predictions (scikit-learn's default).

    Raises:
        InvalidInputError: shapes that do not match, or a label id outside ``labels``.
    """
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] != len(y):
        raise InvalidInputError(f"logits of shape {z.shape} do not match {len(y)} labels")
    if z.shape[1] != len(labels):
        raise InvalidInputError(f"logits have {z.shape[1]} columns for {len(labels)} labels")
    if len(y) and (y.min() < 0 or y.max() >= len(labels)):
        raise InvalidInputError(f"label ids must lie in 0..{len(labels) - 1}")
    if len(y) == 0:
        raise InvalidInputError("nothing to evaluate: the split is empty")
    logp = _log_softmax(z)
    pred = z.argmax(axis=1)
    probs = np.exp(logp)
    correct = (pred == y).astype(np.float64)
    top5 = None
    if len(labels) > 5:
        best5 = np.argpartition(-z, 5, axis=1)[:, :5]
        top5 = float((best5 == y[:, None]).any(axis=1).mean())
    cm = np.bincount(y * len(labels) + pred, minlength=len(labels) ** 2).reshape(len(labels), len(labels))
    p, r, f, support, present = _per_class_scores(cm)
    per_class = [{"label": labels[i], "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                  "support": int(support[i])} for i in range(len(labels))]  # fmt: skip
    return EvaluationReport(
        labels=list(labels),
        n=int(len(y)),
        loss=float(-logp[np.arange(len(y)), y].mean()),
        accuracy=float(correct.mean()),
        top5_accuracy=top5,
        macro_f1=float(f[present].mean()),
        weighted_f1=float(np.average(f[present], weights=support[present])),
        ece=expected_calibration_error(probs.max(axis=1), correct),
        per_class=per_class,
        confusion_matrix=cm.tolist(),
        split=split,
    )


def label_map(model_labels: list[str] | None, data_labels: list[str], model_name: str) -> np.ndarray:
    """For each data label id, the model's output column of the same name.

    Raises:
        InvalidInputError: the model has no label names, or lacks some of the data's labels.
    """
    if not model_labels:
        raise InvalidInputError(f"{model_name} has no label names to match the data's labels with")
    index = {name: i for i, name in enumerate(model_labels)}
    unknown = [name for name in data_labels if name not in index]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        known = ", ".join(model_labels[:8]) + (" ..." if len(model_labels) > 8 else "")
        raise InvalidInputError(f"the data has label(s) {model_name} does not know: {shown}",
                                hint=f"its labels are: {known}; fine-tune it on this data first")  # fmt: skip
    return np.array([index[name] for name in data_labels], dtype=np.int64)


def _pick_split(data: Any, split: str) -> tuple[Any, str, list[str]]:
    """The split to evaluate, falling back (and saying so) when the data has no such split."""
    notes: list[str] = []
    if split in data.splits:
        return data.splits[split], split, notes
    if split != "test":  # only the default falls back; a split asked for by name must exist
        raise InvalidInputError(f"the data has no {split} split; it has: {', '.join(data.splits)}")
    for other in ("test", "validation", "train"):
        if other in data.splits and (other != "train" or len(data.splits) == 1):
            what = "all of it" if other == "train" else f"the {other} split"
            notes.append(f"the data has no {split} split: evaluated {what} ({len(data.splits[other])} rows)")
            return data.splits[other], other, notes
    raise InvalidInputError(f"the data has no {split} split; it has: {', '.join(data.splits)}")


def model_logits(loaded: Any, dataset: Any, batch_size: int = 64) -> np.ndarray:
    """Logits ``(N, C)`` of ``loaded`` over a normalised split, in row order.

    The framework's trainer computes them with the same eval preprocessing as training.
    """
    import importlib

    from zoolab.zoo.tuning.api import TRAINERS

    try:
        trainer = importlib.import_module(TRAINERS[loaded.framework])
    except ModuleNotFoundError as exc:
        if exc.name != TRAINERS[loaded.framework]:
            raise
        trainer = None
    if trainer is not None and hasattr(trainer, "logits"):
        return np.asarray(trainer.logits(loaded, dataset, batch_size), dtype=np.float32)
    # Without a trainer module, the backend's own inference path (single inputs only).
    if "text_pair" in dataset.column_names:
        raise UnsupportedError("text-pair evaluation needs zoolab's fine-tuning trainers")
    column = "image" if "image" in dataset.column_names else "text"
    chunks = [loaded.backend.run(loaded, list(dataset[i:i + batch_size][column]))
              for i in range(0, len(dataset), batch_size)]  # fmt: skip
    return np.concatenate(chunks).astype(np.float32)


def evaluate(
    model: Any,
    data: Any,
    *,
    split: str = "test",
    framework: str = "torch",
    batch_size: int = 64,
    notes: list[str] | None = None,
    **data_args: Any,
) -> EvaluationReport:
    """Evaluate ``model`` (a LoadedModel, or any ref ``zoo.load`` takes) on ``split`` of ``data``.

    ``data`` is a LabelledData, a ``datasets`` split, or anything ``zoo.data.load_data`` reads
    (``data_args``: ``text``, ``text_pair``, ``label``). A folder or table without splits is
    evaluated whole. Labels are matched by name; ``notes`` (a list) receives what the user
    should be told, such as a split fallback.

    Raises:
        InvalidInputError: a data label the model does not know, or an empty split.
        UnsupportedError: the model is not a classifier, or its kind does not fit the data.
    """
    from zoolab.zoo.data import LabelledData, from_datasets, load_data
    from zoolab.zoo.loaded import LoadedModel

    if isinstance(data, LabelledData):
        labelled = data
    elif hasattr(data, "column_names") and "label" in data.column_names and data_args.get("labels"):
        labelled = None  # a normalised split with its label names passed in
    elif hasattr(data, "column_names") or type(data).__name__ == "DatasetDict":
        labelled = from_datasets(data, val_split=None, **{k: v for k, v in data_args.items() if k != "labels"})
    else:
        labelled = load_data(data, val_split=None, **data_args)
    if labelled is None:
        dataset, used, data_labels, picked = data, split, list(data_args["labels"]), []
    else:
        dataset, used, picked = _pick_split(labelled, split)
        data_labels = labelled.labels
    # The data is read (and its errors raised) before the model is loaded, which takes longer.
    loaded = model if isinstance(model, LoadedModel) else _load(model, framework)
    if loaded.task not in _CLASSIFIERS:
        raise UnsupportedError(f"{_name(loaded)} is a {loaded.task} model; evaluation takes classifiers",
                               hint="fine-tune it on labelled data first (zoolab finetune)")  # fmt: skip
    if labelled is not None:
        _check_kind(loaded, labelled.task)
    if notes is not None:  # what reading the data found (skipped images, dropped rows) and the split used
        notes.extend([*(labelled.notes if labelled is not None else []), *picked])
    columns = label_map(loaded.labels, data_labels, _name(loaded))
    logits = model_logits(loaded, dataset, batch_size)
    y_model = columns[np.asarray(dataset["label"], dtype=np.int64)]
    return metrics_from(y_model, logits, list(loaded.labels), split=used)


def _load(ref: Any, framework: str) -> Any:
    from zoolab.zoo.loading import load

    return load(str(ref), framework=framework)


def _name(loaded: Any) -> str:
    meta = loaded.metadata or {}
    return str(meta.get("ref") or meta.get("repo_id") or meta.get("path") or "the model")


def _check_kind(loaded: Any, task: str) -> None:
    if loaded.task != task:
        raise UnsupportedError(f"{_name(loaded)} is an {loaded.task} model and the data is {task} data")
