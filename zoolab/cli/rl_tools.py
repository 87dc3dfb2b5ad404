"""``zoolab rl import|export``: SB3 / RL Zoo agents in, ONNX / TorchScript policies out.

Registered on ``rl_app`` when :mod:`zoolab.cli.rl` is imported; logic lives in
:mod:`zoolab.rl.sb3` and :mod:`zoolab.rl.export`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoolab.cli._common import console, print_json
from zoolab.cli.rl import rl_command


@rl_command("import")
def import_command(
    source: str = typer.Argument(..., help="An SB3 .zip, a folder holding one, or a repo (e.g. hf:sb3/ppo-CartPole-v1)."),
    env: Optional[str] = typer.Option(None, "--env", help="Environment id (default: from RL Zoo's name, algo-ENV)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Agent folder to write (default: ZOOLAB_HOME/runs/sb3-NAME)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Convert a Stable-Baselines3 / RL Zoo agent into a zoolab agent, without unpickling anything.

    Example: [bold]zoolab rl import ppo-CartPole-v1.zip[/]  then  [bold]zoolab rl eval ~/.zoolab/runs/sb3-ppo-CartPole-v1[/]
    """
    from zoolab.rl.artifacts import read_config
    from zoolab.rl.sb3 import import_agent

    folder = import_agent(source, env_id=env, out=out)
    cfg = read_config(folder)
    if as_json:
        print_json({"path": str(folder), "algo": cfg["algorithm"], "env_id": cfg["env_id"],
                    "hidden_sizes": cfg["network"]["hidden_sizes"], "activation": cfg["network"]["activation"]})
        return
    console.print(f"imported {cfg['algorithm'].upper()} {cfg['env_id']} "
                  f"(hidden {cfg['network']['hidden_sizes']}, {cfg['network']['activation']}) into [bold]{folder}[/]",
                  soft_wrap=True, highlight=False)


@rl_command("export")
def export_command(
    run: str = typer.Argument(..., help="A run folder, an agent folder, a run name, 'latest' or SOURCE:org/name."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx or torchscript."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write (default: policy.onnx / policy.pt in the agent folder; ./ for a repo)."),
    observations: int = typer.Option(1000, "--check-observations", min=1, help="Recorded observations the file is checked on."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export the deterministic policy (observation normalisation folded in) and check it against the agent.

    Example: [bold]zoolab rl export latest --format onnx --out cartpole.onnx[/]
    """
    from zoolab.rl.artifacts import load_agent
    from zoolab.rl.export import default_path, export_agent
    from zoolab.rl.refs import resolve

    found = resolve(run)
    target = out or (Path(default_path(Path("."), fmt.lower()).name) if found.repo else default_path(found.agent_dir, fmt.lower()))
    agent = load_agent(found.agent_dir, device="cpu")
    res = export_agent(agent, fmt, target, observations=observations)
    if as_json:
        print_json({"path": str(res.path), "format": res.format, "observations": res.observations,
                    "max_abs_diff": res.max_abs_diff, "size_bytes": res.size_bytes})
        return
    console.print(f"wrote [bold]{res.path}[/] ({res.format}, {res.size_bytes:,} bytes); checked on "
                  f"{res.observations} recorded observations, max difference {res.max_abs_diff:.2g}",
                  soft_wrap=True, highlight=False)
