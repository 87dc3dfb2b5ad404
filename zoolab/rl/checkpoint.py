"""Training checkpoints without pickle: safetensors for tensors, JSON for everything else.

Layout of ``checkpoints/step-<N>/`` (written atomically by ``zoolab.runs.write_step_dir``)::

    model.safetensors      every network (including target networks)
    optim.safetensors      optimiser tensors (Adam moments, step counts), keys "<opt>/<param>/<name>"
    rng.safetensors        torch CPU (and CUDA) generator states
    buffer.safetensors     the replay buffer contents (off-policy algorithms)
    state.json             counters, optimiser param groups, numpy RNG, normalisation statistics
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zoolab.errors import InvalidInputError
from zoolab.runs import flatten_optimizer, list_step_dirs, restore_optimizer, write_step_dir

if TYPE_CHECKING:
    from zoolab.rl.agent import Agent


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``folder`` as ``(step, path)``, oldest first."""
    return list_step_dirs(folder)


def save_checkpoint(agent: Agent, folder: Path, *, keep: int = 2) -> Path:
    """Write a checkpoint of ``agent`` under ``folder``; keeps the newest ``keep`` checkpoints."""
    def fill(tmp: Path) -> None:
        _write_files(agent, tmp)

    return write_step_dir(folder, agent.num_timesteps, fill, keep=keep)


def _write_files(agent: Agent, tmp: Path) -> None:
    from safetensors.torch import save_file

    from zoolab.rl.artifacts import module_tensors

    save_file(module_tensors(agent), str(tmp / "model.safetensors"))
    optim_tensors: dict[str, torch.Tensor] = {}
    optim_meta: dict[str, Any] = {}
    for name, opt in agent.optimizers.items():
        t, meta = flatten_optimizer(name, opt)
        optim_tensors.update(t)
        optim_meta[name] = meta
    save_file(optim_tensors, str(tmp / "optim.safetensors"))
    rng = {"torch_cpu": torch.get_rng_state()}
    if agent.device.type == "cuda":
        rng["torch_cuda"] = torch.cuda.get_rng_state(agent.device)
    save_file(rng, str(tmp / "rng.safetensors"))
    replay = getattr(agent, "replay", None)
    if replay is not None:
        save_file(replay.tensors(), str(tmp / "buffer.safetensors"))
    state = {
        "algorithm": agent.algo, "env_id": agent.env_id, "num_timesteps": agent.num_timesteps,
        "episodes": agent.episodes, "n_updates": agent.n_updates, "recent_returns": list(agent._recent),
        "numpy_rng": agent.rng.bit_generator.state, "normalization": agent.normalizer.state(),
        "optimizers": optim_meta, "extra": agent.extra_state(),
        "wall_time_s": float(getattr(agent, "_wall_time_s", 0.0)),
        "replay": replay.meta() if replay is not None else None,
        "loss_scales": agent.amp.state(),
    }
    (tmp / "state.json").write_text(json.dumps(state, indent=1, default=_json_default))


def load_checkpoint(agent: Agent, path: Path) -> None:
    """Restore ``agent`` (built with the same config) from a checkpoint folder."""
    from safetensors.torch import load_file

    from zoolab.rl.artifacts import load_module_tensors

    try:
        state = json.loads((path / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"checkpoint {path} is unreadable: {exc}") from None
    if state["algorithm"] != agent.algo:
        raise InvalidInputError(f"checkpoint {path} is for {state['algorithm']}, not {agent.algo}")
    dev = str(agent.device)
    load_module_tensors(agent, load_file(str(path / "model.safetensors"), device=dev))
    optim = load_file(str(path / "optim.safetensors"), device=dev)
    for name, opt in agent.optimizers.items():
        restore_optimizer(name, opt, optim, state["optimizers"][name])
    rng = load_file(str(path / "rng.safetensors"))
    torch.set_rng_state(rng["torch_cpu"])
    if "torch_cuda" in rng and agent.device.type == "cuda":
        torch.cuda.set_rng_state(rng["torch_cuda"], agent.device)
    replay = getattr(agent, "replay", None)
    if replay is not None and state.get("replay") is not None:
        replay.load(load_file(str(path / "buffer.safetensors"), device=str(replay.device)), state["replay"])
    agent.rng.bit_generator.state = state["numpy_rng"]
    agent.normalizer.load_state(state["normalization"])
    agent.num_timesteps = int(state["num_timesteps"])
    agent.episodes = int(state["episodes"])
    agent.n_updates = int(state["n_updates"])
    agent._recent.clear()
    agent._recent.extend(state["recent_returns"])
    agent.load_extra_state(state["extra"])
    agent.amp.load_state(state.get("loss_scales", {}))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, torch.Tensor):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to a checkpoint")
