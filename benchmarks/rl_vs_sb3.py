"""zoolab.rl against Stable-Baselines3: wall-clock to the target return, final return, env steps/s.

Rows: PPO CartPole-v1, DQN CartPole-v1, SAC Pendulum-v1, TD3 Pendulum-v1. Each library trains
with its own tuned preset (zoolab: ``zoolab.rl.get_preset``; SB3: RL Zoo's hyperparameters,
copied below) for several seeds. Every run is its own subprocess with one torch thread, so the two
libraries see the same machine and a crash or a hang costs one cell, not the table.

What is measured, per run:
- time to target: training wall-clock until the first periodic evaluation whose deterministic
  mean return over ``--eval-episodes`` episodes reaches the row's target. The clock is paused while
  evaluating (both libraries evaluate on the same step schedule, with their own evaluator).
- final return: the same evaluation at the end of the preset's step budget (or ``--max-steps``).
- env steps/s: env steps trained / training wall-clock (evaluation excluded).
The table reports medians over seeds; a run that never reaches the target counts as infinitely
slow. The ceiling column is raw ``gymnasium`` vector-env stepping with random actions and the
same number of environments, no learning: no library stepping gymnasium's vector env can train
faster than that (zoolab steps CartPole in numpy, which is faster; see docs/rl.md).

Run (needs ``pip install 'zoolab[bench]'``):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rl_vs_sb3.py --seeds 3
    .venv/bin/python benchmarks/rl_vs_sb3.py --rows ppo-cartpole,dqn-cartpole --seeds 1 --max-steps 50000
    .venv/bin/python benchmarks/rl_vs_sb3.py --process-wall 1   # whole command vs rl_zoo3.train
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, record  # noqa: E402

# RL Zoo's tuned hyperparameters (DLR-RM/rl-baselines3-zoo, hyperparams/{ppo,dqn,sac,td3}.yml at
# commit 22e3ff2450fd92033f7f032915e1f64894a09584, 2026-04-23), copied so the benchmark needs no
# network. ``lin_X`` in the YAML is a linear schedule from X to 0 over training.
RL_ZOO: dict[str, dict[str, Any]] = {
    # hyperparams/ppo.yml "CartPole-v1" (# Tuned)
    "ppo-cartpole": dict(
        n_envs=8, n_timesteps=100_000, policy="MlpPolicy", n_steps=32, batch_size=256, gae_lambda=0.8,
        gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate="lin_0.001", clip_range="lin_0.2",
    ),
    # hyperparams/dqn.yml "CartPole-v1"
    "dqn-cartpole": dict(
        n_envs=1, n_timesteps=50_000, policy="MlpPolicy", learning_rate=2.3e-3, batch_size=64,
        buffer_size=100_000, learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256,
        gradient_steps=128, exploration_fraction=0.16, exploration_final_eps=0.04,
        policy_kwargs=dict(net_arch=[256, 256]),
    ),
    # hyperparams/sac.yml "Pendulum-v1" (everything else: SB3's SAC defaults)
    "sac-pendulum": dict(n_envs=1, n_timesteps=20_000, policy="MlpPolicy", learning_rate=1e-3),
    # hyperparams/td3.yml "Pendulum-v1"
    "td3-pendulum": dict(
        n_envs=1, n_timesteps=20_000, policy="MlpPolicy", gamma=0.98, buffer_size=200_000,
        learning_starts=10_000, noise_type="normal", noise_std=0.1, gradient_steps=1, train_freq=1,
        learning_rate=1e-3, policy_kwargs=dict(net_arch=[400, 300]),
    ),
}


@dataclass(frozen=True)
class Row:
    algo: str
    env_id: str
    target: float
    """Deterministic mean return to reach (issue: 475 on CartPole-v1, -200 on Pendulum-v1)."""
    eval_every: int
    """Env steps between evaluations (the same schedule for both libraries)."""


ROWS: dict[str, Row] = {
    "ppo-cartpole": Row("ppo", "CartPole-v1", 475.0, 5_000),
    "dqn-cartpole": Row("dqn", "CartPole-v1", 475.0, 2_500),
    "td3-pendulum": Row("td3", "Pendulum-v1", -200.0, 1_000),
    "sac-pendulum": Row("sac", "Pendulum-v1", -200.0, 1_000),
}


@dataclass
class RunResult:
    lib: str
    row: str
    seed: int
    steps: int
    train_seconds: float
    eval_seconds: float
    time_to_target: float | None
    steps_to_target: int | None
    final_return: float | None
    evals: list[tuple[int, float]]
    stopped: str  # "budget", "target", "cap"
    error: str | None = None

    @property
    def steps_per_sec(self) -> float:
        return self.steps / self.train_seconds if self.train_seconds > 0 else float("nan")


class Clock:
    """Training wall-clock with the evaluation time taken out."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.paused = 0.0

    def train_seconds(self) -> float:
        return time.perf_counter() - self.start - self.paused


