"""Process wall of the whole training command: ``zoolab rl train`` against ``python -m rl_zoo3.train``.

What a user waits for: interpreter start-up, imports, the full preset budget, the final
evaluation and the files each command writes. Both commands run as they ship, with their default
thread settings (no OMP_NUM_THREADS), under ``nice``, alternating which goes first per repeat.

rl_zoo3.train is started through a two-line launcher that imports ``torch._dynamo`` before
anything else: in an environment that also holds TensorFlow, rl_zoo3's import order (TF through
its Hub helpers before torch's compiler) ends in a segmentation fault on the first optimizer.
The launcher changes nothing else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import markdown_table

COMMANDS = {
    # row: (zoolab algo, env id)
    "ppo-cartpole": ("ppo", "CartPole-v1"),
    "sac-pendulum": ("sac", "Pendulum-v1"),
}
_ZOO_LAUNCHER = ("import sqlite3, torch, torch._dynamo, runpy, sys; sys.argv = ['rl_zoo3.train'] + sys.argv[1:]; "
                 "runpy.run_module('rl_zoo3.train', run_name='__main__')")


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(["nice", *cmd], cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc.returncode, (proc.stderr or proc.stdout)[-300:]


def measure(rows: list[str], repeats: int, seed: int = 0, max_steps: int | None = None) -> tuple[str, list[str]]:
    """Run both commands ``repeats`` times per row; returns the Markdown table and notes.

    ``max_steps`` caps the budget of both commands (a quick check that the rows still run; the
    figures to record are the full presets')."""
    from zoolab.rl import get_preset

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    table_rows, notes = [], []
    for name in rows:
        algo, env_id = COMMANDS[name]
        steps = get_preset(algo, env_id).total_steps
        budget: dict[str, list[str]] = {"zoolab": [], "rl_zoo3": []}
        if max_steps is not None:
            steps = min(steps, max_steps)
            budget = {"zoolab": ["--steps", str(steps)], "rl_zoo3": ["-n", str(steps)]}
        walls: dict[str, list[float]] = {"zoolab": [], "rl_zoo3": []}
        loads = []
        for rep in range(repeats):
            for lib in ("zoolab", "rl_zoo3") if rep % 2 == 0 else ("rl_zoo3", "zoolab"):
                with tempfile.TemporaryDirectory() as tmp:
                    run_env = {**env, "ZOOLAB_HOME": tmp}
                    if lib == "zoolab":
                        cmd = [str(Path(sys.executable).with_name("zoolab")), "rl", "train", algo, env_id,
                               "--seed", str(seed), "--run-dir", f"{tmp}/run", *budget["zoolab"]]
                    else:
                        cmd = [sys.executable, "-c", _ZOO_LAUNCHER, "--algo", algo, "--env", env_id,
                               "--seed", str(seed), "-f", f"{tmp}/logs", *budget["rl_zoo3"]]
                    loads.append(os.getloadavg()[0])
                    wall, rc, tail = _timed(cmd, Path(tmp), run_env)
                if rc != 0:
                    notes.append(f"{name} {lib} repeat {rep} failed (exit {rc}): {tail.strip()}")
                    continue
                walls[lib].append(wall)
                print(f"[{name}] {lib} repeat {rep}: {wall:.1f} s ({steps / wall:,.0f} steps/s)", flush=True)
        z, r = (min(walls[k]) if walls[k] else float("nan") for k in ("zoolab", "rl_zoo3"))
        table_rows.append([f"{algo.upper()} {env_id}", f"{steps:,}", f"{z:.1f} s", f"{steps / z:,.0f}",
                           f"{r:.1f} s", f"{steps / r:,.0f}", f"{r / z:.1f}x",
                           f"{min(loads):.1f}-{max(loads):.1f}"])
    header = ["row", "steps", "zoolab wall", "zoolab steps/s", "rl_zoo3 wall", "rl_zoo3 steps/s",
              "speed-up", "load avg (1 min)"]
    notes.insert(0, f"process wall (best of {repeats}) of `zoolab rl train ALGO ENV` and `python -m rl_zoo3.train "
                    "--algo ALGO --env ENV` with their own presets and defaults (start-up, the whole budget, their "
                    "evaluations and output files), both under nice, no OMP_NUM_THREADS, alternated per repeat")
    return markdown_table(header, table_rows), notes
