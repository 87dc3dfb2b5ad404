"""The root ``zoolab`` Typer app: joins the command groups and owns ``--version``.

Each command module exposes ``register(app)`` and imports nothing heavy at module level, so
``zoolab --help`` and ``zoolab --version`` answer without importing torch or tensorflow.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from zoolab import settings
from zoolab._version import __version__
from zoolab.cli import evaluate as evaluate_commands
from zoolab.cli import finetune as finetune_commands
from zoolab.cli import hub as hub_commands
from zoolab.cli import registry as registry_commands
from zoolab.cli import repo as repo_commands
from zoolab.cli import rl as rl_commands
from zoolab.cli import zoo as zoo_commands

app = typer.Typer(
    name="zoolab",
    help=(
        "zoolab: a pretrained-model hub and RL lab.\n\n"
        "Search, download and publish models across the Hugging Face Hub, zoolab hub servers and "
        "the local registry; load them in PyTorch or TensorFlow/Keras; train RL agents.\n\n"
        "Example: zoolab search bert --framework tf"
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zoolab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """zoolab: a pretrained-model hub and RL lab."""
    from zoolab.cli._quiet import quiet_frameworks

    quiet_frameworks()


for _module in (hub_commands, registry_commands, repo_commands, zoo_commands, finetune_commands, evaluate_commands, rl_commands):
    _module.register(app)


def main() -> None:
    """Console-script entry point: run the app; an unexpected error is one line, not a traceback."""
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence for the CLI user
        if settings.is_debug():
            raise
        name = type(exc).__name__
        from zoolab.cli._params import wants_json

        if wants_json(sys.argv[1:]):
            from zoolab.cli._common import print_json_error

            print_json_error(name, str(exc))
            sys.exit(1)
        sys.stderr.write(f"error: {name}: {exc} (set ZOOLAB_DEBUG=1 for the traceback)\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
