"""What makes each method beyond the paper itself (PA-RL, EXPO, FQL, DSRL), each on a small
fixed case with a known critic, in seconds; and their life inside an agent."""

import numpy as np
import pytest
import torch

from bolrl.agent import Agent
from bolrl.bench import synthetic_episodes
from bolrl.config import AgentConfig, ExtractionTable
from bolrl.extraction import BestOfN, SoftmaxOfN, choice_q_gain
from bolrl.extraction.dsrl import DSRL
from bolrl.extraction.expo import EXPO
from bolrl.extraction.fql import FQL, fql_loss
from bolrl.extraction.parl import PARL, optimise_actions
from bolrl.nets import SquashedGaussian
from bolrl.registry import policy_passes_per_action

torch.set_num_threads(1)


class Bowl(torch.nn.Module):
    """A known critic: Q(s, a) = -||a - peak||^2, the same from every state."""

    def __init__(self, peak):
        super().__init__()
        self.peak = torch.as_tensor(peak, dtype=torch.float32)

    def q_min(self, obs, act, target=True):
        return -(act - self.peak).pow(2).sum(-1)


class Fixed(torch.nn.Module):
    """A stand-in BC policy: samples `centre` + 0.02 noise; its noise map is a -> 0.3 * z."""

    def __init__(self, centre):
        super().__init__()
        self.centre = torch.as_tensor(centre, dtype=torch.float32)

    def sample(self, obs, n, generator, noise=None):
        eps = torch.randn((obs.shape[0], n, len(self.centre)), generator=generator)
        return (self.centre + 0.02 * eps).clamp(-1, 1)

    def decode(self, obs, noise):
        return 0.3 * noise


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)  # the networks' initialisation


