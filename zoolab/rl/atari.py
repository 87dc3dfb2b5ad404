"""Atari games through ale-py (which ships the ROMs), with the standard DQN preprocessing.

Any ALE id works: ``ALE/Pong-v5`` (sticky actions, as the v5 games define them) or
``PongNoFrameskip-v4`` (no sticky actions, the setting of RL Zoo's and most papers' tables). The
emulator runs every frame and gymnasium's :class:`~gymnasium.wrappers.AtariPreprocessing` does
the rest: up to 30 no-op actions after each reset, 4 frames per action with the maximum of the
last two (sprites flicker), 84x84 grey frames. zoolab adds FIRE after reset in games that wait
for it, and in *training* environments only, episodic life (an episode ends with each lost
life; gymnasium then restarts the game) and rewards clipped to their sign. Evaluation,
``rl enjoy`` and videos play whole games with the real score, as published tables report it.
Frame stacking (4 in the presets) is the ``env.frame_stack`` setting, applied after this.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from zoolab.errors import DependencyMissingError

MAX_FRAMES = 108_000
"""Emulator frames per game at most (30 minutes of play), so an agent that stalls still ends."""


def register_ale() -> bool:
    """Register the ALE games with gymnasium if ale-py is installed; True if it is."""
    try:
        import ale_py
    except ImportError:
        return False
    gym.register_envs(ale_py)
    return True


def is_atari(env_id: str) -> bool:
    """Whether ``env_id`` is an ALE game (registered by ale-py)."""
    spec = gym.registry.get(env_id)
    return spec is not None and isinstance(spec.entry_point, str) and spec.entry_point.startswith("ale_py")


class FireReset(gym.Wrapper):
    """Press FIRE after every reset in games that wait for it (Breakout, Space Invaders...)."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        obs, info = self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(1)
        if terminated or truncated:
            obs, info = self.env.reset(**kwargs)
        return obs, info


def needs_fire(env: gym.Env) -> bool:
    """FIRE is action 1 of the game's minimal action set (and it has at least 3 actions)."""
    meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
    return len(meanings) >= 3 and meanings[1] == "FIRE"


def make_atari(env_id: str, *, training: bool, render_mode: str | None = None) -> gym.Env:
    """One ALE game with the standard preprocessing (see the module docstring), before frame stacking."""
    if not register_ale():
        raise DependencyMissingError(f"'{env_id}' needs ale-py", hint="pip install 'zoolab[atari]'")
    kwargs: dict[str, Any] = {"frameskip": 1, "max_num_frames_per_episode": MAX_FRAMES}
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = gym.make(env_id, **kwargs)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84,
                                          terminal_on_life_loss=training, grayscale_obs=True, scale_obs=False)
    if needs_fire(env):
        env = FireReset(env)
    if training:
        env = gym.wrappers.TransformReward(env, lambda r: float(np.sign(r)))
    return env
