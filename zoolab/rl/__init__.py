"""zoolab.rl: PPO, A2C, DQN, SAC and TD3 in plain torch on gymnasium environments.

```python
from zoolab.rl import PPO
agent = PPO("CartPole-v1", seed=0).learn(100_000)
print(agent.evaluate(episodes=10).mean_return)
agent.save("cartpole-ppo")
```

Names are imported on first use so ``import zoolab.rl`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PPO": "zoolab.rl.ppo", "PPOConfig": "zoolab.rl.ppo",
    "A2C": "zoolab.rl.a2c", "A2CConfig": "zoolab.rl.a2c",
    "DQN": "zoolab.rl.dqn", "DQNConfig": "zoolab.rl.dqn",
    "SAC": "zoolab.rl.sac", "SACConfig": "zoolab.rl.sac",
    "TD3": "zoolab.rl.td3", "TD3Config": "zoolab.rl.td3",
    "Agent": "zoolab.rl.agent", "AlgoConfig": "zoolab.rl.agent", "Progress": "zoolab.rl.agent",
    "EvalResult": "zoolab.rl.agent", "EnvConfig": "zoolab.rl.config",
    "load_agent": "zoolab.rl.artifacts", "load": "zoolab.rl.refs", "list_runs": "zoolab.rl.refs",
    "push": "zoolab.rl.publish", "pull": "zoolab.rl.publish",
    "train": "zoolab.rl.training", "TrainResult": "zoolab.rl.training", "TrainingInterrupted": "zoolab.rl.training",
    "list_presets": "zoolab.rl.presets", "get_preset": "zoolab.rl.presets", "Preset": "zoolab.rl.presets",
}
_ALGOS = {"ppo": "PPO", "a2c": "A2C", "dqn": "DQN", "sac": "SAC", "td3": "TD3"}

__all__ = sorted([*_LAZY, "ALGORITHMS"])


def __getattr__(name: str) -> Any:
    if name == "ALGORITHMS":
        algos = {}
        for key, cls_name in _ALGOS.items():
            try:
                algos[key] = getattr(importlib.import_module(_LAZY[cls_name]), cls_name)
            except ModuleNotFoundError as exc:  # an algorithm module not written yet must not break the others
                if exc.name != _LAZY[cls_name]:
                    raise
        globals()["ALGORITHMS"] = algos
        return algos
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoolab.rl' has no attribute {name!r}")
