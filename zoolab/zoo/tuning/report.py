"""How an :class:`~zoolab.zoo.tuning.evaluation.EvaluationReport` is shown: figures, terminal
tables, notebook HTML, and the Hugging Face ``model-index`` block of a model card."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

_TASK_NAMES = {"image-classification": "Image Classification", "text-classification": "Text Classification"}
_METRIC_NAMES = {  # model-index metric type, display name, and scikit-learn args where they matter
    "accuracy": ("accuracy", "Accuracy", None),
    "top5_accuracy": ("top_5_accuracy", "Top-5 accuracy", None),
    "macro_f1": ("f1", "Macro F1", {"average": "macro"}),
    "weighted_f1": ("f1", "Weighted F1", {"average": "weighted"}),
    "loss": ("loss", "Cross-entropy loss", None),
    "ece": ("ece", "Expected calibration error", {"bins": 15}),
}


def save_figure(figure: Any, path: Path) -> Path:
    """Write a matplotlib figure as PNG, without touching pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def confusion_figure(report: Any, normalize: bool = True) -> Any:
    """The confusion matrix as a figure: colour by row share (recall), counts written in small matrices."""
    import numpy as np
    from matplotlib.figure import Figure

    counts = np.asarray(report.confusion_matrix, dtype=float)
    labels = report.labels
    n = len(labels)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    size = min(max(4.0, 0.45 * n + 2), 18.0)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class" if normalize else "rows")
    ticks = range(n)
    small = n <= 30  # past that, tick labels and counts would overlap
    ax.set_xticks(list(ticks), labels if small else [""] * n, rotation=45 if n > 6 else 0, ha="right" if n > 6 else "center")
    ax.set_yticks(list(ticks), labels if small else [""] * n)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                            color="white" if shown[i, j] > 0.5 * (shown.max() or 1) else "black")  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix ({report.split or 'evaluation'}, n={report.n}, accuracy {report.accuracy:.3f})")
    fig.tight_layout()
    return fig


def summary_rows(report: Any) -> list[tuple[str, str]]:
    """(metric, value) rows for a table."""
    rows = [("rows", f"{report.n:,}"), ("accuracy", f"{report.accuracy:.4f}")]
    if report.top5_accuracy is not None:
        rows.append(("top-5 accuracy", f"{report.top5_accuracy:.4f}"))
    rows += [("macro F1", f"{report.macro_f1:.4f}"), ("weighted F1", f"{report.weighted_f1:.4f}"),
             ("loss", f"{report.loss:.4f}"), ("calibration error (ECE)", f"{report.ece:.4f}")]  # fmt: skip
    return rows


def rich_tables(report: Any, title: str = "evaluation") -> tuple[Any, Any]:
    """Two rich tables: the headline metrics and the per-class precision / recall / F1 / support."""
    from rich.table import Table

    metrics = Table(title=title)
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in summary_rows(report):
        metrics.add_row(name, value)
    per_class = Table(title="per class")
    for column in ("label", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "label" else "right", overflow="fold")
    for row in report.per_class:
        per_class.add_row(row["label"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                          str(row["support"]))  # fmt: skip
    return metrics, per_class


def report_html(report: Any) -> str:
    """A compact HTML table for notebooks (stays readable in a saved .ipynb)."""
    head = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:right'>{html.escape(v)}</td></tr>"
                   for k, v in summary_rows(report))  # fmt: skip
    rows = "".join(
        f"<tr><td>{html.escape(r['label'])}</td><td>{r['precision']:.3f}</td><td>{r['recall']:.3f}</td>"
        f"<td>{r['f1']:.3f}</td><td>{r['support']}</td></tr>" for r in report.per_class)
    return (f"<table><tr><th>metric</th><th>value</th></tr>{head}</table>"
            f"<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{rows}</table>")


def model_index(name: str, evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's ``model-index`` (Hugging Face schema) from ``EvaluationReport.card_entry`` output."""
    task = evaluation.get("task") or "image-classification"
    metrics = []
    for key, value in (evaluation.get("metrics") or {}).items():
        if key not in _METRIC_NAMES or value is None:
            continue
        kind, display, args = _METRIC_NAMES[key]
        metric = {"type": kind, "value": round(float(value), 4), "name": display}
        if args:
            metric["args"] = args
        metrics.append(metric)
    dataset = dict(evaluation.get("dataset") or {})
    return [{"name": name, "results": [{
        "task": {"type": task, "name": _TASK_NAMES.get(task, task)},
        "dataset": {"name": str(dataset.get("name") or "custom"), "type": str(dataset.get("type") or "custom"),
                    "split": str(dataset.get("split") or "test")},
        "metrics": metrics,
    }]}]  # fmt: skip
