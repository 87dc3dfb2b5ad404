"""``zoolab rl export``: an agent's deterministic policy as one ONNX or TorchScript file.

The file takes raw observations (float32, shape ``(batch, *obs_shape)``) as the environment
returns them: the observation normalisation the agent was trained with is folded in. Its output
is the greedy action (int64 indices for Discrete/MultiDiscrete, float32 in the action bounds for
Box). Every export is checked: the file is loaded back (onnxruntime / ``torch.jit.load``) and run
on observations recorded from deterministic episodes, and must give the agent's actions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import nn

from zoolab.errors import InvalidInputError, UnsupportedError

if TYPE_CHECKING:
    from zoolab.rl.agent import Agent

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
ATOL = 1e-4
"""Largest difference allowed between the file's and the agent's continuous actions."""


@dataclass
class ExportResult:
    """What :func:`export_agent` wrote and how it was checked."""

    path: Path
    format: str
    observations: int
    """Recorded observations the file was run on."""
    max_abs_diff: float
    """Largest difference from the agent's actions (0 for discrete actions that all matched)."""
    size_bytes: int


class DeterministicPolicy(nn.Module):
    """Raw observation -> normalised (as in training) -> the agent's greedy action."""

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        self.agent_modules = nn.ModuleDict(agent.modules)  # registered so tracing sees the weights
        self._act = agent._act
        self.obs_dim = agent.obs_dim
        norm = agent.normalizer
        self.norm = bool(agent.config.env.norm_obs)
        self.clip = float(agent.config.env.clip_obs)
        self.register_buffer("mean", torch.as_tensor(norm.obs_rms.mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.sqrt(norm.obs_rms.var + norm.eps), dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.reshape(obs.shape[0], self.obs_dim).float()
        if self.norm:
            x = torch.clamp((x - self.mean) / self.std, -self.clip, self.clip)
        return self._act(x, True)


def record_observations(agent: Agent, n: int = 1000, seed: int = 0) -> np.ndarray:
    """``n`` raw observations from deterministic episodes of the agent (reset seeds ``seed``, ``seed+1``...)."""
    from zoolab.rl.envs import make_single_env
    from zoolab.rl.media import _single_action

    env = make_single_env(agent.env_id, agent.config.env)
    out: list[np.ndarray] = []
    try:
        episode = 0
        raw, _ = env.reset(seed=seed)
        while len(out) < n:
            out.append(np.asarray(raw, np.float32))
            action = agent.predict(agent.normalizer.obs(np.asarray(raw)[None], update=False)[0])
            raw, _, terminated, truncated, _ = env.step(_single_action(action, env.action_space))
            if terminated or truncated:
                episode += 1
                raw, _ = env.reset(seed=seed + episode)
    finally:
        env.close()
    return np.stack(out)


def _torchscript(module: nn.Module, sample: torch.Tensor, target: Path) -> Callable[[np.ndarray], np.ndarray]:
    with torch.no_grad():
        traced = torch.jit.trace(module, (sample,), check_trace=False)
    traced.save(str(target))
    reloaded = torch.jit.load(str(target))

    def run(obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return reloaded(torch.as_tensor(obs)).numpy()

    return run


def _onnx(module: nn.Module, sample: torch.Tensor, target: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(module, (sample,), input_names=["obs"], output_names=["action"], dynamo=True,
                                dynamic_shapes=({0: batch},), verbose=False)
    program.save(str(target))
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    return lambda obs: session.run(None, {"obs": obs})[0]


_EXPORTERS = {"torchscript": _torchscript, "onnx": _onnx}


def export_agent(agent: Agent, fmt: str, out: str | Path, *, observations: int = 1000) -> ExportResult:
    """Write ``agent``'s deterministic policy to ``out`` in ``fmt`` and check it on recorded observations.

    Raises:
        InvalidInputError: unknown format.
        UnsupportedError: PyTorch cannot export the policy, or the file's actions differ from the agent's.
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format '{fmt}'", hint=f"choose one of {', '.join(FORMATS)}")
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    obs = record_observations(agent, observations)
    module = DeterministicPolicy(agent).eval().to("cpu")
    expected = agent.predict(agent.normalizer.obs(obs.reshape(len(obs), -1), update=False))
    sample = torch.as_tensor(obs[: min(len(obs), 8)])
    # Traced without gradients, so the file's outputs are plain tensors; the agent's flags come back after.
    flags = [(p, p.requires_grad) for p in module.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = _EXPORTERS[fmt](module, sample, target)
            got = np.asarray(run(obs))
    except Exception as exc:  # noqa: BLE001 - exporters fail with many exception types
        target.unlink(missing_ok=True)
        line = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise UnsupportedError(f"PyTorch could not export this {agent.algo.upper()} policy to {fmt}: "
                               f"{type(exc).__name__}: {line}", hint="try the other format") from None
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
    expected = np.asarray(expected).reshape(got.shape)
    if np.issubdtype(expected.dtype, np.integer):
        wrong = int((got != expected).sum())
        diff = 0.0 if wrong == 0 else float("inf")
        if wrong:
            target.unlink(missing_ok=True)
            raise UnsupportedError(f"the exported {fmt} policy picked another action on {wrong} of {len(obs)} "
                                   "recorded observations; the file was removed")
    else:
        diff = float(np.abs(got.astype(np.float64) - expected).max())
        if diff > ATOL:
            target.unlink(missing_ok=True)
            raise UnsupportedError(f"the exported {fmt} policy's actions differ from the agent's by {diff:.3g} "
                                   f"(more than {ATOL}); the file was removed")
    return ExportResult(path=target, format=fmt, observations=len(obs), max_abs_diff=diff,
                        size_bytes=target.stat().st_size)


def default_path(agent_dir: Path, fmt: str) -> Path:
    """``policy.onnx`` / ``policy.pt`` next to the agent."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format '{fmt}'", hint=f"choose one of {', '.join(FORMATS)}")
    return agent_dir / f"policy{FORMATS[fmt]}"