class Tracker:
    """Evaluates on a fixed step schedule (clock paused) and remembers when the target was hit."""

    def __init__(self, row: Row, evaluate: Callable[[], float], cap: float, stop_at_target: bool) -> None:
        self.row, self.evaluate, self.cap, self.stop_at_target = row, evaluate, cap, stop_at_target
        self.clock = Clock()
        self.next_eval = row.eval_every
        self.evals: list[tuple[int, float]] = []
        self.time_to_target: float | None = None
        self.steps_to_target: int | None = None
        self.stopped = "budget"

    def measure(self, step: int) -> float:
        t0 = time.perf_counter()
        value = self.evaluate()
        self.clock.paused += time.perf_counter() - t0
        self.evals.append((step, value))
        if value >= self.row.target and self.time_to_target is None:
            self.time_to_target = self.clock.train_seconds()
            self.steps_to_target = step
        return value

    def on_step(self, step: int) -> bool:
        """Call with the env step count; False means stop training."""
        if step >= self.next_eval:
            while self.next_eval <= step:
                self.next_eval += self.row.eval_every
            self.measure(step)
            if self.stop_at_target and self.time_to_target is not None:
                self.stopped = "target"
                return False
        if self.clock.train_seconds() > self.cap:
            self.stopped = "cap"
            return False
        return True


# --- the two libraries -------------------------------------------------------------------------
def _linear(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


def run_sb3(row_name: str, seed: int, max_steps: int | None, cap: float, episodes: int, stop: bool,
            device: str = "cpu") -> RunResult:
    import numpy as np
    import stable_baselines3 as sb3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.noise import NormalActionNoise

    row = ROWS[row_name]
    hp = dict(RL_ZOO[row_name])
    n_envs, budget, policy = hp.pop("n_envs"), int(hp.pop("n_timesteps")), hp.pop("policy")
    steps = min(budget, max_steps) if max_steps else budget
    env = make_vec_env(row.env_id, n_envs=n_envs, seed=seed)
    if hp.pop("noise_type", None) == "normal":
        n_actions = env.action_space.shape[0]
        sigma = hp.pop("noise_std")
        hp["action_noise"] = NormalActionNoise(np.zeros(n_actions), sigma * np.ones(n_actions))
    hp = {k: _linear(v) for k, v in hp.items()}
    model = getattr(sb3, row.algo.upper())(policy, env, seed=seed, device=device, verbose=0, **hp)
    eval_env = make_vec_env(row.env_id, n_envs=1, seed=seed + 10_000)

    def evaluate() -> float:
        mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=episodes, deterministic=True)
        return float(mean)

    tracker = Tracker(row, evaluate, cap, stop)

    class Hook(BaseCallback):
        def _on_step(self) -> bool:
            return tracker.on_step(self.num_timesteps)

    tracker.clock = Clock()
    model.learn(total_timesteps=steps, callback=Hook())
    train_seconds = tracker.clock.train_seconds()
    final = tracker.evals[-1][1] if tracker.evals and tracker.evals[-1][0] == model.num_timesteps else tracker.measure(model.num_timesteps)
    return RunResult("sb3", row_name, seed, int(model.num_timesteps), train_seconds, tracker.clock.paused,
                     tracker.time_to_target, tracker.steps_to_target, final, tracker.evals, tracker.stopped)


