"""``train()``: one call that runs an agent in a run folder, with checkpoints, resume and results.

Run folder (default ``<ZOOLAB_HOME>/runs/<algo>-<env>-<timestamp>``)::

    config.yaml        algorithm, env id, seed, total steps, resolved hyperparameters
    metrics.csv        one row per progress report (step, wall time, returns, losses)
    tb/                TensorBoard event files
    checkpoints/       step-<N>/ folders (see zoolab.rl.checkpoint), newest two kept
    results.json       final deterministic evaluation
    agent/             the final agent (config.json, model.safetensors, results.json, README.md)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zoolab import settings
from zoolab.errors import ConflictError, InvalidInputError, TrainingError
from zoolab.rl.agent import Agent, EvalResult, Progress, dumps, hparams


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    run_dir: Path
    agent: Agent
    eval: EvalResult


def _algo_class(algo: str) -> type[Agent]:
    from zoolab.rl import ALGORITHMS

    cls = ALGORITHMS.get(algo.lower())
    if cls is None:
        raise InvalidInputError(f"unknown algorithm '{algo}'", hint=f"choose one of {', '.join(ALGORITHMS)}")
    return cls


def _default_run_dir(algo: str, env_id: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe_env = env_id.replace("/", "_").replace(":", "_")
    base = settings.runs_dir() / f"{algo}-{safe_env}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def train(
    algo: str,
    env_id: str,
    *,
    steps: int | None = None,
    seed: int = 0,
    n_envs: int | None = None,
    device: str = "auto",
    overrides: Mapping[str, Any] | Iterable[str] = (),
    run_dir: Path | None = None,
    resume: Path | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
    eval_episodes: int = 10,
    checkpoint_every: int | None = None,
) -> TrainResult:
    """Train ``algo`` on ``env_id`` in a run folder, or continue the run in ``resume``.

    ``steps`` defaults to the preset's budget. ``overrides`` are ``{"key": value}`` or
    ``["key=value", ...]`` on top of the preset. On resume, the run's own ``config.yaml`` decides
    algorithm, env, seed, steps and hyperparameters; training continues from the newest checkpoint
    and ends at the same total step count as an uninterrupted run.

    Raises:
        InvalidInputError: unknown algorithm, bad override, or a resume folder that is not a run.
        EnvNotFoundError / UnsupportedError: bad env id, or an action space the algorithm cannot handle.
        TrainingError: the loss became NaN; the message names the last good checkpoint.
    """
    from zoolab.rl import config as cfgmod
    from zoolab.rl.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
    from zoolab.rl.presets import get_preset
    from zoolab.rl.runlog import RunLogger

    resume_step: int | None = None
    elapsed = 0.0
    if resume is not None:
        run_dir = Path(resume)
        cfg_path = run_dir / "config.yaml"
        if not cfg_path.is_file():
            raise InvalidInputError(f"{run_dir} is not a run folder (no config.yaml)", hint="pass the folder a previous `train` created")
        saved = yaml.safe_load(cfg_path.read_text())
        if algo.lower() != saved["algorithm"] or env_id != saved["env_id"]:
            raise InvalidInputError(f"{run_dir} is a {saved['algorithm']} run on {saved['env_id']}, not {algo} on {env_id}")
        cls = _algo_class(saved["algorithm"])
        config = cfgmod.from_dict(cls.config_class, saved["hyperparameters"])
        total = int(saved["total_steps"])
        seed = int(saved["seed"])
        agent = cls(env_id, seed=seed, device=device, config=config)
        ckpts = list_checkpoints(run_dir / "checkpoints")
        if ckpts:
            resume_step, path = ckpts[-1]
            load_checkpoint(agent, path)
            elapsed = float(json.loads((path / "state.json").read_text()).get("wall_time_s", 0.0))
        else:
            resume_step = 0
    else:
        cls = _algo_class(algo)
        preset = get_preset(cls.algo, env_id)
        total = int(steps) if steps is not None else preset.total_steps
        if total <= 0:
            raise InvalidInputError(f"steps must be positive, got {total}")
        agent = cls(env_id, seed=seed, n_envs=n_envs, device=device, config=cfgmod.normalize_overrides(overrides))
        run_dir = Path(run_dir) if run_dir is not None else _default_run_dir(cls.algo, env_id)
        if (run_dir / "config.yaml").exists():
            raise ConflictError(f"{run_dir} already holds a run", hint=f"continue it with resume={run_dir} (--resume) or pick another folder")
        run_dir.mkdir(parents=True, exist_ok=True)
        doc = {"algorithm": cls.algo, "env_id": env_id, "seed": seed, "total_steps": total,
               "device": str(agent.device), "preset": preset.tuned, "target_return": preset.target_return,
               "hyperparameters": hparams(agent)}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    every = checkpoint_every or max(total // 10, 1)
    ckpt_dir = run_dir / "checkpoints"
    logger = RunLogger(run_dir, resume_step=resume_step, elapsed_s=elapsed)
    next_ckpt = [(agent.num_timesteps // every + 1) * every]

    def on_progress(progress: Progress) -> bool | None:
        logger.log(progress)
        if progress.step >= next_ckpt[0] and progress.step < total:
            agent._wall_time_s = logger.elapsed  # type: ignore[attr-defined]
            save_checkpoint(agent, ckpt_dir)
            next_ckpt[0] = (progress.step // every + 1) * every
        return callback(progress) if callback is not None else None

    try:
        if agent.num_timesteps < total:
            agent.learn(total - agent.num_timesteps, callback=on_progress)
    except TrainingError as exc:
        kept = list_checkpoints(ckpt_dir)
        where = (f"the last good checkpoint (step {kept[-1][0]}) is kept in {kept[-1][1]}" if kept
                 else "no checkpoint had been written yet")
        raise TrainingError(f"{exc.message}; training stopped and {where}",
                            hint=f"change the settings and start again, or resume with --resume {run_dir}") from None
    finally:
        logger.close()
        agent.close()
    agent._wall_time_s = logger.elapsed  # type: ignore[attr-defined]
    save_checkpoint(agent, ckpt_dir)
    result = agent.evaluate(eval_episodes, deterministic=True)
    (run_dir / "results.json").write_text(dumps({"algorithm": agent.algo, "env_id": env_id, "seed": seed,
                                                 "num_timesteps": agent.num_timesteps,
                                                 "train_wall_time_s": round(logger.elapsed, 3), **result.to_dict()}))
    agent.save(run_dir / "agent", results=result)
    return TrainResult(run_dir=run_dir, agent=agent, eval=result)
