"""CLI command ``zoolab export``. Filled in by its feature; registers nothing yet."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``zoolab export`` to the root app."""