def run_zoolab(row_name: str, seed: int, max_steps: int | None, cap: float, episodes: int, stop: bool,
               device: str = "cpu") -> RunResult:
    from zoolab.rl import ALGORITHMS, get_preset

    row = ROWS[row_name]
    preset = get_preset(row.algo, row.env_id)
    steps = min(preset.total_steps, max_steps) if max_steps else preset.total_steps
    agent = ALGORITHMS[row.algo](row.env_id, seed=seed, n_envs=preset.n_envs, device=device, config=preset.config)

    def evaluate() -> float:
        return float(agent.evaluate(episodes=episodes, deterministic=True, seed=seed + 10_000).mean_return)

    tracker = Tracker(row, evaluate, cap, stop)

    def hook(progress: Any) -> bool:
        return tracker.on_step(int(progress.step))

    tracker.clock = Clock()
    agent.learn(steps, callback=hook)
    train_seconds = tracker.clock.train_seconds()
    done = int(agent.num_timesteps)
    final = tracker.evals[-1][1] if tracker.evals and tracker.evals[-1][0] == done else tracker.measure(done)
    return RunResult("zoolab", row_name, seed, done, train_seconds, tracker.clock.paused,
                     tracker.time_to_target, tracker.steps_to_target, final, tracker.evals, tracker.stopped)


def worker(lib: str, row: str, seed: int, max_steps: int | None, cap: float, episodes: int, stop: bool,
           device: str = "cpu") -> None:
    """Entry point of one subprocess: one run, printed as a JSON line."""
    # torch.utils.tensorboard (imported by SB3's logger) pulls in TensorFlow when it is installed,
    # and TensorFlow loaded before triton crashes the first optimizer. Neither library needs it.
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]
    import torch

    torch.set_num_threads(1)
    fn = run_zoolab if lib == "zoolab" else run_sb3
    result = fn(row, seed, max_steps, cap, episodes, stop, device)
    print("RESULT " + json.dumps(asdict(result)), flush=True)


def launch(lib: str, row: str, seed: int, args: argparse.Namespace) -> RunResult:
    cmd = [sys.executable, __file__, "--worker", lib, "--rows", row, "--seed-index", str(seed),
           "--cap", str(args.cap), "--eval-episodes", str(args.eval_episodes), "--device", args.device]
    if args.max_steps:
        cmd += ["--max-steps", str(args.max_steps)]
    if args.stop_at_target:
        cmd.append("--stop-at-target")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # no CUDA context, no GPU memory: a CPU run is a CPU run
    try:
        # Evaluation time is not in the cap, so give the process room on top of it.
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.cap * 2 + 300)
    except subprocess.TimeoutExpired:
        return RunResult(lib, row, seed, 0, float("nan"), 0.0, None, None, None, [], "cap", "timed out")
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            data = json.loads(line[7:])
            data["evals"] = [tuple(e) for e in data["evals"]]
            return RunResult(**data)
    err = (out.stderr.strip().splitlines() or ["no output"])[-1]
    return RunResult(lib, row, seed, 0, float("nan"), 0.0, None, None, None, [], "error", err)


