"""Same seed, same machine, CPU: identical learning curves."""

from __future__ import annotations

import pytest

from zoolab.rl import ALGORITHMS

CASES = [
    ("ppo", "CartPole-v1", 2048, {"n_steps": 32}),
    ("dqn", "CartPole-v1", 1500, {"learning_starts": 500, "train_freq": 4, "gradient_steps": 1, "log_interval": 250,
                                  "hidden_sizes": [32, 32]}),
    ("sac", "Pendulum-v1", 400, {"learning_starts": 200, "hidden_sizes": [32, 32], "batch_size": 64, "log_interval": 100}),
    ("td3", "Pendulum-v1", 400, {"learning_starts": 200, "hidden_sizes": [32, 32], "batch_size": 64, "log_interval": 100}),
]


def _curve(algo, env_id, steps, config, seed):
    curve = []
    agent = ALGORITHMS[algo](env_id, seed=seed, device="cpu", config=config)
    agent.learn(steps, callback=lambda p: curve.append((p.step, p.episodes, p.recent_return, p.metrics)))
    agent.close()
    return curve


@pytest.mark.parametrize(("algo", "env_id", "steps", "config"), CASES, ids=[c[0] for c in CASES])
def test_same_seed_same_curve(algo, env_id, steps, config):
    first = _curve(algo, env_id, steps, config, seed=7)
    assert len(first) > 2 and any(m for *_, m in first)
    assert _curve(algo, env_id, steps, config, seed=7) == first
    assert _curve(algo, env_id, steps, config, seed=8) != first
