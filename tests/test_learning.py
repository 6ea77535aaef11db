"""The learning core: policy classes, the IQL critic, extraction methods, determinism."""

import numpy as np
import pytest
import torch

from bolrl.agent import Agent
from bolrl.config import AgentConfig, ExtractionTable
from bolrl.critics import expectile_loss, td_target
from bolrl.data import Episodes
from bolrl.extraction import awr_weights, best_of_n
from bolrl.policies import POLICIES
from bolrl.registry import EXTRACTIONS, method_pairs

Q_EXTRACTIONS = list(EXTRACTIONS)
# every method of the registries: imitation algorithms, and each Q-function with each
# extraction it combines with (the study's own rule)
METHODS = method_pairs()

torch.set_num_threads(1)

NONE = Episodes.empty(0, 0)  # no autonomous episodes: tests train on "demonstrations" alone
# The plain learner these tests' hand-computed values assume (the defaults of bolrl.config
# are the paper study's: 4-step chunks, a residual denoiser, cosine lr, an EMA).
PLAIN = dict(action_chunk=1, denoiser="mlp", lr_schedule="constant", ema=0.0, lr=3e-4,
             gaussian_nll_beta=0.0)


def config(**settings) -> AgentConfig:
    return AgentConfig.of(**{**PLAIN, **settings})


