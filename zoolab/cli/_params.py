"""How every zoolab command shows and completes its parameters, set once for all commands.

:class:`ZoolabCommand` is the command class :func:`zoolab.cli._common.command` registers with. It

- gives each parameter a metavar that says what it takes (``--private`` shows nothing, as a flag;
  ``--limit N``, ``--out PATH``, ``--set KEY=VALUE``, ``REPO``) instead of a type name (``<bool>``);
- completes source names (``--source``), catalog names and cached repo ids (model arguments) and
  run folders (RL run arguments) in the shell;
- answers a usage error of a command called with ``--json`` as a JSON error object.

Nothing here imports more than typer: completion reads the config, catalog and folders lazily.
"""

from __future__ import annotations

from typing import Any

import typer
from typer import _click
from typer.core import TyperCommand

JSON_FLAGS = ("json_out", "as_json", "json_output")
"""Parameter names of the ``--json`` flag across the command modules."""

# Options whose value is a file system path, a count or a duration, by long option name.
_PATH_OPTIONS = {"--out", "--local-dir", "--home", "--folder", "--output", "--dir", "--runs", "--data", "--run-dir", "--resume"}
_COUNT_OPTIONS = {"--limit", "--top-k", "--port", "--seed", "--episodes", "--n", "--steps", "--num-labels"}
_SECONDS_OPTIONS = {"--timeout"}
_REF_ARGS = {"ref", "repo", "model"}
_RUN_ARGS = {"run", "runs", "run_dir", "agent", "agent_dir", "run_or_agent"}


def _metavar(param: _click.Parameter) -> str | None:
    """The metavar ``param`` should show, or None to keep the one its author set."""
    if getattr(param, "metavar", None) is not None:
        return None
    if param.param_type_name == "argument":
        return (param.name or "value").upper()
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""  # a flag takes no value: show none
    long = next((o for o in param.opts if o.startswith("--")), param.opts[0] if param.opts else "")
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if long in _PATH_OPTIONS or "Path" in str(annotation):
        return "PATH"
    if long in _SECONDS_OPTIONS:
        return "SECONDS"
    if long in _COUNT_OPTIONS or annotation is int or "int" == getattr(annotation, "__name__", ""):
        return "N"
    if annotation is float:
        return "X"
    if long in ("--set", "--override", "--param"):
        return "KEY=VALUE"
    return long.lstrip("-").upper().replace("-", "_") or None


def _plain_argument(param: Any) -> None:
    """Show an argument as ``REPO`` / ``[REPO]`` / ``INPUTS...`` (as click and the hf CLI do), without
    the type column (``<str>``) and the braces Typer puts round required ones."""
    name = param.metavar or (param.name or "value").upper()
    shown = name if param.required else f"[{name}]"
    if param.nargs != 1:
        shown += "..."
    param._usage_display_name = lambda: shown
    param.display_type_rich = lambda ctx=None: None


def _complete_sources(ctx: Any, param: Any, incomplete: str) -> list[str]:
    try:
        from zoolab.hub.sources import source_names

        return [n for n in source_names() if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []


def _complete_models(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """Catalog names, then cached repository refs (``SOURCE:org/name``)."""
    out: list[str] = []
    try:
        from zoolab.zoo import catalog

        out += [e.name for e in catalog.list_models()]
    except Exception:  # noqa: BLE001
        pass
    try:
        from zoolab.hub.cache import scan

        out += [f"{r.source}:{r.repo_id}" for r in scan(None, "model")]  # models: what these take
    except Exception:  # noqa: BLE001
        pass
    return [n for n in dict.fromkeys(out) if n.startswith(incomplete)]


def _complete_runs(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """Run folders under ``$ZOOLAB_HOME/runs`` (as full paths), and folders matching what was typed."""
    from pathlib import Path

    from zoolab import settings

    found: list[str] = []
    try:
        runs = settings.runs_dir()
        if runs.is_dir():
            found += [str(p) for p in sorted(runs.iterdir()) if p.is_dir()]
        typed = Path(incomplete or ".").expanduser()
        parent = typed if incomplete.endswith("/") or not incomplete else typed.parent
        if parent.is_dir():
            found += [str(p) + "/" for p in sorted(parent.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        pass
    return [p for p in dict.fromkeys(found) if p.startswith(incomplete) or not incomplete]


def _completion_for(param: _click.Parameter) -> Any:
    if param.name == "source":
        return _complete_sources
    if param.param_type_name == "argument" and param.name in _REF_ARGS:
        return _complete_models
    if param.param_type_name == "argument" and param.name in _RUN_ARGS:
        return _complete_runs
    return None


def wants_json(args: list[str] | tuple[str, ...]) -> bool:
    """True when the command line asks for JSON output (``--json`` before any ``--``)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


class ZoolabCommand(TyperCommand):
    """A Typer command with value-describing metavars, shell completion and JSON usage errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            metavar = _metavar(param)
            if metavar is not None:
                param.metavar = metavar
            if param.param_type_name == "argument":
                _plain_argument(param)
            if getattr(param, "_custom_shell_complete", None) is None:
                completer = _completion_for(param)
                if completer is not None:
                    param._custom_shell_complete = completer  # type: ignore[attr-defined]

    def get_help_option(self, ctx: _click.Context) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        json_param = any(p.name in JSON_FLAGS for p in self.params)
        asked = json_param and wants_json(args)
        try:
            return super().parse_args(ctx, args)
        except _click.exceptions.UsageError as exc:
            if not asked:
                raise
            from zoolab.cli._common import print_json_error

            print_json_error("UsageError", exc.format_message())
            raise typer.Exit(exc.exit_code) from None
