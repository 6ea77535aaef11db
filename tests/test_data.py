"""The episode dataset and exact-count rollouts."""

import numpy as np
import torch

from bolrl.data import (
    Episodes,
    batch_demo_share,
    chunk_label_mask,
    mixed_batch,
    plan_aligned,
)
from bolrl.demos import demonstrations, generate
from bolrl.envs import TASKS
from bolrl.rollout import quotas


def toy(lengths, success):
    obs, ends = [], []
    for n, ok in zip(lengths, success, strict=False):
        obs += list(range(n))
        ends += [(i == n - 1, ok) for i in range(n)]
    t = len(obs)
    term = np.array([e and ok for e, ok in ends])
    trunc = np.array([e and not ok for e, ok in ends])
    o = np.array(obs, np.float32)[:, None]
    return Episodes(o, o, term.astype(np.float32), o + 1, term, trunc), t


def test_episode_bookkeeping():
    data, t = toy([3, 2, 4], [True, False, True])
    assert data.n_transitions == t == 9
    assert data.n_episodes == 3
    assert data.episode_lengths.tolist() == [3, 2, 4]
    assert data.episode_success.tolist() == [True, False, True]
    assert data.episode_index.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    kept = data.successful()
    assert kept.episode_lengths.tolist() == [3, 4]
    assert (data + data).n_episodes == 6
    assert data.first_episodes(2).episode_lengths.tolist() == [3, 2]


def test_save_load_roundtrip(tmp_path):
    data, _ = toy([2, 3], [False, True])
    data.save(tmp_path / "d.npz", task="x")
    back = Episodes.load(tmp_path / "d.npz")
    for a, b in zip(data.__dict__.values(), back.__dict__.values(), strict=False):
        np.testing.assert_array_equal(a, b)
    assert list(tmp_path.iterdir()) == [tmp_path / "d.npz"]  # no temporary file left


def test_quotas_split_exactly():
    assert quotas(200, 100).tolist() == [2] * 100
    assert quotas(7, 3).tolist() == [3, 2, 2]
    assert quotas(3, 10).tolist() == [1, 1, 1]


def test_demonstrations_are_successful_deterministic_and_cached(tmp_path):
    task = TASKS["lift"]
    a = demonstrations(task, 4, seed=1, root=tmp_path)
    assert a.n_episodes == 4 and a.episode_success.all()
    assert (tmp_path / "demos" / "lift-v2-n4-seed1.npz").exists()
    b, rate = generate(task, 4, seed=1)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert rate > 0.9
    c = demonstrations(task, 4, seed=2, root=tmp_path)
    assert not np.array_equal(a.obs[:5], c.obs[:5])


def test_step_in_episode_and_transition_success():
    data, _ = toy([3, 2, 4], [True, False, True])
    assert data.step_in_episode.tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 3]
    assert data.transition_success.tolist() == [True] * 3 + [False] * 2 + [True] * 4


def test_chunk_label_mask_and_plan_aligned_labels_by_hand():
    data, _ = toy([3, 2], [True, False])  # 1-D actions
    # chunks of 2: the last step of each episode pads one action past the episode's end
    assert chunk_label_mask(data, 2).tolist() == [[1, 1], [1, 1], [1, 0], [1, 1], [1, 0]]
    # an agent acting in chunks of 2 planned at t = 0 and t = 2 of each episode
    assert plan_aligned(data, 2).tolist() == [True, False, True, True, False]
    assert plan_aligned(data, 1).all()


def test_mixed_batch_keeps_the_demonstrations_share():
    g = torch.Generator().manual_seed(0)
    demo, auto = torch.arange(10), torch.arange(10, 1000)
    idx = mixed_batch(demo, auto, 256, 0.5, g)
    assert len(idx) == 256 and (idx < 10).sum() == 128  # half, against a natural 1%
    assert batch_demo_share(10, 990, 0.5) == 0.5
    # a share below the natural one samples uniformly over both pools
    uniform = mixed_batch(demo, auto, 4096, 0.001, g)
    assert 0.003 < float((uniform < 10).float().mean()) < 0.02
    assert batch_demo_share(10, 990, 0.001) == 0.01
    # with no autonomous data (round 0) every row is a demonstration
    assert (mixed_batch(demo, auto[:0], 64, 0.5, g) < 10).all()