def fit_bimodal(policy_name: str, steps: int = 1500) -> np.ndarray:
    """Fit a 1-D action distribution with modes at -0.6 and +0.6 (constant observation)."""
    torch.manual_seed(0)
    policy = POLICIES[policy_name](1, 1, hidden=128, layers=3, diffusion_steps=10)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        act = torch.where(torch.rand(256, 1, generator=g) < 0.5, -0.6, 0.6)
        loss = policy.loss(torch.zeros(256, 1), act, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return policy.sample(torch.zeros(1, 1), 2000, g).numpy().ravel()


def test_flow_puts_mass_on_both_modes():
    flow = fit_bimodal("flow")
    near_left, near_right = np.mean(np.abs(flow + 0.6) < 0.15), np.mean(np.abs(flow - 0.6) < 0.15)
    assert near_left > 0.25 and near_right > 0.25 and near_left + near_right > 0.6


def test_flow_sampling_is_deterministic_given_its_noise():
    """Euler integration has no noise of its own: the same initial noise gives the same
    actions whatever the generator (the map a noise-steering method acts through)."""
    torch.manual_seed(0)
    policy = POLICIES["flow"](3, 2, hidden=16, layers=2, diffusion_steps=5)
    obs, noise = torch.randn(4, 3), torch.randn(4, 6, 2)
    with torch.no_grad():
        a = policy.sample(obs, 6, torch.Generator().manual_seed(1), noise=noise)
        b = policy.sample(obs, 6, torch.Generator().manual_seed(2), noise=noise)
    assert torch.equal(a, b) and a.abs().max() <= 1.0


def test_diffusion_puts_mass_on_both_modes_and_gaussian_cannot():
    diff = fit_bimodal("diffusion")
    near_left, near_right = np.mean(np.abs(diff + 0.6) < 0.15), np.mean(np.abs(diff - 0.6) < 0.15)
    assert near_left > 0.3 and near_right > 0.3 and near_left + near_right > 0.7
    gauss = fit_bimodal("gaussian")
    near_modes = np.mean(np.abs(np.abs(gauss) - 0.6) < 0.15)
    assert near_modes < 0.45  # a single Gaussian spreads its mass between the modes
    assert np.mean(np.abs(gauss) < 0.3) > 0.25


def test_weighted_loss_follows_the_weights():
    """With zero weight on one mode, BC fits only the other."""
    torch.manual_seed(0)
    policy = POLICIES["gaussian"](1, 1, hidden=32, layers=2)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    act = torch.tensor([[-0.6], [0.6]]).repeat(128, 1)
    weight = torch.tensor([0.0, 1.0]).repeat(128)
    for _ in range(500):
        loss = policy.loss(torch.zeros(256, 1), act, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(float(policy.act(torch.zeros(1, 1), None).detach()) - 0.6) < 0.05


def chain_mdp() -> Episodes:
    """States s0..s3 and a dead end d (one-hot). From s0, action +1 walks the chain s0->s1->
    s2->s3 and succeeds from s3 (reward 1, terminated); action -1 goes to d (reward 0), where
    the episode is cut at the horizon. d only leads to d. With gamma = 0.9 and one action per
    state on the chain: Q(s3) = 1, Q(s2) = 0.9, Q(s1) = 0.81, Q(s0, +1) = 0.729, Q(s0, -1) = 0,
    and V(s0) = the 0.8-expectile of {0.729, 0} = 0.8 * 0.729."""
    eye = np.eye(5, dtype=np.float32)
    obs, act, rew, nxt, term, trunc = [], [], [], [], [], []

    def add(s, a, r, s2, te, tr):
        obs.append(eye[s]), act.append([a]), rew.append(r), nxt.append(eye[s2])
        term.append(te), trunc.append(tr)

    for _ in range(50):
        add(0, 1.0, 0.0, 1, False, False)
        add(1, 1.0, 0.0, 2, False, False)
        add(2, 1.0, 0.0, 3, False, False)
        add(3, 1.0, 1.0, 3, True, False)
        add(0, -1.0, 0.0, 4, False, False)
        add(4, 0.0, 0.0, 4, False, True)
    return Episodes(np.array(obs), np.array(act, np.float32), np.array(rew, np.float32),
                    np.array(nxt), np.array(term), np.array(trunc))


def chain_agent(extraction="best-of-n", policy="gaussian", steps=3000) -> Agent:
    cfg = config(algorithm="iql", extraction=extraction, policy=policy, hidden=64, layers=2,
                      critic_hidden=64, critic_layers=2, lr=1e-3, gamma=0.9, expectile=0.8,
                      target_tau=0.02, n_samples=16)
    agent = Agent(cfg, obs_dim=5, act_dim=1, seed=0)
    agent.train(chain_mdp(), NONE, steps)
    return agent


def test_critic_learns_known_values_on_a_small_mdp():
    agent = chain_agent()
    eye = torch.as_tensor(np.eye(5, dtype=np.float32))
    obs = agent.normalize(eye)
    with torch.no_grad():
        q_chain = agent.critic.q_min(obs[:4], torch.ones(4, 1), target=False).numpy()
        q_bad = float(agent.critic.q_min(obs[:1], -torch.ones(1, 1), target=False))
        v0 = float(agent.critic.value(obs[:1]))
    np.testing.assert_allclose(q_chain, [0.729, 0.81, 0.9, 1.0], atol=0.05)
    assert abs(q_bad) < 0.1  # bootstrapped through the dead end: slower to settle
    assert abs(v0 - 0.8 * 0.729) < 0.06


def test_best_of_n_executes_the_higher_q_action():
    agent = chain_agent()  # a Gaussian BC policy over {+1, -1} at s0: it samples both
    actions = agent.act(np.tile(np.eye(5, dtype=np.float32)[0], (200, 1)))
    assert np.mean(actions[:, 0] > 0.5) > 0.95


def test_best_of_n_picks_the_argmax():
    cands = torch.tensor([[[0.1], [0.9], [0.5]], [[0.3], [0.2], [0.7]]])
    q = torch.tensor([[1.0, 3.0, 2.0], [5.0, 0.0, 1.0]])
    assert best_of_n(cands, q).tolist() == [[pytest.approx(0.9)], [pytest.approx(0.3)]]


def test_awr_weights_match_hand_computed_values():
    q = torch.tensor([0.0, 1.0, 2.0, -1.0])
    v = torch.tensor([0.0, 0.5, 0.0, 0.0])
    w = awr_weights(q, v, beta=2.0, max_weight=20.0)
    np.testing.assert_allclose(w.numpy(), [1.0, np.e, 20.0, np.exp(-2.0)], rtol=1e-6)


def test_expectile_loss_and_td_target_by_hand():
    diff = torch.tensor([1.0, -2.0])
    # 0.8 * 1^2 and 0.2 * 2^2, averaged
    assert float(expectile_loss(diff, 0.8)) == pytest.approx((0.8 + 0.8) / 2)
    y = td_target(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0]), torch.tensor([5.0, 2.0]), 0.9)
    assert y.tolist() == pytest.approx([1.0, 1.8])


