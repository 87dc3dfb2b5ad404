"""Output people can read and scripts can parse: metavars, ``--json`` errors, completion, quiet TF."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from zoolab.cli.main import app

runner = CliRunner()


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "160", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def test_help_shows_what_options_take_not_type_names() -> None:
    for command in (["publish"], ["download"], ["search"], ["predict"], ["rl", "train"], ["cache", "ls"]):
        text = _help(*command)
        assert not re.search(r"<(bool|str|int|float|list\[str\]|path)>", text), (command, text)
        assert "{" not in text.split("\n\n")[1], text  # usage line: REPO, not {repo}
    assert re.search(r"--limit\s+N\b", _help("search"))
    assert re.search(r"--timeout\s+SECONDS\b", _help("search"))
    assert re.search(r"--local-dir\s+PATH\b", _help("download"))
    assert re.search(r"--set\s+KEY=VALUE\b", _help("rl", "train"))
    assert re.search(r"--private\s+Create", _help("publish"))  # a flag shows no value
    assert "Usage: root publish [OPTIONS] FOLDER REPO" in _help("publish").replace("zoolab", "root")


def test_json_errors_are_json_with_the_same_exit_code() -> None:
    plain = runner.invoke(app, ["info", "local:nobody/nothing"])
    as_json = runner.invoke(app, ["info", "local:nobody/nothing", "--json"])
    assert plain.exit_code == as_json.exit_code != 0
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == "RepoNotFound" and "nobody/nothing" in error["message"]
    bad = runner.invoke(app, ["download", "local:a/b", "--json", "--framework", "jax"])
    assert bad.exit_code == 2 and json.loads(bad.stdout)["error"]["code"] == "InvalidInput"
    usage = runner.invoke(app, ["cache", "ls", "--json", "--bogus"])
    assert usage.exit_code == 2
    assert json.loads(usage.stdout) == {"error": {"code": "UsageError", "message": "No such option: --bogus"}}


def test_cache_prune_json() -> None:
    result = runner.invoke(app, ["cache", "prune", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"removed": []}


def _complete(words: str, cword: int, home: Path) -> list[str]:
    env = {**os.environ, "_ZOOLAB_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword),
           "ZOOLAB_HOME": str(home)}
    script = Path(sys.executable).parent / "zoolab"  # completion is keyed to the program name
    out = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
    return out.stdout.split()


def test_shell_completion_of_sources_catalog_names_and_runs(isolated_home: Path) -> None:
    assert "--install-completion" in _help() and "--show-completion" in _help()
    from zoolab.hub import config

    config.add_source("team", "http://127.0.0.1:9")
    assert _complete("zoolab download --source t", 3, isolated_home) == ["team"]
    assert set(_complete("zoolab download --source ", 3, isolated_home)) == {"hf", "local", "team"}
    assert _complete("zoolab predict resnet", 2, isolated_home) == ["resnet18", "resnet50"]
    run = isolated_home / "runs" / "ppo-CartPole-v1-1"
    run.mkdir(parents=True)
    assert str(run) in _complete("zoolab rl eval ", 3, isolated_home)


def test_tensorflow_start_up_lines_are_silenced_unless_debug() -> None:
    code = (
        "import sys\n"
        "from zoolab.cli._quiet import quiet_frameworks\n"
        "quiet_frameworks()\n"
        "sys.stderr.write('kept line\\n')\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('tensorflow') is not None\n"  # a probe must not use the filter up
        "import tensorflow as tf\n"
        "tf.constant(1.0) + 1\n"
        "sys.stderr.write('after import\\n')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ZOOLAB_DEBUG")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == ["kept line", "after import"], out.stderr


def test_error_lines_are_short_and_literal(tmp_path: Path) -> None:
    from zoolab.cli._common import MAX_ERROR_CHARS, handle_errors
    from zoolab.errors import UnsupportedError

    def boom() -> None:
        raise UnsupportedError("conversion failed: tensor([[0.1, 0.2],\n [0.3, 0.4]]) " + "x" * 5000)

    import typer

    demo = typer.Typer()
    demo.command()(handle_errors(boom))
    result = runner.invoke(demo, [])
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and len(line) <= MAX_ERROR_CHARS + len("error: ")
    assert "tensor([[0.1, 0.2], [0.3, 0.4]])" in line and line.endswith("…")


def test_tables_never_cut_ids_or_paths(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text('{"architecture": "resnet18", "num_classes": 2, "pretrained_cfg": {}}')
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    long_id = "me/a-rather-long-model-name-that-does-not-fit-in-a-narrow-terminal"
    assert runner.invoke(app, ["publish", str(folder), f"local:{long_id}"]).exit_code == 0
    search = runner.invoke(app, ["search", "rather-long", "--source", "local"], env={"COLUMNS": "60"})
    assert search.exit_code == 0, search.output
    row = next(line for line in search.stdout.splitlines() if long_id in line)
    assert "local" in row and "…" not in search.stdout  # the id whole, the other columns beside it
    cached = runner.invoke(app, ["download", f"local:{long_id}", "-q"])
    assert cached.exit_code == 0, cached.output
    listing = runner.invoke(app, ["cache", "ls"], env={"COLUMNS": "40"})
    assert any(long_id in line for line in listing.stdout.splitlines()), listing.stdout
