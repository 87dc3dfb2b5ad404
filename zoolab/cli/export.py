"""CLI command ``zoolab export``: write a model in a deployment format and show the check."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoolab.cli._common import command, console, fail, model_arg, print_json

_FORMATS = "torchscript, pt2, onnx (from PyTorch); savedmodel, tflite (from TensorFlow/Keras)"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def register(app: typer.Typer) -> None:
    """Add ``zoolab export`` to the root app."""

    @command(app, "export")
    def export(
        ref: str = typer.Argument(..., help="Catalog name, repo id (SOURCE:org/name) or model folder."),
        fmt: str = typer.Option(..., "--format", "-f", help=f"Export format: {_FORMATS}."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (folder for savedmodel)."),
        framework: Optional[str] = typer.Option(
            None, "--framework", help="torch or tf; must be the framework the format is made from."
        ),
        json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Export a model and check the export by running it against the source model.

        The check runs the exported file (torch.jit.load, torch.export.load, onnxruntime,
        tf.saved_model.load, the TFLite interpreter) on the same preprocessed samples as the source
        model (two batches of different size) and compares the largest absolute difference with
        the format's tolerance. The command fails (exit 1) when the check does not pass.

        Example: zoolab export ./my-bert --format onnx --out my-bert.onnx
        """
        from zoolab.zoo.export import export_model

        report = export_model(model_arg(ref), fmt, out, framework=framework)
        if json_output:
            print_json(report)
        else:
            from rich.table import Table

            from zoolab.cli._common import print_table, whole_column

            table = Table("format", whole_column("path", [report.path]), "size", "shapes", "max abs diff",
                          "tolerance", "pass", title=f"export check: {ref}")
            table.add_row(
                report.format, str(report.path), _size(report.size_bytes),
                "any batch" if report.flexible_shapes else "as traced", f"{report.max_abs_diff:.3g}",
                f"{report.tolerance:g}", "[green]yes[/]" if report.passed else "[red]no[/]",
            )  # fmt: skip
            print_table(table)
        if not report.passed:
            raise fail(
                f"the {report.format} export differs from the source model by {report.max_abs_diff:.3g} "
                f"(tolerance {report.tolerance:g}); do not deploy it"
            )
