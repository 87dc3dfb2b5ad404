"""§9: the presets reach their published returns on CPU within their step budgets.

Each test trains with the preset, evaluates deterministically (10 episodes, the evaluation seed
``zoolab rl train`` uses: training seed + 1000) on a fixed step schedule, and stops as soon as the
target is reached; it fails if the budget runs out first. One test per algorithm, each on a seed
that no preset was tuned on (tuning used seeds 0-15); docs/rl.md lists the fresh-seed finals.
"""

from __future__ import annotations

import pytest
from returns_support import train_to_target

from zoolab.rl import ALGORITHMS, get_preset

CASES = [
    # algo, env, training seed (never used for tuning), evaluate every N steps
    ("ppo", "CartPole-v1", 23_810, 5000),
    ("a2c", "CartPole-v1", 23_810, 10_000),
    ("dqn", "CartPole-v1", 35_008, 2500),
    ("sac", "Pendulum-v1", 23_810, 1000),
    ("td3", "Pendulum-v1", 23_810, 1000),
]


@pytest.mark.parametrize(("algo", "env_id", "seed", "every"), CASES, ids=[f"{a}-{e}" for a, e, *_ in CASES])
def test_preset_reaches_target_within_budget(algo, env_id, seed, every):
    preset = get_preset(algo, env_id)
    agent = ALGORITHMS[algo](env_id, seed=seed, device="cpu")
    evals = train_to_target(agent, preset.total_steps, preset.target_return, every)
    best = max((r for _, r in evals), default=float("-inf"))
    assert best >= preset.target_return, f"{algo} on {env_id}: evaluations {evals} never reached {preset.target_return}"
    assert agent.num_timesteps <= preset.total_steps + preset.n_envs * 1024
