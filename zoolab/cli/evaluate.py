"""``zoolab evaluate MODEL DATA``: parse, call :func:`zoolab.zoo.evaluate`, print."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoolab.cli._common import command, console, err_console, model_arg, print_json

HELP = (
    "Evaluate a classifier on labelled DATA: accuracy, top-5, macro/weighted F1, per-class "
    "precision/recall/F1, confusion matrix, calibration error.\n\n"
    "MODEL is a catalog name, SOURCE:org/name or a model folder; DATA an image folder "
    "(DATA/<label>/* or DATA/test/<label>/*), a CSV/TSV/JSONL/Parquet table or a dataset repo. "
    "A folder or table without splits is evaluated whole. Labels are matched by name.\n\n"
    "Examples: zoolab evaluate pets-run/best pets/ --split test  |  "
    "zoolab evaluate local:me/reviews reviews.csv --text-column review --label-column stars --json"
)


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to the root app."""
    command(app, "evaluate", help=HELP)(evaluate_command)


def evaluate_command(
    model: str = typer.Argument(..., metavar="MODEL", help="Catalog name, SOURCE:org/name or model folder."),
    data: str = typer.Argument(..., metavar="DATA", help="Image folder, table file or dataset repo."),
    framework: str = typer.Option("torch", "--framework", "-f", metavar="torch|tf", help="Framework to load the model in."),
    split: str = typer.Option("test", "--split", metavar="SPLIT", help="Split to evaluate (test, validation, train)."),
    text_column: Optional[str] = typer.Option(None, "--text-column", metavar="COLUMN", help="Text column of a table (default: text)."),
    text_pair_column: Optional[str] = typer.Option(None, "--text-pair-column", metavar="COLUMN", help="Second text column, for text-pair tasks."),
    label_column: Optional[str] = typer.Option(None, "--label-column", metavar="COLUMN", help="Label column of a table (default: label)."),
    batch_size: int = typer.Option(64, "--batch-size", metavar="N", min=1, help="Rows per forward pass."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Write evaluation.json and confusion_matrix.png here (default: a new folder under ZOOLAB_HOME/evaluations)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Evaluate MODEL on DATA."""
    import time

    from zoolab import settings
    from zoolab.zoo.tuning.evaluation import evaluate
    from zoolab.zoo.tuning.report import rich_tables

    data_args = {"text": text_column, "text_pair": text_pair_column, "label": label_column}
    notes: list[str] = []
    model = model_arg(model)
    report = evaluate(model, data, split=split, framework=framework, batch_size=batch_size, notes=notes,
                      **{k: v for k, v in data_args.items() if v is not None})  # fmt: skip
    folder = out or settings.zoolab_home() / "evaluations" / time.strftime("evaluation-%Y%m%d-%H%M%S")
    report.save(folder)
    if as_json:
        print_json({**report.to_dict(), "notes": notes, "folder": str(folder),
                    "confusion_matrix_png": str(Path(folder) / "confusion_matrix.png")})  # fmt: skip
        return
    for note in notes:
        err_console.print(f"note: {note}", highlight=False)
    metrics, per_class = rich_tables(report, title=f"{model} on {data} ({report.split})")
    console.print(metrics)
    console.print(per_class)
    console.print(f"confusion matrix: {Path(folder) / 'confusion_matrix.png'}", highlight=False, soft_wrap=True)
