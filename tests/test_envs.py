"""The embedded task suite: Gymnasium API, experts, reset distributions, batching."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from bolrl.demos import expert_success_rate
from bolrl.envs import TASKS, get_task
from bolrl.envs.batched import BatchedEnv, env_seeds
from bolrl.rollout import rollout

TASK_NAMES = list(TASKS)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_gymnasium_env_passes_check_env(name):
    env = gym.make(TASKS[name].gym_id)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == TASKS[name].horizon


@pytest.mark.parametrize("name", TASK_NAMES)
def test_expert_succeeds_at_least_95_percent(name):
    assert expert_success_rate(TASKS[name], episodes=100, seed=2026) >= 0.95


class RandomActor:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def begin(self, rows):
        pass

    def act(self, rows, obs, qpos):
        return self.rng.uniform(-1, 1, (len(rows), 5))


@pytest.mark.parametrize("name", TASK_NAMES)
def test_random_policy_rarely_succeeds(name):
    task = TASKS[name]
    data = rollout(task, env_seeds(5, 100), RandomActor(5), episodes=100)
    assert data.n_episodes == 100
    assert data.episode_success.mean() < 0.05


@pytest.mark.parametrize("name", TASK_NAMES)
def test_batched_env_matches_single_gymnasium_envs(name):
    task = TASKS[name]
    seeds = env_seeds(11, 3)
    batch = BatchedEnv(task, seeds)
    singles = [gym.make(task.gym_id) for _ in seeds]
    obs = [env.reset(seed=s)[0] for env, s in zip(singles, seeds, strict=False)]
    np.testing.assert_array_equal(batch.observe(), np.stack(obs))
    rng = np.random.default_rng(0)
    for _ in range(25):
        actions = rng.uniform(-1, 1, (3, 5)).astype(np.float32)
        step = batch.step(actions)
        for i, env in enumerate(singles):
            o, r, term, trunc, info = env.step(actions[i])
            np.testing.assert_array_equal(step.final_obs[i], o)
            assert step.reward[i] == r and step.terminated[i] == term


@pytest.mark.parametrize("name", TASK_NAMES)
def test_reset_distribution_is_seeded_and_reproducible(name):
    task = TASKS[name]
    a = BatchedEnv(task, env_seeds(3, 4)).observe()
    b = BatchedEnv(task, env_seeds(3, 4)).observe()
    c = BatchedEnv(task, env_seeds(4, 4)).observe()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert len({tuple(row) for row in a}) == 4  # environments in a batch differ


def test_batched_env_resets_finished_episodes_itself():
    task = TASKS["lift"]
    env = BatchedEnv(task, env_seeds(0, 2))
    zero = np.zeros((2, 5))
    for _t in range(task.horizon):
        step = env.step(zero)
    assert step.truncated.all() and not step.terminated.any()
    assert (env.t == 0).all()
    assert not np.allclose(step.obs, step.final_obs)  # new episodes began


def test_inactive_rows_are_not_stepped():
    env = BatchedEnv(TASKS["lift"], env_seeds(0, 2))
    before = env.qpos.copy()
    step = env.step(np.ones((2, 5)), active=np.array([True, False]))
    assert not np.allclose(env.qpos[0], before[0])
    np.testing.assert_array_equal(env.qpos[1], before[1])
    assert env.t.tolist() == [1, 0] and not step.truncated[1]


def test_unknown_task_names_the_valid_ones():
    with pytest.raises(ValueError, match="lift, pick-place, nut-assembly"):
        get_task("lfit")


def test_rollout_returns_episodes_in_slot_order_not_finishing_order():
    """The expert's episodes differ in length; rollout returns them by slot (slot 0's first
    episode, slot 1's, ..., then slot 0's second), so taking the first n of them is not
    taking the quickest n."""
    from bolrl.rollout import ExpertActor

    task = TASKS["lift"]
    seeds = env_seeds(7, 12)
    data = rollout(task, seeds, ExpertActor(task, seed=7), episodes=24)
    starts = np.r_[0, np.flatnonzero(data.ends)[:-1] + 1]
    first_obs = BatchedEnv(task, seeds).observe()
    np.testing.assert_array_equal(data.obs[starts[:12]], first_obs)  # first episodes by slot
    lengths = np.diff(np.r_[starts, data.n_transitions])
    assert (np.diff(lengths[:12]) < 0).any()  # not the order in which they finished