# --- the ceiling: raw env stepping ------------------------------------------------------------
def env_ceiling(env_id: str, n_envs: int, steps: int = 20_000) -> float:
    """Env steps/s of a synchronous gymnasium vector env with random actions (no learning)."""
    import gymnasium as gym

    envs = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="sync")
    envs.reset(seed=0)
    envs.action_space.seed(0)
    iters = max(1, steps // n_envs)
    t0 = time.perf_counter()
    for _ in range(iters):
        envs.step(envs.action_space.sample())
    elapsed = time.perf_counter() - t0
    envs.close()
    return iters * n_envs / elapsed


# --- the table --------------------------------------------------------------------------------
def _median_time(runs: list[RunResult]) -> float:
    return statistics.median([r.time_to_target if r.time_to_target is not None else math.inf for r in runs])


def _fmt_time(runs: list[RunResult]) -> str:
    t = _median_time(runs)
    reached = sum(r.time_to_target is not None for r in runs)
    return f"{t:.1f} s ({reached}/{len(runs)})" if math.isfinite(t) else f"not reached ({reached}/{len(runs)})"


def _median_steps(runs: list[RunResult]) -> str:
    """Median env steps to the target (sample efficiency, independent of machine speed)."""
    steps = statistics.median([r.steps_to_target if r.steps_to_target is not None else math.inf for r in runs])
    return f"{steps:,.0f}" if math.isfinite(steps) else "-"


def _median(values: list[float]) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else float("nan")


def build_table(results: list[RunResult], rows: list[str], ceilings: dict[tuple[str, int], float]) -> tuple[str, list[str]]:
    header = ["row", "target", "zoolab time to target", "SB3 time to target", "speed-up (SB3/zoolab)",
              "zoolab steps to target", "SB3 steps to target",
              "zoolab final return", "SB3 final return", "zoolab steps/s", "SB3 steps/s", "env ceiling steps/s",
              "2x at ≥ return"]
    table, notes = [], []
    for name in rows:
        z = [r for r in results if r.row == name and r.lib == "zoolab" and r.error is None]
        s = [r for r in results if r.row == name and r.lib == "sb3" and r.error is None]
        for r in results:
            if r.row == name and r.error:
                notes.append(f"{name} {r.lib} seed {r.seed}: {r.error}")
        if not z or not s:
            table.append([name, ROWS[name].target] + ["-"] * (len(header) - 2))
            continue
        tz, ts = _median_time(z), _median_time(s)
        if math.isfinite(tz) and math.isfinite(ts):
            ratio = f"{ts / tz:.2f}x"
        elif math.isfinite(tz):
            ratio = "SB3 did not reach"
        elif math.isfinite(ts):
            ratio = "zoolab did not reach"
        else:
            ratio = "-"
        fz, fs = _median([r.final_return for r in z]), _median([r.final_return for r in s])
        ok = math.isfinite(tz) and (not math.isfinite(ts) or ts / tz >= 2.0) and fz >= fs - 1e-9
        n_z, n_s = RL_ZOO[name]["n_envs"], _zoolab_n_envs(z)
        ceiling = ceilings.get((ROWS[name].env_id, n_s)) or ceilings.get((ROWS[name].env_id, n_z), float("nan"))
        table.append([
            name, ROWS[name].target, _fmt_time(z), _fmt_time(s), ratio, _median_steps(z), _median_steps(s),
            round(fz, 1), round(fs, 1),
            round(_median([r.steps_per_sec for r in z])), round(_median([r.steps_per_sec for r in s])),
            round(ceiling), "yes" if ok else "no",
        ])
        capped = [f"{r.lib} seed {r.seed}" for r in z + s if r.stopped == "cap"]
        if capped:
            notes.append(f"{name}: stopped at the wall-time cap: {', '.join(capped)}")
    return markdown_table(header, table), notes


_N_ENVS: dict[str, int] = {}


def _zoolab_n_envs(runs: list[RunResult]) -> int:
    return _N_ENVS.get(runs[0].row, 1) if runs else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of: {', '.join(ROWS)}")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per library and row (0..N-1)")
    parser.add_argument("--first-seed", type=int, default=0, help="start the seeds here (to split a run over processes)")
    parser.add_argument("--max-steps", type=int, default=None, help="cap each run's step budget")
    parser.add_argument("--cap", type=float, default=900.0, help="wall-time cap per run in training seconds")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per periodic evaluation")
    parser.add_argument("--stop-at-target", action="store_true", help="stop a run when it reaches the target")
    parser.add_argument("--log", type=Path, default=None, help="JSON-lines file: runs found there are reused (keep one file per set of options), new ones appended")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where both libraries put their networks (cuda: the GPU's name goes into RESULTS.md)")
    parser.add_argument("--only-logged", action="store_true", help="build the table from --log alone, start no new run")
    parser.add_argument("--note", action="append", default=[], help="extra line for the notes under the table")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--process-wall", type=int, default=0, metavar="N",
                        help="instead: the whole training command against rl_zoo3.train, N repeats (rows ppo-cartpole, sac-pendulum)")
    parser.add_argument("--worker", choices=["zoolab", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument("--seed-index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    if args.process_wall:
        from _rl_command_wall import COMMANDS, measure

        table, notes = measure([r for r in rows if r in COMMANDS] or list(COMMANDS), args.process_wall,
                               max_steps=args.max_steps)
        if args.max_steps is not None:
            notes.append(f"budgets capped at {args.max_steps:,} steps (--max-steps): a check that the rows run, not the preset figures")
        print(table)
        print("\n".join(notes + args.note))
        if not args.no_record:
            record("RL: the zoolab rl train command vs rl_zoo3.train (process wall)", table,
                   "\n".join(f"- {n}" for n in notes + args.note))
        return
    if args.worker:
        worker(args.worker, rows[0], args.seed_index, args.max_steps, args.cap, args.eval_episodes, args.stop_at_target,
               args.device)
        return

    from zoolab.rl import get_preset

    for name in rows:
        _N_ENVS[name] = get_preset(ROWS[name].algo, ROWS[name].env_id).n_envs or 1
    done: dict[tuple[str, str, int], RunResult] = {}
    if args.log and args.log.exists():
        for line in args.log.read_text().splitlines():
            data = json.loads(line)
            data["evals"] = [tuple(e) for e in data["evals"]]
            if data.get("error") is None:
                done[(data["lib"], data["row"], data["seed"])] = RunResult(**data)
    results: list[RunResult] = []
    for name in rows:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            # Alternate the libraries seed by seed so machine-load drift hits both alike.
            for lib in ("zoolab", "sb3") if seed % 2 == 0 else ("sb3", "zoolab"):
                key = (lib, name, seed)
                if key not in done and args.only_logged:
                    continue
                result = done.get(key) or launch(lib, name, seed, args)
                if key not in done and args.log:
                    with args.log.open("a") as fh:
                        fh.write(json.dumps(asdict(result)) + "\n")
                results.append(result)
                ttt = "-" if result.time_to_target is None else f"{result.time_to_target:.1f}s"
                print(f"[{name}] {lib} seed {seed}: {result.steps} steps in {result.train_seconds:.1f}s "
                      f"(+{result.eval_seconds:.1f}s eval), target at {ttt}, final {result.final_return}, "
                      f"{result.stopped}{' ERROR ' + result.error if result.error else ''}", flush=True)
    import torch

    torch.set_num_threads(1)
    ceilings = {}
    for name in rows:
        for n in {RL_ZOO[name]["n_envs"], _N_ENVS[name]}:
            key = (ROWS[name].env_id, n)
            if key not in ceilings:
                ceilings[key] = env_ceiling(*key)
    table, notes = build_table(results, rows, ceilings)
    note_lines = [
        f"{args.seeds} seeds per library and row; medians over seeds; time to target = training wall-clock "
        f"(one torch thread, device {args.device}, evaluation excluded) until the first deterministic {args.eval_episodes}-episode "
        "evaluation at or above the target; evaluations on the same step schedule for both libraries; "
        "(k/n) = seeds that reached it. Final return = the last evaluation. SB3 "
        f"{_version('stable_baselines3')} with RL Zoo's hyperparameters; zoolab with its presets. "
        "Env ceiling = random-action stepping of a sync gymnasium vector env with the zoolab preset's n_envs.",
    ] + notes + args.note
    if args.no_record:
        print(table)
        print("\n".join(note_lines))
    else:
        record("RL: zoolab.rl vs Stable-Baselines3 (time to target)", table, "\n".join(f"- {n}" for n in note_lines))


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module.replace("_", "-"))
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    main()
