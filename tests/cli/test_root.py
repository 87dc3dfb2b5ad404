"""The root `zoolab` command: help and version answer fast, without heavy imports."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from zoolab import __version__
from zoolab.cli.main import app


def test_version_in_process() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"zoolab {__version__}"


def test_help_imports_no_heavy_framework() -> None:
    # A real subprocess: `zoolab --help` must not import torch or tensorflow.
    code = (
        "import sys\n"
        "from zoolab.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'transformers', 'timm', 'keras') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    assert "Usage" in out.stdout


def test_console_script_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "zoolab", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"zoolab {__version__}"
