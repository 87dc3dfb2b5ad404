"""DQN details a user relies on: the TD targets, LayerNorm Q-networks, the learning-rate schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from zoolab.rl import DQN, load_agent

# Overrides on top of the CartPole-v1 preset (which turns layer_norm and anneal_lr on).
SMALL = {"learning_starts": 64, "train_freq": 8, "gradient_steps": 4, "batch_size": 16, "log_interval": 64,
         "hidden_sizes": [16, 16], "layer_norm": False, "anneal_lr": False}


def test_phase_td_targets_match_one_minibatch_at_a_time():
    agent = DQN("CartPole-v1", seed=0, device="cpu", config=SMALL)
    agent.learn(256)
    batches = agent.replay.sample(np.random.default_rng(0), 16, k=4)
    targets = agent._phase_td_targets(batches)
    gamma = agent.config.gamma
    for g in range(4):
        with torch.no_grad():
            next_q = agent.q_target(batches.next_obs[g]).max(-1).values
        expected = batches.rewards[g] + gamma * (1.0 - batches.terminated[g]) * next_q
        torch.testing.assert_close(targets[g], expected)
    # Terminal rows do not bootstrap: their target is the reward alone.
    term = batches.terminated.bool()
    if term.any():
        torch.testing.assert_close(targets[term], batches.rewards[term])
    agent.close()


def test_layer_norm_q_network_trains_saves_and_reloads(tmp_path):
    agent = DQN("CartPole-v1", seed=1, device="cpu", config={**SMALL, "layer_norm": True})
    norms = [m for m in agent.q.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2  # one per hidden layer
    before = [n.weight.detach().clone() for n in norms]
    agent.learn(512)
    assert any(not torch.equal(b, n.weight) for b, n in zip(before, norms))  # the norm's gain is learnt

    loaded = load_agent(agent.save(tmp_path / "agent"), device="cpu")
    assert loaded.config.layer_norm is True
    probe = np.stack([agent.make_env().reset(seed=s)[0] for s in range(8)])
    with torch.no_grad():
        torch.testing.assert_close(loaded.q(torch.as_tensor(probe)), agent.q(torch.as_tensor(probe)))
    agent.close()


@pytest.mark.parametrize("dueling", [False, True])
def test_layer_norm_bounds_the_q_values_of_far_away_states(dueling):
    agent = DQN("CartPole-v1", seed=2, device="cpu", config={**SMALL, "layer_norm": True, "dueling": dueling})
    heads = [agent.q.value_head, agent.q.adv_head] if dueling else [agent.q.net[-1]]
    head_norm = float(sum(p.detach().abs().sum() for h in heads for p in h.parameters()))
    far = torch.full((4, 4), 1e6)  # states a million times outside anything seen
    with torch.no_grad():
        q = agent.q(far)
    # Normalised features have norm sqrt(width) = 4, so |Q| is at most the heads' weights times 4
    # plus biases (twice that for the dueling advantage, which subtracts its mean).
    assert torch.isfinite(q).all() and q.abs().max() <= 2 * 4 * head_norm
    plain = DQN("CartPole-v1", seed=2, device="cpu", config={**SMALL, "dueling": dueling})
    with torch.no_grad():
        assert plain.q(far).abs().max() > 1000  # without LayerNorm they grow with the input
    plain.close()
    agent.close()


def test_anneal_lr_decays_to_zero_by_the_end_of_the_run():
    agent = DQN("CartPole-v1", seed=0, device="cpu", config={**SMALL, "anneal_lr": True, "learning_rate": 1e-3})
    agent.learn(400)
    lr = agent.optimizer.param_groups[0]["lr"]
    # The last phase starts at step 400 - 400 % 8 = 400: 1e-3 * (1 - 400/400) = 0.
    assert lr == pytest.approx(0.0, abs=1e-12)
    constant = DQN("CartPole-v1", seed=0, device="cpu", config={**SMALL, "learning_rate": 1e-3})
    constant.learn(400)
    assert constant.optimizer.param_groups[0]["lr"] == 1e-3
    agent.close()
    constant.close()
