"""Data-parallel PPO and A2C: ``zoolab rl train ppo ENV --nproc N`` (see ``zoolab.launch``).

Each of the N processes steps its own ``n_envs / N`` environments with its own seeds (process r
seeds its environments ``seed + r * n_envs / N + i``, so all processes together use the seeds
one process with ``n_envs`` environments would), collects its own rollouts and computes its
loss on them. Before every optimiser step the gradients are averaged over the processes
(:func:`average_gradients`: one all-reduce of the flat gradient), so the weights stay identical
everywhere; rank 0's initial weights are broadcast once (:func:`synchronise`). PPO's minibatch
is split the same way (``batch_size / N`` per process), so an update sees as many samples as in
one process; its ``target_kl`` early stop uses the mean KL of all processes, so every process
stops at the same epoch.

Only rank 0 writes the run folder; the others train in a temporary folder that is removed at
the end. Step counts in the run folder (metrics, checkpoints, agent) are rank 0's own steps;
``config.yaml`` records ``data_parallel`` (processes, environments per process, steps in all).
Observation/reward normalisation statistics stay per process (rank 0's are saved).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from zoolab import launch
from zoolab.errors import InvalidInputError, UnsupportedError

if TYPE_CHECKING:
    from zoolab.rl.agent import Agent, Progress
    from zoolab.rl.nets import FlatParams
    from zoolab.rl.training import TrainResult

DATA_PARALLEL = ("ppo", "a2c")


def average_gradients(flat: FlatParams) -> None:
    """Replace the flat gradient by its mean over the processes (nothing to do for one)."""
    g = launch.current()
    if not g.active or flat.param.grad is None:
        return
    import torch.distributed as dist

    dist.all_reduce(flat.param.grad, op=dist.ReduceOp.SUM)
    flat.param.grad.div_(g.world)


def mean(value: float) -> float:
    """The mean of ``value`` over the processes (``value`` itself for one)."""
    g = launch.current()
    return float(g.all_sum([value])[0]) / g.world if g.active else value


def synchronise(agent: Agent) -> None:
    """Give every process rank 0's weights and buffers (before the first step)."""
    g = launch.current()
    if not g.active:
        return
    import torch.distributed as dist

    for module in agent.modules.values():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def _plan(nproc: int, algo: str, env_id: str, steps: int | None, n_envs: int | None,
          overrides: Mapping[str, Any]) -> tuple[int, int, dict[str, Any]]:
    """(steps per process, envs per process, per-process overrides), or a clear error."""
    from zoolab.rl import config as cfgmod
    from zoolab.rl.presets import get_preset
    from zoolab.rl.training import _algo_class

    cls = _algo_class(algo)
    if cls.algo not in DATA_PARALLEL:
        raise UnsupportedError(f"--nproc trains {' and '.join(a.upper() for a in DATA_PARALLEL)} data-parallel, "
                               f"not {cls.algo.upper()}", hint="off-policy algorithms train in one process")
    normalized = cfgmod.normalize_overrides(overrides)
    config = cls._resolve_config(env_id, normalized, n_envs)
    total_envs = int(config.env.n_envs)
    if total_envs % nproc:
        raise InvalidInputError(f"{total_envs} environments cannot be shared equally by {nproc} processes",
                                hint=f"pass --n-envs as a multiple of {nproc}")
    local = dict(normalized)
    local.pop("env.n_envs", None)
    if cls.algo == "ppo":
        if config.batch_size % nproc:
            raise InvalidInputError(f"PPO's batch_size {config.batch_size} cannot be shared equally by {nproc} processes",
                                    hint=f"--set batch_size=<a multiple of {nproc}>")
        local["batch_size"] = config.batch_size // nproc
    total = int(steps) if steps is not None else get_preset(cls.algo, env_id).total_steps
    return -(-total // nproc), total_envs // nproc, local


def train_parallel(nproc: int, algo: str | None, env_id: str | None, *, steps: int | None = None, seed: int = 0,
                   n_envs: int | None = None, device: str = "auto",
                   overrides: Mapping[str, Any] | Iterable[str] = (), run_dir: Path | None = None,
                   init_from: str | Path | None = None, eval_episodes: int = 10) -> TrainResult:
    """``train(...)`` as ``nproc`` data-parallel processes; rank 0's run, agent and evaluation.

    ``steps`` and ``n_envs`` count all processes together (as one process with that many
    environments); each process steps ``n_envs / nproc`` environments for ``steps / nproc`` steps.

    Raises:
        InvalidInputError: environments (or PPO's batch) not divisible by ``nproc``, or no algorithm/env.
        UnsupportedError: an algorithm other than PPO and A2C.
        TrainingError: a process failed.
    """
    from zoolab.rl import config as cfgmod
    from zoolab.rl.agent import EvalResult
    from zoolab.rl.artifacts import load_agent
    from zoolab.rl.training import TrainResult, _default_run_dir

    if algo is None or env_id is None:
        raise InvalidInputError("give the algorithm and the environment with --nproc",
                                hint="for example: zoolab rl train ppo CartPole-v1 --nproc 2")
    launch.check_nproc(nproc)
    if not isinstance(overrides, Mapping):
        overrides = cfgmod.normalize_overrides(overrides)
    local_steps, local_envs, local = _plan(nproc, algo, env_id, steps, n_envs, overrides)
    run_dir = Path(run_dir) if run_dir is not None else _default_run_dir(algo.lower(), env_id)
    if (run_dir / "config.yaml").exists():
        from zoolab.errors import ConflictError

        raise ConflictError(f"{run_dir} already holds a run", hint="pick another --run-dir")
    job = {"algo": algo, "env_id": env_id, "steps": local_steps, "seed": seed, "n_envs": local_envs,
           "device": device, "overrides": local, "run_dir": str(run_dir), "init_from": init_from,
           "eval_episodes": eval_episodes, "total_steps": local_steps * nproc}
    outcome = launch.spawn(nproc, _worker, job)
    if isinstance(outcome, tuple):
        raise launch.rebuild_error(outcome)
    ev = json.loads((run_dir / "results.json").read_text())
    result = EvalResult(**{k: ev[k] for k in ("mean_return", "std_return", "episodes", "returns", "lengths",
                                              "deterministic")})
    agent = load_agent(run_dir / "agent", device=device)
    agent.num_timesteps *= nproc  # the steps of all processes (the saved agent counts rank 0's)
    return TrainResult(run_dir=run_dir, agent=agent, eval=result)


def _report(progress: Progress) -> None:
    """Rank 0's progress, one line per report on stderr (steps of all processes)."""
    g = launch.current()
    ret = "-" if progress.recent_return is None else f"{progress.recent_return:,.1f}"
    print(f"step {progress.step * g.world:,}/{progress.total_steps * g.world:,}  return {ret}  "
          f"{progress.steps_per_sec * g.world:,.0f} steps/s", file=sys.stderr, flush=True)


def _worker(job: dict[str, Any]) -> Any:
    """One process of :func:`train_parallel`: join, train with this rank's envs and seeds, and on
    rank 0 record the data-parallel plan. A ZoolabError goes back as (class, message, hint)."""
    from zoolab.errors import ZoolabError
    from zoolab.rl.training import train

    scratch = None
    try:
        g = launch.join(job["device"])
        run_dir = Path(job["run_dir"])
        if not g.leader:  # the others' run folders are scratch
            scratch = Path(tempfile.mkdtemp(prefix=f"zoolab-rank{g.rank}-"))
            run_dir = scratch / "run"
        train(job["algo"], job["env_id"], steps=job["steps"], seed=job["seed"] + g.rank * job["n_envs"],
              n_envs=job["n_envs"], device=job["device"], overrides=job["overrides"], run_dir=run_dir,
              init_from=job["init_from"], eval_episodes=job["eval_episodes"] if g.leader else 1,
              callback=_report if g.leader else None)
        if g.leader:
            path = run_dir / "config.yaml"
            doc = yaml.safe_load(path.read_text())
            doc["data_parallel"] = {"processes": g.world, "envs_per_process": job["n_envs"],
                                    "steps_per_process": job["steps"], "total_steps": job["total_steps"]}
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return str(run_dir) if g.leader else None
    except ZoolabError as exc:
        return (type(exc).__name__, exc.message, exc.hint)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        launch.leave()
