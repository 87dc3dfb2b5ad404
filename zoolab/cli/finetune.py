"""``zoolab finetune MODEL DATA`` and ``zoolab finetune plot RUN...``: parse, call, print.

Both forms share one command whose first argument decides: ``plot`` overlays the learning curves
of the runs that follow; anything else is the model to fine-tune on the data that follows. (A
Typer group would make ``plot`` a subcommand but then refuse ``MODEL DATA`` positionals.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from zoolab.cli._common import command, console, model_arg, print_json
from zoolab.errors import InvalidInputError

HELP = (
    "Fine-tune MODEL on DATA (an image folder, a CSV/JSONL/Parquet table), or `plot RUN...`.\n\n"
    "Prints the plan, then progress, then the evaluation; the last stdout line is the run folder.\n\n"
    "Examples: zoolab finetune resnet18 pets/ --epochs 3  |  zoolab finetune all-MiniLM-L6-v2 reviews.csv "
    "--text-column review --label-column stars  |  zoolab finetune --resume ~/.zoolab/runs/<run>  |  "
    "zoolab finetune plot RUN1 RUN2 --out curves.png"
)


def register(app: typer.Typer) -> None:
    """Add ``finetune`` to the root app."""
    command(app, "finetune", help=HELP)(finetune_command)


def _overrides(epochs: Optional[float], lr: Optional[float], batch_size: Optional[int], val_split: Optional[float],
               lora_rank: Optional[int], freeze: Optional[float], precision: Optional[str], device: Optional[str],
               sets: List[str]) -> list[str]:
    flags = {"schedule.epochs": epochs, "optim.lr": lr, "optim.batch_size": batch_size, "data.val_split": val_split,
             "lora.rank": lora_rank, "freeze_backbone_epochs": freeze, "precision": precision, "device": device}
    return [f"{k}={v}" for k, v in flags.items() if v is not None] + list(sets)


def _print_report(report: Any, folder: Path) -> None:
    if not hasattr(report, "per_class"):  # the loss/accuracy stand-in
        console.print("  ".join(f"{k} {v:.4f}" for k, v in report.to_dict().items()))
        return
    from zoolab.zoo.tuning.report import rich_tables

    metrics, per_class = rich_tables(report, title=f"best model on {report.split or 'validation'}")
    console.print(metrics)
    console.print(per_class)
    console.print(f"confusion matrix: {folder / 'confusion_matrix.png'}", highlight=False, soft_wrap=True)


def finetune_command(
    args: List[str] = typer.Argument(None, metavar="MODEL DATA | plot RUN...", help="What to fine-tune on what, or plot RUN..."),
    framework: str = typer.Option("torch", "--framework", help="torch or tf."),
    task: Optional[str] = typer.Option(None, "--task", help="image-classification or text-classification (default: from DATA)."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Passes over the training data (default 3)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate of the head (optim.lr)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Samples per batch (optim.batch_size)."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Table column with the texts."),
    text_pair_column: Optional[str] = typer.Option(None, "--text-pair-column", help="Second text of pair tasks."),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="Table column with the labels."),
    val_split: Optional[float] = typer.Option(None, "--val-split", help="Held-out fraction without a validation split."),
    lora_rank: Optional[int] = typer.Option(None, "--lora-rank", help="LoRA adapter rank (0 = train all weights)."),
    freeze_backbone_epochs: Optional[float] = typer.Option(None, "--freeze-backbone-epochs", help="Train only the head first."),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto, fp32, bf16 or fp16."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
    sets: List[str] = typer.Option([], "--set", help="Any setting as key=value (repeatable), e.g. --set schedule.decay=linear."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (plot: the PNG to write)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder."),
    push: Optional[str] = typer.Option(None, "--push", help="Publish the best model to SOURCE:org/name."),
    private: bool = typer.Option(False, "--private", help="With --push: a private repository."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    nproc: Optional[int] = typer.Option(None, "--nproc", help="Train in N local processes (PyTorch DDP), or on N local "
                                        "devices with --framework tf (MirroredStrategy); docs/finetune.md."),
) -> None:
    """Fine-tune a model, or plot runs."""
    args = list(args or [])
    if args and args[0] == "plot":
        return _plot(args[1:], out, json_out)
    if resume is None and len(args) != 2:
        raise InvalidInputError("give MODEL and DATA (or --resume RUN, or plot RUN...)",
                                hint="for example: zoolab finetune resnet18 pets/ --epochs 3")
    if resume is not None and len(args) not in (0, 2):
        raise InvalidInputError("with --resume give either no MODEL DATA or both")
    if private and not push:
        raise InvalidInputError("--private only applies with --push")
    from zoolab.zoo.tuning.api import finetune
    from zoolab.zoo.tuning.settings import FinetuneSettings

    overrides = _overrides(epochs, lr, batch_size, val_split, lora_rank, freeze_backbone_epochs, precision, device, sets)
    if resume is not None and overrides:
        raise InvalidInputError("a resumed run keeps its own settings; drop the setting flags")
    settings = FinetuneSettings.from_overrides(overrides)  # bad keys fail before any model loads
    data_args = {k: v for k, v in {"task": task, "text": text_column, "text_pair": text_pair_column,
                                   "label": label_column}.items() if v is not None}
    model, data = (args + [None, None])[:2]
    model = model_arg(model) if model is not None else None
    run = finetune(model, data, settings=settings, out=out, resume=resume, framework=framework,
                   data_args=data_args, quiet=json_out, nproc=nproc)
    if run.evaluation is None:  # a process other than rank 0 of a torchrun launch: rank 0 reports
        return
    pushed = None
    if push:
        from zoolab.hub.publishing import publish

        pushed = publish(run.folder / "best", push, private=private, progress=not json_out)
    if json_out:
        print_json({"run": str(run.folder), "stopped": run.stopped, "best": run.best, "notes": run.notes,
                    "evaluation": run.evaluation.to_dict(), "pushed": push if pushed else None})
        return
    _print_report(run.evaluation, run.folder)
    if pushed is not None:
        console.print(f"published {push}")
    typer.echo(str(run.folder))


def _plot(runs: list[str], out: Optional[Path], json_out: bool) -> None:
    if not runs:
        raise InvalidInputError("give at least one run folder to plot", hint="zoolab finetune plot RUN [RUN...]")
    from zoolab.zoo.tuning.runfolder import RunFolder, plot_runs

    folders = [RunFolder.open(Path(r)).path for r in runs]
    target = out or (folders[0] / "learning_curves.png" if len(folders) == 1 else Path("learning_curves.png"))
    plot_runs(folders, out=target)
    if json_out:
        print_json({"plot": str(target), "runs": [str(f) for f in folders]})
    else:
        typer.echo(str(target))
