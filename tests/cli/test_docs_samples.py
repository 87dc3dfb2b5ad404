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


def _doc_commands(text: str) -> list[list[str]]:
    """Argument lists of the ``zoolab ...`` lines of a document's bash/console blocks (comments,
    redirects, env assignments and ``$(...)`` substitutions taken out; synopsis lines skipped)."""
    import re
    import shlex

    found = []
    for block in re.findall(r"```(?:bash|console|sh)\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line.strip().removeprefix("$ "))
            for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
                part = re.sub(r"\$\((.*?)\)", "X", re.sub(r"\s[12]?>.*$", "", part))
                try:
                    words = shlex.split(part)
                except ValueError:
                    continue
                while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                    words = words[1:]
                if words[:1] == ["zoolab"] and not any(w.startswith("[") for w in words):
                    found.append(words[1:])
    return found


def test_every_documented_command_parses() -> None:
    """Each ``zoolab`` line of the README and the CLI docs names real commands and options and
    gives the arguments they need (parsed as the shell would pass them, not run)."""
    from typer.main import get_command

    root = get_command(app)
    problems = []
    for doc in [DOCS.parent / "README.md", *(DOCS / name for name in
                ("hub-client.md", "hub-server.md", "rl-cli.md", "finetune.md", "zoo-keras-export.md"))]:
        commands = _doc_commands(doc.read_text(encoding="utf-8"))
        assert commands or doc.name == "zoo-keras-export.md", doc
        for args in commands:
            cmd, rest, name = root, list(args), "zoolab"
            while hasattr(cmd, "list_commands") and rest and not rest[0].startswith("-"):
                sub = cmd.get_command(type(cmd).context_class(cmd), rest[0])
                if sub is None:
                    problems.append(f"{doc.name}: zoolab {' '.join(args)}: no command {rest[0]!r}")
                    break
                name, cmd, rest = rest[0], sub, rest[1:]
            else:
                if hasattr(cmd, "list_commands") or "--help" in rest:
                    continue
                try:
                    cmd.make_context(name, rest)
                except Exception as exc:  # noqa: BLE001 - every parse failure is reported below
                    problems.append(f"{doc.name}: zoolab {' '.join(args)}: {exc}")
    assert problems == []
