"""Demonstration styles: the multimodal experts' two strategies each succeed and their
average fails; the style is a study setting and an axis, part of a cell's identity."""

from pathlib import Path

import numpy as np
import pytest

from bolrl.demos import demo_path
from bolrl.envs import get_task
from bolrl.envs.batched import env_seeds
from bolrl.rollout import ExpertActor, rollout
from bolrl.study import StudyError, load_study

ROOT = Path(__file__).resolve().parent.parent
SMOKE = (ROOT / "studies" / "smoke.toml").read_text()


def success(task, style="multimodal", strategy=None, episodes=30) -> float:
    eps = rollout(task, env_seeds(3, episodes, stream=11), ExpertActor(task, 3, style, strategy),
                  episodes)
    return float(eps.episode_success.mean())


@pytest.mark.parametrize("name", ["lift", "nut-assembly", "pick-place-post"])
def test_each_strategy_succeeds_and_their_average_fails(name):
    task = get_task(name)
    a, b = task.STRATEGIES
    assert success(task, strategy=a) >= 0.9 and success(task, strategy=b) >= 0.9
    assert success(task, strategy=(a + b) / 2) <= 0.2  # the mean of the modes misses
    assert success(task) >= 0.9  # the multimodal expert, choosing per episode


def crossing_sides(style: str, reset_seed: int, experts: int = 12) -> list[float]:
    """pick-place-post from one reset state: the sign of the can's y where each of `experts`
    experts of a style (seeded apart) carries it across x = 0, the post's x."""
    import mujoco

    from bolrl.envs import scene
    from bolrl.envs.batched import step_data

    task = get_task("pick-place-post")
    model = mujoco.MjModel.from_xml_string(task.xml())
    q0 = task.init_qpos(np.random.default_rng(reset_seed))
    sides = []
    for i in range(experts):
        data = mujoco.MjData(model)
        data.qpos[:] = q0
        mujoco.mj_forward(model, data)
        expert = task.expert(np.random.default_rng(i), style)
        while data.qpos[6] < 0.0 and not expert.done:
            action = expert.act(data.qpos.copy())
            step_data(model, data, scene.action_to_ctrl(data.qpos[None].copy(), action[None])[0])
        sides.append(float(np.sign(data.qpos[7])))
    return sides


def test_pick_place_post_scripted_passes_on_the_cans_side_multimodal_on_either():
    """The scripted route is a function of the observation (the side of the post the can
    starts on); the multimodal expert's is not: from one state it takes both sides."""
    task = get_task("pick-place-post")
    for reset_seed in (0, 1, 2):
        start_y = task.init_qpos(np.random.default_rng(reset_seed))[7]
        assert set(crossing_sides("scripted", reset_seed)) == {float(np.sign(start_y))}
        multimodal = crossing_sides("multimodal", reset_seed)
        assert 3 <= multimodal.count(1.0) <= 9 and multimodal.count(-1.0) + multimodal.count(
            1.0) == len(multimodal)


def _study(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_the_style_is_an_axis_and_part_of_the_identity(tmp_path):
    plain = load_study(ROOT / "studies" / "smoke.toml")
    both = load_study(_study(tmp_path, SMOKE.replace(
        'noise = ["none"]', 'noise = ["none"]\ndemos_style = ["scripted", "multimodal"]')))
    styles = sorted({c.demos_style for c in both.cells})
    assert styles == ["multimodal", "scripted"] and len(both.cells) == 2 * len(plain.cells) - 1
    scripted = {c.cell_id for c in both.cells if c.demos_style == "scripted"}
    assert {c.cell_id for c in plain.cells} <= scripted | {plain.cells[-1].cell_id}
    multimodal = [c for c in both.cells if c.demos_style == "multimodal"]
    assert not {c.cell_id for c in multimodal} & scripted
    assert "demos=multimodal" in multimodal[0].label
    task = get_task("lift")
    assert demo_path(task, 5, 0, tmp_path, "multimodal") != demo_path(task, 5, 0, tmp_path)


def test_a_task_without_a_multimodal_expert_says_so(tmp_path):
    text = SMOKE.replace('tasks = ["lift"]', 'tasks = ["pick-place"]').replace(
        "demos = { lift = 3 }", 'demos = { pick-place = 3 }\ndemos_style = "multimodal"')
    with pytest.raises(StudyError, match="task 'pick-place' has no multimodal expert"):
        load_study(_study(tmp_path, text))


def test_a_multimodal_cell_trains_on_multimodal_demonstrations(tmp_path):
    from bolrl import loop
    from bolrl.demos import demonstrations

    study = load_study(_study(tmp_path, SMOKE.replace(
        "demos = { lift = 3 }", 'demos = { lift = 3 }\ndemos_style = "multimodal"')))
    cell = study.cells[0]
    rows = loop.run_cell(cell, tmp_path / "r")
    assert rows[-1]["status"] == "ok" and rows[0]["demos_style"] == "multimodal"
    task = get_task("lift")
    mine = demonstrations(task, 3, cell.seed, style="multimodal")
    scripted = demonstrations(task, 3, cell.seed)
    assert not np.array_equal(mine.actions[:20], scripted.actions[:20])


def first_actions(task, style: str, n: int = 256, reset_seed: int = 0):
    """The first action of `n` experts of a style from one reset state (one observation)."""
    q0 = task.init_qpos(np.random.default_rng(reset_seed))
    actions = np.array([task.expert(np.random.default_rng(i), style).act(q0) for i in range(n)])
    return task.observe(q0[None])[0], actions.astype(np.float32)


def fit(policy_name: str, obs: np.ndarray, actions: np.ndarray, steps: int = 1200):
    """BC of `policy_name` on (one observation, many actions); the trained policy."""
    import torch

    from bolrl.policies import POLICIES

    torch.manual_seed(0)
    policy = POLICIES[policy_name](len(obs), actions.shape[1], hidden=128, layers=3,
                                   diffusion_steps=10, nll_beta=0.0, log_std_min=-2.0)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    o, a = torch.as_tensor(obs)[None].repeat(256, 1), torch.as_tensor(actions)
    for _ in range(steps):
        loss = policy.loss(o, a[torch.randint(len(a), (256,), generator=g)], generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return policy


def test_on_multimodal_lift_demos_the_gaussian_averages_the_grasps_and_diffusion_picks_one():
    """Where lift's multimodal experts split (the first step: turn the jaws one way or the
    other, yaw action about +1 or -1 from the same state), the paper's Gaussian (plain NLL)
    acts near the average of the two, a turn that leads to neither grasp; the diffusion
    policy's samples fall near one grasp's turn or the other's."""
    import torch

    task = get_task("lift")
    obs, actions = first_actions(task, "multimodal")
    yaw = actions[:, 3]
    modes = yaw[yaw > 0].mean(), yaw[yaw < 0].mean()
    assert modes[0] > 0.8 and modes[1] < -0.8 and 0.3 < np.mean(yaw > 0) < 0.7
    o = torch.as_tensor(obs)[None]
    gaussian, diffusion = fit("gaussian", obs, actions), fit("diffusion", obs, actions)
    with torch.no_grad():
        gauss = gaussian.act(o, None)[0, 3].item()
        diff = diffusion.sample(o, 1000, torch.Generator().manual_seed(1))
    assert abs(gauss - np.mean(yaw)) < 0.3 and abs(gauss) < 0.5  # between the grasps
    d = diff[0, :, 3].numpy()
    near = [np.mean(np.abs(d - m) < 0.3) for m in modes]
    assert min(near) > 0.25 and sum(near) > 0.8  # on the grasps, both of them