def bandit(n=2000, seed=0) -> Episodes:
    """One-step episodes, actions uniform in [-1, 1], reward = the action (Q(s, a) = a)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    return Episodes(obs, act, act[:, 0].copy(), obs, np.ones(n, bool), np.zeros(n, bool))


@pytest.mark.parametrize("policy", list(POLICIES))
def test_ddpg_bc_raises_q_of_the_policy_actions(policy):
    data = bandit()
    cfg = config(algorithm="iql", extraction="ddpg-bc", policy=policy, hidden=64, layers=2,
                      critic_hidden=64, lr=1e-3, ddpg_alpha=2.5, n_samples=4)
    agent = Agent(cfg, 3, 1, seed=0)
    obs = data.obs[:500]
    before = agent.act(obs).mean()  # Q(s, a) = a: the mean action is the mean Q
    agent.train(data, NONE, 800)
    after = agent.act(obs).mean()
    bc = Agent(config(algorithm="bc", extraction="none", policy=policy, hidden=64, layers=2,
                           lr=1e-3), 3, 1, seed=0)
    bc.train(data, NONE, 800)
    assert after > before + 0.3 and after > 0.5
    assert after > bc.act(obs).mean() + 0.3  # plain BC stays near the data's mean action, 0


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("algorithm, extraction", METHODS)
def test_training_is_deterministic(policy, algorithm, extraction):
    data = bandit(300)
    cfg = config(algorithm=algorithm, extraction=extraction, policy=policy, hidden=32,
                         layers=2, critic_hidden=32, n_samples=4, batch_size=64)
    a, b = Agent(cfg, 3, 1, seed=5), Agent(cfg, 3, 1, seed=5)
    a.train(data, NONE, 30)
    b.train(data, NONE, 30)
    assert_same_state(a.policy, b.policy)
    if a.critic is not None:
        assert_same_state(a.critic, b.critic)
    np.testing.assert_array_equal(a.act(data.obs[:10]), b.act(data.obs[:10]))


@pytest.mark.parametrize("policy", list(POLICIES))
def test_every_method_starts_from_the_same_base_policy(policy):
    """Round 0 is behaviour cloning for all methods, which act with the policy alone until a
    critic has trained (no Q0 here)."""
    data = bandit(300)
    agents = [Agent(config(algorithm=alg, extraction=ext, policy=policy, hidden=32,
                                   layers=2, critic_hidden=32, n_samples=8, batch_size=64),
                    3, 1, seed=3)
              for alg, ext in METHODS]
    for agent in agents:
        agent.train_base(data, 30)
    obs = data.obs[:20]
    base_actions = agents[0].act(obs)
    for other in agents[1:]:
        assert_same_state(agents[0].policy, other.policy)
        np.testing.assert_array_equal(base_actions, other.act(obs))


@pytest.mark.parametrize("extraction", [x for x in Q_EXTRACTIONS
                                        if EXTRACTIONS[x].samples_per_action(
                                            ExtractionTable(n_samples=8)) > 1])
def test_implicit_methods_act_with_the_critic_once_trained(extraction):
    data = bandit(300)
    cfg = config(algorithm="iql", extraction=extraction, policy="gaussian", hidden=32,
                         layers=2, critic_hidden=32, n_samples=8, batch_size=64)
    agent = Agent(cfg, 3, 1, seed=3)
    agent.train_base(data, 30)
    obs = data.obs[:20]
    base_actions = agent.act(obs)
    agent.train(data, NONE, 30)
    assert agent.critic_trained
    assert not np.array_equal(base_actions, agent.act(obs))


def test_filtered_bc_trains_on_successes_only():
    data = bandit(400)
    data = Episodes(data.obs, data.actions, (data.actions[:, 0] > 0).astype(np.float32),
                    data.next_obs, data.actions[:, 0] > 0, data.actions[:, 0] <= 0)
    cfg = config(algorithm="filtered-bc", extraction="none", policy="gaussian", hidden=32,
                      layers=2, lr=3e-3)
    agent = Agent(cfg, 3, 1, seed=0)
    agent.train(data, NONE, 600)
    assert agent.act(data.obs).mean() > 0.3  # successes are the positive actions, mean 0.5


def test_checkpoint_roundtrip_continues_identically(tmp_path):
    data = bandit(300)
    cfg = config(algorithm="iql", extraction="awr", policy="diffusion", hidden=32,
                      layers=2, critic_hidden=32, batch_size=64)
    a = Agent(cfg, 3, 1, seed=1)
    a.train(data, NONE, 20)
    torch.save(a.state_dict(), tmp_path / "agent.pt")
    b = Agent(cfg, 3, 1, seed=1)
    b.load_state_dict(torch.load(tmp_path / "agent.pt", weights_only=False))
    a.train(data, NONE, 20)
    b.train(data, NONE, 20)
    assert_same_state(a.policy, b.policy)
    assert_same_state(a.critic, b.critic)


def test_action_chunks_by_hand():
    from bolrl.data import action_chunks

    # two episodes of lengths 3 and 2; actions are 1-D, valued by their index
    acts = np.arange(5, dtype=np.float32)[:, None]
    term = np.array([False, False, True, False, False])
    trunc = np.array([False, False, False, False, True])
    data = Episodes(acts, acts, term.astype(np.float32), acts, term, trunc)
    chunks = action_chunks(data, 3)
    assert chunks.tolist() == [[0, 1, 2], [1, 2, 2], [2, 2, 2], [3, 4, 4], [4, 4, 4]]
    np.testing.assert_array_equal(action_chunks(data, 1), acts)


class CountingAgent:
    """Wraps an agent to count policy queries."""

    def __init__(self, agent):
        self.agent, self.calls = agent, 0
        self.cfg, self.act_dim = agent.cfg, agent.act_dim

    def plan(self, obs):
        self.calls += 1
        return self.agent.plan(obs)


def test_chunks_are_executed_open_loop():
    from bolrl.loop import AgentActor

    data = bandit(300)
    cfg = config(algorithm="bc", extraction="none", policy="diffusion", hidden=32,
                      layers=2, action_chunk=3)
    agent = Agent(cfg, 3, 1, seed=0)
    agent.train(data, NONE, 10)
    counting = CountingAgent(agent)
    actor = AgentActor(counting)
    rows = np.arange(4)
    actor.begin(rows)
    planned = agent.plan(data.obs[:4])
    assert planned.shape == (4, 3, 1)
    for _ in range(6):
        actor.act(rows, data.obs[:4], None)
    assert counting.calls == 2  # one query per 3 executed steps
    actor.begin(rows[:1])  # a new episode in row 0 starts a new chunk at once
    actor.act(rows, data.obs[:4], None)
    assert counting.calls == 3


def test_best_of_n_rates_whole_chunks():
    from bolrl.extraction import BestOfN

    class FixedPolicy:
        def sample(self, obs, n, g):  # two candidate chunks of two 1-D actions
            return torch.tensor([[[0.1, 0.9], [0.8, -0.5]]]).expand(obs.shape[0], -1, -1)

    class SumCritic:
        def q_min(self, obs, chunk, target=True):
            return chunk.sum(dim=1)  # Q = the sum of the chunk's actions

    chosen = BestOfN().act(FixedPolicy(), SumCritic(), torch.zeros(2, 3),
                           ExtractionTable(n_samples=2), None)
    assert chosen.tolist() == [[pytest.approx(0.1), pytest.approx(0.9)]] * 2  # 1.0 > 0.3


def test_chunk_returns_by_hand():
    from bolrl.data import chunk_returns

    # one successful episode of 3 steps (reward 1 at its end), then one cut at the horizon
    o = np.arange(5, dtype=np.float32)[:, None]
    term = np.array([False, False, True, False, False])
    trunc = np.array([False, False, False, False, True])
    data = Episodes(o, o, term.astype(np.float32), o + 10, term, trunc)
    v = chunk_returns(data, 2, gamma=0.5)
    np.testing.assert_allclose(v["returns"], [0.0, 0.5, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(v["next_obs"][:, 0], [11, 12, 12, 14, 14])
    assert v["terminated"].tolist() == [False, True, True, False, False]
    np.testing.assert_allclose(v["discount"], [0.25, 0.25, 0.5, 0.25, 0.5])
    one = chunk_returns(data, 1, gamma=0.5)  # H = 1: the transitions themselves
    np.testing.assert_allclose(one["returns"], data.rewards)
    np.testing.assert_allclose(one["next_obs"], data.next_obs)
    np.testing.assert_allclose(one["discount"], 0.5)


@pytest.mark.parametrize("extraction", Q_EXTRACTIONS)
def test_chunked_q_methods_train_and_act(extraction):
    data = bandit(300)
    cfg = config(algorithm="iql", extraction=extraction, policy="diffusion", hidden=32,
                      layers=2, critic_hidden=32, n_samples=4, batch_size=64, action_chunk=2)
    agent = Agent(cfg, 3, 1, seed=0)
    losses = agent.train(data, NONE, 20)
    assert np.isfinite(losses["policy_loss"]) and np.isfinite(losses["critic_q_loss"])
    assert agent.plan(data.obs[:5]).shape == (5, 2, 1)
    assert agent.act(data.obs[:5]).shape == (5, 1)


def test_filtered_bc_trains_exactly_as_bc_when_every_episode_succeeded():
    data = bandit(200)  # one-step episodes, all terminated: all "successful"
    models = []
    for algorithm in ("bc", "filtered-bc"):
        cfg = config(algorithm=algorithm, extraction="none", policy="diffusion", hidden=32,
                          layers=2, batch_size=64)
        agent = Agent(cfg, 3, 1, seed=3)
        agent.train(data, NONE, 30)
        models.append(agent.policy)
    assert_same_state(*models)


def test_normalizer_keeps_out_of_distribution_observations_bounded():
    """A feature nearly constant in the demonstrations (a cube's quaternion x: std 1e-4) must
    not become a huge input when an object tips over in an autonomous episode."""
    from bolrl.nets import Normalizer

    rng = np.random.default_rng(0)
    demos = np.column_stack([rng.normal(0.0, 0.05, 500), rng.normal(0.0, 1e-4, 500)])
    norm = Normalizer(2, clip=5.0, std_floor=np.array([0.01, 0.1], np.float32))
    norm.fit(demos.astype(np.float32))
    tipped = torch.tensor([[0.0, 0.7]])  # quaternion x of a cube on its side
    z = norm(tipped)
    assert float(z.abs().max()) <= 5.0
    assert float(norm.std[1]) == pytest.approx(0.1)  # the unitless floor, not 1e-4
    assert norm.clipped_share(torch.cat([tipped, torch.zeros(3, 2)])) == 0.25
    wobble = torch.tensor([[0.0, 0.01]])  # a cube turning slightly in the hand: small input
    assert float(norm(wobble)[0, 1].abs()) < 0.2


def test_agent_uses_the_unitless_floor_of_the_task():
    cfg = config(algorithm="bc", extraction="none", policy="gaussian", hidden=8,
                      layers=1, obs_std_floor=0.01, obs_std_floor_unitless=0.1, obs_clip=5.0)
    agent = Agent(cfg, 3, 1, seed=0, unitless_features=(2,))
    assert agent.normalize.floor.tolist() == pytest.approx([0.01, 0.01, 0.1])
    assert agent.normalize.clip == 5.0


def test_padded_chunk_labels_do_not_enter_the_gaussian_loss():
    torch.manual_seed(0)
    net = POLICIES["gaussian"](3, 4, hidden=16, layers=2)
    obs, act = torch.randn(8, 3), torch.rand(8, 4) * 2 - 1
    mask = torch.ones(8, 4)
    mask[:, 2:] = 0.0  # the second action of each 2-step chunk lies past the episode's end
    other = act.clone()
    other[:, 2:] = 0.9  # what the padding holds must not matter
    with torch.no_grad():
        losses = [float(net.loss(obs, a, mask=mask)) for a in (act, other)]
        assert losses[0] == pytest.approx(losses[1])
        assert float(net.loss(obs, act)) != pytest.approx(losses[0])


def test_masked_diffusion_loss_by_hand():
    """The denoising error is averaged over the label dimensions the mask keeps."""
    torch.manual_seed(0)
    net = POLICIES["diffusion"](3, 4, hidden=16, layers=2, diffusion_steps=5)
    obs, act = torch.randn(8, 3), torch.rand(8, 4) * 2 - 1
    mask = torch.ones(8, 4)
    mask[:4, 2:] = 0.0
    with torch.no_grad():
        loss = float(net.loss(obs, act, generator=torch.Generator().manual_seed(1), mask=mask))
        g = torch.Generator().manual_seed(1)
        t = torch.randint(0, 5, (8,), generator=g)
        eps = torch.randn(act.shape, generator=g)
        abar = net.abar[t][:, None]
        err = (net._eps(obs, abar.sqrt() * act + (1 - abar).sqrt() * eps, t) - eps).pow(2)
        by_hand = torch.cat([err[:4, :2].mean(1), err[4:].mean(1)]).mean()
    assert loss == pytest.approx(float(by_hand), rel=1e-6)


def test_q0_is_trained_on_the_demonstrations_and_leaves_the_base_policy_alone():
    data = bandit(300)
    common = dict(policy="gaussian", hidden=32, layers=2, critic_hidden=32, n_samples=8,
                  batch_size=64)
    bc = Agent(config(algorithm="bc", extraction="none", **common), 3, 1, seed=3)
    q0 = Agent(config(algorithm="iql", extraction="best-of-n", critic_round0=True,
                           **common), 3, 1, seed=3)
    plain = Agent(config(algorithm="iql", extraction="best-of-n", **common), 3, 1, seed=3)
    for agent in (bc, q0, plain):
        losses = agent.train_base(data, 40)
    assert np.isfinite(losses["policy_loss"])
    assert q0.critic_trained and not plain.critic_trained
    assert_same_state(bc.policy, q0.policy)
    assert torch.equal(bc.generator.get_state(), q0.generator.get_state())
    obs = data.obs[:50]
    np.testing.assert_array_equal(bc.act(obs), plain.act(obs))  # no critic yet: the policy
    assert not np.array_equal(bc.act(obs), q0.act(obs))  # Q0 chooses among N samples


def test_ema_copy_is_the_acting_policy():
    data = bandit(300)
    cfg = config(algorithm="bc", extraction="none", policy="gaussian", hidden=32,
                      layers=2, ema=0.05, batch_size=64)
    agent = Agent(cfg, 3, 1, seed=0)
    agent.train(data, NONE, 50)
    assert agent.acting_policy is agent.policy_ema
    online = agent.policy.act(agent.normalize(torch.as_tensor(data.obs[:5])), None)
    np.testing.assert_allclose(agent.act(data.obs[:5]), agent.policy_ema.act(
        agent.normalize(torch.as_tensor(data.obs[:5])), None).numpy(), rtol=1e-6)
    assert not np.allclose(agent.act(data.obs[:5]), online.detach().numpy())
    assert Agent(config(ema=0.0), 3, 1, seed=0).policy_ema is None


def test_cosine_lr_by_hand():
    from bolrl.agent import cosine_lr

    assert cosine_lr(1e-3, 0, 100) == pytest.approx(1e-3)
    assert cosine_lr(1e-3, 50, 100) == pytest.approx(5e-4)
    assert cosine_lr(1e-3, 100, 100) == pytest.approx(0.0, abs=1e-12)


def test_demo_fraction_holds_in_policy_batches_but_not_critic_batches(monkeypatch):
    """With a demonstration share of 0.5 the policy sees half demonstrations; the critic
    samples uniformly over all transitions."""
    import bolrl.trainer as trainer_module

    data = bandit(1000)
    demos, autonomous = data.split(100)
    seen = []
    original = trainer_module.mixed_batch

    def spy(demo_idx, auto_idx, batch_size, fraction, g):
        idx = original(demo_idx, auto_idx, batch_size, fraction, g)
        seen.append((fraction, float((idx < 100).float().mean())))
        return idx

    monkeypatch.setattr(trainer_module, "mixed_batch", spy)
    cfg = config(algorithm="iql", extraction="awr", policy="gaussian", hidden=16,
                      layers=1, critic_hidden=16, batch_size=200, demo_fraction=0.5)
    out = Agent(cfg, 3, 1, seed=0).train(demos, autonomous, 20)
    policy = [share for fraction, share in seen if fraction == 0.5]
    critic = [share for fraction, share in seen if fraction == 0.0]
    assert np.mean(policy[:20]) == pytest.approx(0.5)
    assert np.mean(critic) < 0.2  # the demonstrations' natural share is 10%
    assert out["demo_share_batch"] == 0.5 and out["demo_share_data"] == pytest.approx(0.1)
    assert 0 < out["awr_ess"] <= 1 and "choice_q_gain" not in out
    cfg = config(algorithm="iql", extraction="best-of-n", policy="gaussian", hidden=16,
                 layers=1, critic_hidden=16, batch_size=200, demo_fraction=0.5)
    assert Agent(cfg, 3, 1, seed=0).train(demos, autonomous, 20)["choice_q_gain"] >= 0


def test_noise_goes_to_the_listed_action_dimensions_only():
    from bolrl.config import NoiseTable
    from bolrl.loop import AgentActor
    from bolrl.noise import WhiteNoise

    data = bandit(300)
    cfg = config(algorithm="bc", extraction="none", policy="gaussian", hidden=8, layers=1)
    agent = Agent(cfg, 3, 1, seed=0)
    agent.train(data, NONE, 5)

    class Fixed:  # an agent whose plan is all zeros, in 3 action dimensions
        def __init__(self):
            self.cfg, self.act_dim = agent.cfg, 3

        def plan(self, obs):
            return np.zeros((len(obs), 1, 3), np.float32)

    noise = WhiteNoise(4, 2, 50, NoiseTable(sigma=0.2), np.random.default_rng(0))
    actor = AgentActor(Fixed(), noise, (0, 2))
    rows = np.arange(4)
    actor.begin(rows)
    actions = actor.act(rows, np.zeros((4, 3), np.float32), None)
    assert (actions[:, 1] == 0).all()
    assert (actions[:, [0, 2]] != 0).all()


def test_softmax_of_n_draws_by_exp_beta_q():
    from bolrl.extraction import softmax_of_n

    cands = torch.tensor([[[0.0], [1.0]]]).expand(4000, -1, -1)  # two candidates per state
    q = torch.tensor([[0.0, np.log(3.0)]]).expand(4000, -1)  # exp(Q): 1 and 3
    g = torch.Generator().manual_seed(0)
    picked = softmax_of_n(cands, q, beta=1.0, g=g)[:, 0]
    assert float(picked.mean()) == pytest.approx(0.75, abs=0.03)  # 3 / (1 + 3)
    greedy = softmax_of_n(cands, q, beta=100.0, g=g)[:, 0]
    assert bool((greedy == 1.0).all())  # a large beta is best-of-n


def test_beta_nll_gives_the_mean_a_squared_error_gradient():
    """With beta = 1 the loss's gradient on the mean is (mu - a) / B whatever sigma is; the
    plain NLL's is (mu - a) / (B sigma^2)."""
    obs, act = torch.randn(4, 3), torch.zeros(4, 2)
    for beta, scale in ((1.0, 1.0), (0.0, float(np.exp(10.0)))):  # sigma = e^-5
        net = POLICIES["gaussian"](3, 2, hidden=8, layers=1, nll_beta=beta)
        mean = (torch.rand(4, 2) - 0.5).requires_grad_()
        log_std = torch.full((4, 2), -5.0, requires_grad=True)
        net._dist = lambda obs, m=mean, s=log_std: (m, s)
        net.loss(obs, act).backward()
        torch.testing.assert_close(mean.grad, scale * (mean.detach() - act) / 4, rtol=1e-4,
                                   atol=0.0)


def test_the_gaussian_log_std_floor_bounds_how_much_an_error_weighs():
    """The paper's Gaussian: plain NLL with its std floored at e^m; a network that wants a
    tiny std gets e^m, so an action error weighs at most exp(-2 m) a squared error."""
    for floor in (-5.0, -2.0):
        net = POLICIES["gaussian"](3, 2, hidden=8, layers=1, nll_beta=0.0, log_std_min=floor)
        with torch.no_grad():
            net.net[-1].bias[2:] = -50.0  # the log-std outputs: far below any floor
        _, log_std = net._dist(torch.randn(5, 3))
        assert torch.allclose(log_std, torch.full_like(log_std, floor))


@pytest.mark.parametrize("policy_name", list(POLICIES))
def test_a_policy_samples_from_the_initial_noise_it_is_given(policy_name):
    """sample(..., noise=) uses the given draw in place of one from the generator: the same
    noise and generator state give the same actions, other noise other actions, and with no
    noise the generator's own draw is used as before."""
    torch.manual_seed(0)
    policy = POLICIES[policy_name](3, 2, hidden=16, layers=2, diffusion_steps=5)
    obs = torch.randn(4, 3)
    noise = torch.randn(4, 5, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = policy.sample(obs, 5, torch.Generator().manual_seed(2), noise=noise)
        b = policy.sample(obs, 5, torch.Generator().manual_seed(2), noise=noise.clone())
        c = policy.sample(obs, 5, torch.Generator().manual_seed(2), noise=-noise)
        own = policy.sample(obs, 5, torch.Generator().manual_seed(2))
        g = torch.Generator().manual_seed(2)
        drawn = torch.randn(4, 5, 2, generator=g)  # what the sampler draws first...
        same = policy.sample(obs, 5, g, noise=drawn)  # ... and the rest from where it left off
    assert a.shape == (4, 5, 2) and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(own, same)  # the given draw is exactly where the generator's goes
