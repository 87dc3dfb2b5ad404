"""Pieces every CLI command group shares: consoles, error handling, JSON output.

Commands parse arguments, call the library and print; they hold no logic of their own.
Register commands with :func:`command` instead of ``app.command`` so every zoolab error becomes
one readable line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import asdict, is_dataclass
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console

from zoolab import settings
from zoolab.cli._params import JSON_FLAGS, ZoolabCommand
from zoolab.errors import ZoolabError

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)


MAX_ERROR_CHARS = 600
"""Longer error texts (a library's tensor dump, a server page) are cut: the first part says it."""


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``message`` on one line (whitespace runs squashed), cut to ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr (one line, bounded length) and return the Exit to raise."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def error_code(exc: BaseException) -> str:
    """The stable code of an error in ``--json`` output: the Hub's ``X-Error-Code`` where the
    protocol has one (``RepoNotFound``), else the class name without ``Error`` (``Offline``)."""
    code = getattr(exc, "error_code", None)
    if code:
        return str(code)
    name = type(exc).__name__
    return name[: -len("Error")] if name.endswith("Error") and name != "Error" else name


def print_json_error(code: str, message: str, hint: str | None = None) -> None:
    """Write ``{"error": {"code", "message"[, "hint"]}}`` on stdout, for a command run with ``--json``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if hint:
        error["hint"] = hint
    print_json({"error": error})


def handle_errors(fn: F) -> F:
    """Turn zoolab errors (and Ctrl-C) raised by ``fn`` into one stderr line and an exit code.

    A command called with ``--json`` gets the error as a JSON object on stdout instead, with
    the same exit code, so scripts parse one format whatever happens.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = any(kwargs.get(name) is True for name in JSON_FLAGS)
        try:
            return fn(*args, **kwargs)
        except ZoolabError as exc:
            if settings.is_debug():
                raise
            if as_json:
                print_json_error(error_code(exc), one_line(exc.message), exc.hint)
                raise typer.Exit(exc.exit_code) from None
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            if as_json:
                print_json_error("Interrupted", "interrupted")
                raise typer.Exit(130) from None
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def command(app: typer.Typer, *args: Any, **kwargs: Any) -> Callable[[F], F]:
    """Drop-in for ``@app.command(...)`` that adds :func:`handle_errors` and zoolab's parameter
    display, completion and JSON usage errors (:class:`zoolab.cli._params.ZoolabCommand`)."""

    def decorator(fn: F) -> F:
        kwargs.setdefault("cls", ZoolabCommand)
        app.command(*args, **kwargs)(handle_errors(fn))
        return fn

    return decorator


def model_arg(ref: str) -> str:
    """``ref``, or the best model of the fine-tuning run folder ``ref`` names (said on stderr).

    ``zoolab finetune`` prints its run folder last, so that is what people pass on; the model is
    its ``best/`` folder (``final/`` is the last epoch's).
    """
    from pathlib import Path

    folder = Path(ref).expanduser()
    best = folder / "best"
    if folder.is_dir() and not (folder / "config.json").exists() and (best / "config.json").is_file():
        err_console.print(f"note: {ref} is a fine-tuning run: using its best model, {best} "
                          f"(its last epoch is {folder / 'final'})", highlight=False, soft_wrap=True)
        return str(best)
    return ref


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths, datetimes and sets to plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def print_json(value: Any) -> None:
    """Write ``value`` as indented JSON on stdout (plain, no colour: it is meant for pipes)."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def whole_column(header: str, values: Any, **kwargs: Any) -> Any:
    """A rich table column for paths and ids: never cut or wrapped, at least as wide as its widest
    value; the other columns of the table wrap instead."""
    from rich.table import Column

    width = max([len(header), *(len(str(v)) for v in values)])
    return Column(header, no_wrap=True, overflow="ignore", min_width=width, **kwargs)


def print_table(table: Any) -> None:
    """Print a rich table; when the terminal is narrower than its whole columns need, print it at
    the width they need (the terminal wraps the line) instead of letting rich cut ids and paths."""
    measured = table.__rich_measure__(console, console.options.update_width(1 << 16))
    if measured.minimum > console.width:
        # rich caps `width=` at the console's width: a wider console on the same stream instead.
        wide = Console(file=console.file, width=measured.maximum, force_terminal=console.is_terminal,
                       no_color=console.no_color, highlight=False)
        wide.print(table, crop=False)
    else:
        console.print(table)

