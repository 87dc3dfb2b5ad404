"""gymnasium >= 1.0 autoreset: which transitions reach the buffers, and truncation bootstrapping.

CountEnv's observation is the step count, so a real transition always goes from k to k+1. With
gymnasium's default NEXT_STEP autoreset a buffer would also receive fake "last obs -> reset obs"
steps with reward 0; zoolab must store none of them, must store the true final observation, and
must mark only terminations (not time-limit truncations) as terminal.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoolab.rl import DQN, PPO, SAC
from zoolab.rl.rollout import collect_rollout

NO_LEARNING = {"learning_starts": 10**9, "buffer_size": 1000}


def _rows(agent):
    n = agent.replay.size
    return (agent.replay.obs[:n, 0].numpy(), agent.replay.next_obs[:n, 0].numpy(),
            agent.replay.rewards[:n].numpy(), agent.replay.terminated[:n].numpy())


@pytest.mark.parametrize("n_envs", [1, 3])
def test_truncated_episodes_store_final_obs_and_are_not_terminal(n_envs):
    agent = DQN("ZoolabTest/CountTruncate-v0", seed=0, n_envs=n_envs, device="cpu", config=NO_LEARNING)
    agent.learn(60 * n_envs)
    obs, next_obs, rewards, terminated = _rows(agent)
    assert len(obs) == 60 * n_envs
    np.testing.assert_array_equal(next_obs, obs + 1)  # never a fake "5 -> 0" reset transition
    assert set(obs.tolist()) == {0, 1, 2, 3, 4}
    assert (next_obs == 5).sum() == 12 * n_envs  # every truncation stored with its real final obs
    assert np.all(rewards == 1.0)
    assert not terminated.any()  # time limits still bootstrap


def test_terminated_episodes_are_marked_terminal():
    agent = DQN("ZoolabTest/CountTerminate-v0", seed=0, n_envs=2, device="cpu", config=NO_LEARNING)
    agent.learn(30)
    obs, next_obs, rewards, terminated = _rows(agent)
    np.testing.assert_array_equal(next_obs, obs + 1)
    np.testing.assert_array_equal(terminated, (next_obs == 3).astype(np.float32))
    assert agent.episodes == 10


def test_continuous_replay_buffer_same_rules():
    agent = SAC("ZoolabTest/CountTerminateBox-v0", seed=0, device="cpu", config={**NO_LEARNING, "hidden_sizes": [8]})
    agent.learn(20)
    obs, next_obs, _, terminated = _rows(agent)
    np.testing.assert_array_equal(next_obs, obs + 1)
    np.testing.assert_array_equal(terminated, (next_obs == 3).astype(np.float32))


def test_ppo_rollout_bootstraps_truncation_from_final_obs():
    gamma = 0.9
    agent = PPO("ZoolabTest/CountTruncate-v0", seed=0, n_envs=1, device="cpu", config={"n_steps": 12, "gamma": gamma})
    agent._ensure_env()
    collect_rollout(agent, agent.net, agent.buffer)
    buf = agent.buffer
    obs = buf.obs[:, 0, 0].numpy()
    # The reset observation follows the last step directly: no zero-reward step in between.
    np.testing.assert_array_equal(obs, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
    with torch.no_grad():
        v_final = float(agent.net.value(torch.tensor([[5.0]])))
    for t in range(12):
        if obs[t] == 4:  # this step was truncated: reward 1 + gamma * V(final obs), and episode end
            assert buf.rewards[t, 0] == pytest.approx(1.0 + gamma * v_final, rel=1e-5)
            assert buf.dones[t, 0] == 1.0
        else:
            assert buf.rewards[t, 0] == 1.0 and buf.dones[t, 0] == 0.0


def test_ppo_rollout_does_not_bootstrap_termination():
    agent = PPO("ZoolabTest/CountTerminate-v0", seed=0, n_envs=2, device="cpu", config={"n_steps": 6})
    agent._ensure_env()
    collect_rollout(agent, agent.net, agent.buffer)
    np.testing.assert_array_equal(agent.buffer.rewards, np.ones((6, 2), np.float32))
    np.testing.assert_array_equal(agent.buffer.dones[:, 0], [0, 0, 1, 0, 0, 1])


def test_vector_env_uses_same_step_autoreset():
    from gymnasium.vector import AutoresetMode

    agent = PPO("CartPole-v1", seed=0, device="cpu", n_envs=2)
    agent._ensure_env()
    assert agent._venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    agent.close()
