"""Q-chunking's critic (bolrl/critics/qc.py): its target backs up from the best of N samples of
the policy at the next state, where IQL's backs up from an in-sample V(s')."""

import numpy as np
import pytest
import torch

from bolrl.agent import Agent
from bolrl.config import AgentConfig
from bolrl.critics.qc import QChunkingCritic, max_q_backup
from bolrl.data import Episodes
from bolrl.registry import method_pairs
from bolrl.study import why_invalid


class FixedSamples:
    """A stand-in policy whose N samples at any state are the given actions, in order."""

    def __init__(self, actions: list[float]):
        self.actions = torch.tensor(actions).view(1, -1, 1)
        self.asked = []

    def sample(self, obs, n, generator, noise=None):
        self.asked.append(n)
        return self.actions[:, :n].expand(len(obs), -1, -1)


def critic(n_samples: int = 3) -> QChunkingCritic:
    cfg = AgentConfig.of(algorithm="qc", critic_hidden=8, critic_layers=1,
                         n_samples=n_samples)
    torch.manual_seed(0)
    return QChunkingCritic(2, 1, cfg)


def test_the_backup_is_the_max_over_the_policys_samples():
    c = critic(n_samples=3)
    c.q_min = lambda obs, act, target=True: act[:, 0] * obs[:, 0]  # Q(s, a) = a s_0
    policy = FixedSamples([-0.5, 0.2, 0.9])
    next_obs = torch.tensor([[1.0, 0.0], [-2.0, 0.0]])
    got = c.next_value(next_obs, policy, torch.Generator().manual_seed(0))
    assert policy.asked == [3]  # N = [extraction].n_samples
    # s_0 = 1: the best sample is 0.9 (Q 0.9); s_0 = -2: the best is -0.5 (Q 1.0)
    torch.testing.assert_close(got, torch.tensor([0.9, 1.0]))
    assert max_q_backup(torch.tensor([[1.0, 3.0, 2.0]])).item() == 3.0


def test_the_td_target_bootstraps_from_that_backup_unless_the_episode_terminated():
    c = critic(n_samples=2)
    c.q_min = lambda obs, act, target=True: act[:, 0]
    policy = FixedSamples([0.25, 0.75])  # backup: 0.75 at every next state
    seen = {}
    c.q_loss = lambda batch, y: seen.setdefault("y", y) * 0 + y.sum()
    batch = {"obs": torch.zeros(2, 2), "chunks": torch.zeros(2, 1),
             "next_obs": torch.zeros(2, 2), "rewards": torch.tensor([0.0, 1.0]),
             "terminated": torch.tensor([0.0, 1.0]), "discount": torch.tensor([0.9, 0.9])}
    losses = c.losses(batch, policy, torch.Generator().manual_seed(0))
    assert set(losses) == {"critic_q_loss"}  # no V to learn
    torch.testing.assert_close(seen["y"], torch.tensor([0.9 * 0.75, 1.0]))
    with pytest.raises(ValueError, match="samples the policy"):
        c.losses(batch)


def test_it_learns_no_value_so_awr_does_not_combine_with_it():
    assert ("qc", "best-of-n") in method_pairs() and ("qc", "awr") not in method_pairs()
    assert "reads V(s), which the qc critic does not learn" in why_invalid(
        {"algorithm": "qc", "extraction": "awr"})


def test_an_agent_trains_it_and_acts_with_it():
    """In an agent: one optimizer over the twin Q alone, losses recorded (V's as NaN), and
    after training, best-of-N acts with the learned Q (on a bandit where a > 0 pays)."""
    rng = np.random.default_rng(0)
    n = 400
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    actions = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
    rewards = (actions[:, 0] > 0).astype(np.float32)
    data = Episodes(obs, actions, rewards, obs, np.ones(n, bool), np.zeros(n, bool))
    cfg = AgentConfig.of(algorithm="qc", extraction="best-of-n", policy="gaussian", hidden=32,
                         layers=2, critic_hidden=32, n_samples=16, batch_size=64,
                         action_chunk=1, demo_fraction=0.0, ema=0.0)
    agent = Agent(cfg, 3, 1, seed=0)
    assert [len(g["params"]) for g in agent.critic_opt.param_groups] == [
        len(list(agent.critic.q.parameters()))]
    out = agent.train(data, Episodes.empty(3, 1), 300)
    assert np.isfinite(out["critic_q_loss"]) and np.isnan(out["critic_v_loss"])
    chosen = agent.act(obs[:50])
    assert (chosen[:, 0] > 0).mean() > 0.9  # the best of 16 samples under the learned Q


def test_with_action_chunks_and_a_round0_critic():
    """Chunks of 4 actions (the paper studies' setting): the backup samples whole chunks at
    s_{t+h}; Q0 trains on the demonstrations alone, from its own random stream."""
    rng = np.random.default_rng(1)
    n, episode = 240, 12  # 20 episodes of 12 steps, success at the end of every other one
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    actions = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    ends = (np.arange(n) % episode) == episode - 1
    success = ends & ((np.arange(n) // episode) % 2 == 0)
    data = Episodes(obs, actions, success.astype(np.float32), np.roll(obs, -1, 0), success,
                    ends & ~success)
    cfg = AgentConfig.of(algorithm="qc", extraction="best-of-n", policy="diffusion", hidden=32,
                         layers=2, critic_hidden=32, n_samples=4, batch_size=32,
                         action_chunk=4, diffusion_steps=3, critic_round0=True,
                         demo_fraction=0.5)
    agent = Agent(cfg, 3, 2, seed=0)
    out = agent.train_base(data, 20)  # pi0, then Q0
    assert np.isfinite(out["critic_q_loss"]) and agent.critic_trained
    assert agent.plan(obs[:5]).shape == (5, 4, 2)  # best-of-N over chunks, with Q0
    out = agent.train(data, Episodes.empty(3, 2), 20)
    assert np.isfinite(out["critic_q_loss"]) and np.isfinite(out["q_mean"])
    assert np.isnan(agent.train(data, Episodes.empty(3, 2), 0)["critic_q_loss"])  # no step


def test_the_share_of_demonstrations_an_entry_declares_is_the_knobs_default():
    from bolrl.config import TrainTable
    from bolrl.registry import ALGORITHMS

    for name, share in TrainTable().demo_fraction.items():
        assert ALGORITHMS[name].demo_fraction == share
