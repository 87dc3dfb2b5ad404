"""Tuned presets per (algorithm, environment), read from the YAML files in ``presets/``.

Each ``presets/<algo>.yaml`` maps environment ids to ``total_steps``, ``n_envs``,
``target_return`` (the return the preset reliably reaches within ``total_steps``) and ``config``
(overrides of the algorithm's config dataclass, nested or dotted keys).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from zoolab.errors import ConfigError, InvalidInputError

DEFAULT_TOTAL_STEPS = 100_000


@dataclass
class Preset:
    """A tuned configuration for one algorithm on one environment."""

    algo: str
    env_id: str
    total_steps: int
    n_envs: int
    target_return: float | None
    config: dict[str, Any] = field(default_factory=dict)
    tuned: bool = True
    """False for the fallback returned when no preset exists (the algorithm's defaults)."""


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[Preset, ...]:
    out: list[Preset] = []
    folder = resources.files("zoolab.rl") / "presets"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        algo = entry.name[: -len(".yaml")]
        try:
            data = yaml.safe_load(entry.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"preset file {entry.name} is not valid YAML: {exc}") from None
        for env_id, spec in data.items():
            out.append(Preset(
                algo=algo, env_id=env_id, total_steps=int(spec["total_steps"]), n_envs=int(spec.get("n_envs", 1)),
                target_return=None if spec.get("target_return") is None else float(spec["target_return"]),
                config=dict(spec.get("config") or {}),
            ))
    return tuple(out)


def list_presets(algo: str | None = None) -> list[Preset]:
    """Every preset, optionally only those of ``algo``, sorted by algorithm then env id."""
    presets = [p for p in _load_all() if algo is None or p.algo == algo.lower()]
    return sorted(presets, key=lambda p: (p.algo, p.env_id))


def get_preset(algo: str, env_id: str) -> Preset:
    """The preset of ``algo`` on ``env_id``, or the algorithm's defaults (``tuned=False``) when none exists."""
    from zoolab.rl import ALGORITHMS

    algo = algo.lower()
    if algo not in ALGORITHMS:
        raise InvalidInputError(f"unknown algorithm '{algo}'", hint=f"choose one of {', '.join(ALGORITHMS)}")
    for p in _load_all():
        if p.algo == algo and p.env_id == env_id:
            return Preset(p.algo, p.env_id, p.total_steps, p.n_envs, p.target_return, dict(p.config))
    default_envs = ALGORITHMS[algo].config_class().env.n_envs
    return Preset(algo, env_id, DEFAULT_TOTAL_STEPS, default_envs, None, {}, tuned=False)
