"""Samples in the docs are the commands' real output (regenerate them when the output changes)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from zoolab.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _console_block(text: str, command: str) -> list[str]:
    start = text.index(f"$ {command}\n") + len(f"$ {command}\n")
    end = text.index("$ ", start)
    return [line.rstrip() for line in text[start:end].splitlines() if line.strip()]


def test_rl_presets_sample_is_the_real_table() -> None:
    result = CliRunner().invoke(app, ["rl", "presets"], env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    real = [line.rstrip() for line in result.stdout.splitlines() if line.strip()]
    documented = _console_block((DOCS / "rl-cli.md").read_text(encoding="utf-8"), "zoolab rl presets")
    assert documented == real, "docs/rl-cli.md: paste the output of `COLUMNS=100 zoolab rl presets`"