def fit(extractor, policy, critic, params, steps=400, lr=3e-3, rows=128, obs_dim=2):
    """Train an extractor's own networks alone on random states."""
    opt = torch.optim.Adam(extractor.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        batch = {"obs": torch.randn((rows, obs_dim), generator=g)}
        loss = sum(extractor.losses(policy, critic, batch, params, g).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return g


def test_fql_loss_normalises_q_and_weighs_the_distillation():
    q = torch.tensor([-1.0, -3.0])
    a, teacher = torch.zeros(2, 1), torch.ones(2, 1)
    assert fql_loss(q, a, teacher, 0.0) == pytest.approx(1.0)  # -mean(q) / mean|q|
    assert fql_loss(10 * q, a, teacher, 0.0) == pytest.approx(1.0)  # scale-free
    assert fql_loss(q, a, teacher, 2.0) == pytest.approx(1.0 + 2.0)


def test_fql_one_step_policy_trades_q_against_the_bc_policy_for_the_same_noise():
    critic, teacher = Bowl([0.5]), Fixed([0.0])  # the teacher maps z to 0.3 z
    obs = torch.zeros((2000, 2))
    g = torch.Generator().manual_seed(1)
    for alpha, near in ((0.0, "peak"), (100.0, "teacher")):
        fql = FQL.from_config(2, 1, AgentConfig.of(hidden=32, layers=2))
        fit(fql, teacher, critic, ExtractionTable(fql_alpha=alpha))
        z = torch.randn((2000, 1), generator=g)
        with torch.no_grad():
            a = fql.actor(obs, z)
        if near == "peak":  # Q alone: every noise goes to argmax Q
            assert (a - 0.5).abs().mean() < 0.05
        else:  # distillation dominates: the BC policy's action for that same noise
            assert (a - 0.3 * z.clamp(-3, 3)).abs().mean() < 0.05
            assert np.corrcoef(a[:, 0], z[:, 0])[0, 1] > 0.95
    with torch.no_grad():
        acted = fql.act(teacher, critic, obs[:5], ExtractionTable(), g)
    assert acted.shape == (5, 1) and acted.abs().max() <= 1.0


def test_dsrl_steers_the_frozen_policy_through_its_noise():
    critic, policy = Bowl([0.24]), Fixed([0.0])  # a = 0.3 w: Q is highest at w = 0.8
    dsrl = DSRL.from_config(2, 1, AgentConfig.of(critic_hidden=32, critic_layers=2,
                                                 dsrl_noise_bound=1.5, actor_entropy=1e-3))
    g = fit(dsrl, policy, critic, ExtractionTable(dsrl_noise_bound=1.5, actor_entropy=1e-3),
            steps=600)
    obs = torch.zeros((500, 2))
    with torch.no_grad():
        w, _ = dsrl.actor(obs, g)
        acted = dsrl.act(policy, critic, obs, ExtractionTable(), g)
        grid = torch.linspace(-1.0, 1.0, 11)[:, None]
        q_w = dsrl.q_w(torch.zeros((11, 2)), grid).min(0).values
    assert (w.mean() - 0.8).abs() < 0.15 and w.abs().max() <= 1.5  # bounded noise
    # it acts through the policy's map of its noise: near argmax Q, inside 0.3 x the bound
    assert (acted.mean() - 0.24).abs() < 0.05 and acted.abs().max() <= 0.3 * 1.5 + 1e-6
    truth = -(0.3 * grid[:, 0] - 0.24).pow(2)  # Q_W learned Q through the policy
    assert (q_w - truth).abs().max() < 0.03
    assert np.corrcoef(q_w, truth)[0, 1] > 0.98


def test_expo_edits_within_their_bound_and_acts_on_the_best_candidate():
    policy = Fixed([0.0])
    params = ExtractionTable(expo_edit_scale=0.1, actor_entropy=1e-4, n_samples=8)
    for peak, share in ((0.05, 0.5), (0.6, 1.0)):  # inside the bound; beyond it: saturates
        critic = Bowl([peak])
        expo = EXPO.from_config(2, 1, AgentConfig.of(hidden=32, layers=2, expo_edit_scale=0.1))
        g = fit(expo, policy, critic, params)
        obs = torch.zeros((400, 2))
        with torch.no_grad():
            acted = expo.act(policy, critic, obs, params, g)
            base = policy.sample(obs, 8, g)
        edit = 0.1 * share
        # the best of 8 base samples (spread 0.02) and their edits: the edit's target, or the
        # largest sample edited to the bound
        assert edit - 0.01 < float(acted.mean()) < edit + 0.035
        batch = {"obs": obs, "chunks": torch.zeros((400, 1))}
        assert expo.diagnostics(critic, batch, params)["edit_share"] == pytest.approx(
            share, abs=0.1)
        # the chosen action beats the best unedited sample: an edit was chosen
        assert float(critic.q_min(obs, acted).mean()) > float(critic.q_min(
            obs.repeat_interleave(8, 0), base.reshape(-1, 1)).view(400, 8).max(1).values.mean())
    candidates = expo.proposal(policy, critic, params).sample(obs[:3], 8, g)
    assert candidates.shape == (3, 16, 1)  # the backup sees the N samples and their N edits


def test_pa_rl_distils_states_of_the_whole_batch_demonstrations_and_autonomous_alike():
    """A policy batch holds its demonstrations first (bolrl.data.mixed_batch): the distilled
    rows keep the batch's share of them."""
    from bolrl.data import mixed_batch
    from bolrl.extraction.parl import distilled_rows

    g = torch.Generator().manual_seed(0)
    idx = mixed_batch(torch.arange(100), torch.arange(100, 1000), 256, 0.5, g)
    assert float((idx < 100).float().mean()) == pytest.approx(0.5)
    kept = idx[distilled_rows(256, 64)]
    assert len(kept) == 64 and float((kept < 100).float().mean()) == pytest.approx(0.5)
    assert len(idx[distilled_rows(256, 1000)]) == 256


def test_the_actors_train_without_touching_the_critic_or_the_policy():
    data = synthetic_episodes(600, 6, 2, seed=4)
    for extraction in ("expo", "fql", "dsrl"):
        cfg = AgentConfig.of(algorithm="iql", extraction=extraction, policy="flow", hidden=16,
                             layers=1, critic_hidden=16, diffusion_steps=2, batch_size=32,
                             n_samples=2, ema=0.0)
        agent = Agent(cfg, 6, 2, seed=0)
        batch = {"obs": torch.randn((32, 6)), "chunks": torch.rand((32, 8)) * 2 - 1}
        before = [p.detach().clone() for p in (*agent.critic.parameters(),
                                               *agent.policy.parameters())]
        losses = agent.extractor.losses(agent.policy, agent.critic, batch, cfg.extraction,
                                        agent.generator)
        agent.extractor_opt.zero_grad()
        sum(losses.values()).backward()
        agent.extractor_opt.step()
        after = [*agent.critic.parameters(), *agent.policy.parameters()]
        assert all(p.grad is None for p in after), extraction
        assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
        assert all(p.requires_grad for p in agent.critic.q.parameters())  # restored
    assert data.n_transitions > 0


def test_fql_distils_the_unclipped_output_so_an_overshoot_comes_back():
    """Q rates the clipped action; the distillation term sees mu unclipped, so an actor
    pushed past the box is pulled back towards the teacher."""
    fql = FQL.from_config(2, 1, AgentConfig.of(hidden=16, layers=1))
    with torch.no_grad():
        fql.actor.net[-1].bias.fill_(3.0)  # every output far past +1
    teacher, critic = Fixed([0.0]), Bowl([2.0])  # Q still rising at the box's edge
    fit(fql, teacher, critic, ExtractionTable(fql_alpha=100.0), steps=300)
    z = torch.randn((500, 1))
    with torch.no_grad():
        raw = fql.actor.raw(torch.zeros((500, 2)), z)
    assert float((raw > 1.0).float().mean()) < 0.2


def test_pa_rl_improves_samples_by_gradient_steps_and_distils_them_into_the_policy():
    critic = Bowl([0.3, -0.2])
    policy = Fixed([0.0, 0.0])  # every sample far from the peak
    g = torch.Generator().manual_seed(0)
    obs = torch.zeros((64, 2))
    global_only = optimise_actions(policy, critic, obs, ExtractionTable(
        n_samples=8, parl_top_k=2, parl_steps=0), g)
    local = optimise_actions(policy, critic, obs, ExtractionTable(
        n_samples=8, parl_top_k=2, parl_steps=10, parl_step_size=0.05), g)
    assert float(critic.q_min(obs, local).mean()) > float(critic.q_min(obs, global_only).mean())
    assert torch.allclose(local, torch.tensor([0.3, -0.2]), atol=0.06)  # walked to the peak
    # distillation: a Gaussian policy trained by PA-RL's loss moves its mean to the peak,
    # although no data label is there (labels say 0, 0)
    cfg = AgentConfig.of(algorithm="iql", extraction="pa-rl", policy="gaussian", hidden=32,
                         layers=2, n_samples=8, parl_top_k=2, parl_steps=5,
                         parl_step_size=0.05, action_chunk=1)
    agent = Agent(cfg, 2, 2, seed=0)
    opt = torch.optim.Adam(agent.policy.parameters(), lr=3e-3)
    batch = {"obs": obs, "chunks": torch.zeros((64, 2))}
    for _ in range(300):
        loss = PARL().policy_loss(agent.policy, critic, batch, cfg.extraction, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.allclose(agent.policy.act(obs, g).mean(0), torch.tensor([0.3, -0.2]),
                          atol=0.05)


def test_squashed_gaussian_log_density_integrates_to_one():
    actor = SquashedGaussian(1, 1, 8, 1, bound=0.5)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x, log_prob = actor(torch.zeros((20000, 1)), g)
    assert x.abs().max() <= 0.5
    # importance check: E_pi[1 / pi(x)] over the support [-0.5, 0.5] is its length, 1
    assert float((-log_prob).exp().mean()) == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("extraction", ["pa-rl", "expo", "fql", "dsrl"])
@pytest.mark.parametrize("policy", ["diffusion", "flow"])
def test_the_methods_train_act_and_resume_inside_an_agent(extraction, policy):
    data = synthetic_episodes(1200, 6, 2, seed=3)
    demos = data.first_episodes(data.n_episodes // 4)
    autonomous = data.split(demos.n_transitions)[1]
    cfg = AgentConfig.of(algorithm="iql", extraction=extraction, policy=policy, hidden=32,
                         layers=2, critic_hidden=32, n_samples=4, diffusion_steps=3,
                         batch_size=32, critic_round0=True)
    agent = Agent(cfg, 6, 2, seed=0)
    agent.train_base(demos, 10)
    base_action = agent.act(data.obs[:3])
    if agent.extractor_opt is not None:  # networks of its own: the base acts until they train
        from bolrl.agent import BASE_EXTRACTOR

        agent.generator.manual_seed(5)
        acted = agent.act(data.obs[:3])
        agent.generator.manual_seed(5)
        obs = agent.normalize(torch.as_tensor(data.obs[:3], dtype=torch.float32))
        base = BASE_EXTRACTOR.act(agent.acting_policy, agent.critic, obs, cfg.extraction,
                                  agent.generator)
        assert np.allclose(acted, base.numpy().reshape(3, -1, 2)[:, 0])
        agent.generator.manual_seed(5)
        own = agent.extractor.act(agent.acting_policy, agent.critic, obs, cfg.extraction,
                                  agent.generator)
        assert not np.allclose(acted, own.numpy().reshape(3, -1, 2)[:, 0])
    out = agent.train(demos, autonomous, 12)
    assert np.isfinite(out["policy_loss"]) and np.isfinite(out["critic_q_loss"])
    if extraction in ("expo", "fql", "dsrl"):
        assert np.isfinite(out["actor_loss"])
    assert ("latent_q_loss" in out) == (extraction == "dsrl")
    resumed = Agent(cfg, 6, 2, seed=9)
    resumed.load_state_dict(agent.state_dict())
    acting = Agent(cfg, 6, 2, seed=9)
    acting.load_acting_state(agent.acting_state())
    state = agent.generator.get_state()
    a = agent.act(data.obs[:4])
    for other in (resumed, acting):
        other.generator.set_state(state)
        assert np.allclose(other.act(data.obs[:4]), a)
    assert base_action.shape == a[:3].shape and np.abs(a).max() <= 1.0


def test_decode_is_each_policy_class_as_a_deterministic_map_of_its_noise():
    from bolrl.policies import POLICIES

    cfg = AgentConfig.of(hidden=16, layers=1, diffusion_steps=4)
    obs, z = torch.randn((5, 3)), torch.randn((5, 2))
    for name in ("gaussian", "diffusion", "flow"):
        policy = POLICIES[name].from_config(3, 2, cfg)
        z_grad = z.clone().requires_grad_(True)
        a = policy.decode(obs, z_grad)
        assert torch.equal(a, policy.decode(obs, z)) and a.abs().max() <= 1.0
        a.sum().backward()  # differentiable in the noise (DSRL would steer through it)
        assert z_grad.grad.abs().sum() > 0
    g = torch.Generator().manual_seed(0)
    flow = POLICIES["flow"].from_config(3, 2, cfg)  # the flow's sampler is its decode
    # DDIM: with the network's noise estimate exact for a fixed action a0, every step lands
    # on a0 (eta = 0: no fresh noise), whatever the start
    diffusion = POLICIES["diffusion"].from_config(3, 2, cfg)
    a0 = torch.tensor([[0.3, -0.6]]).expand(5, 2)

    def exact(obs_, a_t, t):
        abar = diffusion.abar[t][:, None]
        return (a_t - abar.sqrt() * a0) / (1 - abar).sqrt()

    diffusion._eps = exact
    assert torch.allclose(diffusion.decode(obs, z), a0, atol=1e-5)
    assert torch.allclose(flow.sample(obs, 1, g, noise=z[:, None])[:, 0], flow.decode(obs, z))


def test_compute_per_action_counts_samples_and_denoising_steps():
    cfg = AgentConfig.of(diffusion_steps=10, n_samples=16)
    passes = {x: policy_passes_per_action(x, "diffusion", cfg.networks, cfg.extraction)
              for x in ("none", "awr", "best-of-n", "pa-rl", "expo", "fql", "dsrl")}
    assert passes == {"none": 10, "awr": 10, "best-of-n": 160, "pa-rl": 160, "expo": 160,
                      "fql": 1, "dsrl": 10}


def test_the_q_gain_of_a_choice_is_zero_when_uniform_and_the_q_it_adds_when_argmax():
    q = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    assert choice_q_gain(q, torch.full_like(q, 0.5)) == 0.0
    argmax = BestOfN().choice_probs(q, ExtractionTable())
    assert choice_q_gain(q, argmax) == pytest.approx(0.25)  # (1 - 0.5 + 2 - 2) / 2


def test_softmax_of_n_at_a_small_beta_chooses_as_the_policy_alone_would():
    """Candidates 0.02 apart on a critic of slope 1: Q differs by about 0.02 among them, as
    the sparse-reward critics' do. softmax(3 Q) is then nearly uniform (the method acts as its
    BC policy), softmax(1e4 Q) is best-of-N; the diagnostic says which."""
    critic, policy = Bowl([0.5]), Fixed([0.0])
    batch = {"obs": torch.zeros((16 * 64, 2))}

    def gain(extractor, beta):
        g = torch.Generator().manual_seed(0)
        params = ExtractionTable(n_samples=16, awr_beta=beta)
        return extractor.diagnostics(critic, batch, params, policy, g)["choice_q_gain"]

    best = gain(BestOfN(), 3.0)
    assert 0.02 < best < 0.05  # about 1.8 sd of the candidates' Q, for the best of 16
    assert gain(SoftmaxOfN(), 3.0) < 0.1 * best
    assert gain(SoftmaxOfN(), 1e4) > 0.9 * best
