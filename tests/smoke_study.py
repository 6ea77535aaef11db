"""The smoke study moved onto another task: the tests of the optional suites run it on theirs."""

from pathlib import Path

SMOKE = (Path(__file__).resolve().parent.parent / "studies" / "smoke.toml").read_text()


def smoke_study_on(tmp_path: Path, name: str, task: str, options: str = "") -> Path:
    """studies/smoke.toml on `task` (3 demonstrations), renamed `name`, with `options` as the
    task's [tasks."<task>"] table; written to tmp_path/<name>.toml."""
    text = SMOKE.replace('tasks = ["lift"]', f'tasks = ["{task}"]')
    text = text.replace("demos = { lift = 3 }", f'demos = {{ "{task}" = 3 }}')
    text = text.replace('name = "smoke"', f'name = "{name}"')
    path = tmp_path / f"{name}.toml"
    path.write_text(text + (f'\n[tasks."{task}"]\n{options}\n' if options else ""))
    return path


def run_plot_and_status(tmp_path: Path, path: Path, name: str) -> Path:
    """Run the study at `path` through `run-grid` (one worker), `status` and `plot`, and
    check each: 3 finished cells, a report written under tmp_path/r/<name>. Returns the
    results root, tmp_path/r."""
    from typer.testing import CliRunner

    from bolrl.cli import app

    runner = CliRunner()
    results = tmp_path / "r"
    run = runner.invoke(app, ["run-grid", str(path), "--results", str(results),
                              "--workers", "1"])
    assert run.exit_code == 0, run.output
    status = runner.invoke(app, ["status", str(path), "--results", str(results)])
    assert "3 finished" in status.output
    plot = runner.invoke(app, ["plot", str(path), "--results", str(results), "--format", "png"])
    assert plot.exit_code == 0, plot.output
    assert (results / name / "REPORT.md").exists()
    return results


def check_video(path: Path, results: Path, episodes: int = 2) -> None:
    """`bolrl eval --video` of the study's first cell (already run under `results`), in a
    process of its own with MUJOCO_GL=egl (MuJoCo picks its GL backend when first imported):
    a GIF of `episodes` episodes whose frame count is the one the command reports, and whose
    frames change (the scene moves). Skips where there is no offscreen GL."""
    import os
    import re
    import subprocess
    import sys

    import numpy as np
    import pytest
    from PIL import Image, ImageSequence

    from bolrl.study import load_study

    cell = load_study(path).cells[0]
    gif = results / "video.gif"
    code = ("import sys\nfrom bolrl.cli import main\nsys.argv = ['bolrl', 'eval', "
            f"{str(path)!r}, {cell.cell_id!r}, '--results', {str(results)!r}, '--video', "
            f"{str(gif)!r}, '--video-episodes', '{episodes}', '--episodes', '2']\nmain()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "MUJOCO_GL": "egl"}, timeout=600)
    if "MuJoCo cannot render here" in out.stdout + out.stderr:
        pytest.skip("no offscreen GL (EGL) on this machine")
    assert out.returncode == 0, out.stdout + out.stderr
    said = re.search(r"(\d+) episodes, (\d+) frames", " ".join(out.stdout.split()))
    assert said and int(said[1]) == episodes, out.stdout
    with Image.open(gif) as image:
        frames, duration = [], 0
        for frame in ImageSequence.Iterator(image):
            frames.append(np.asarray(frame.convert("RGB"), dtype=np.int16))
            duration += frame.info["duration"]
    assert frames[0].shape == (240, 320, 3)
    # every frame rendered is there (Pillow stores identical neighbours as one, their
    # durations added): 1/20 s each
    assert duration == 50 * int(said[2]) and int(said[2]) >= 2 * episodes
    assert np.abs(frames[0] - frames[-1]).mean() > 0.5  # not one still image
    assert frames[0].std() > 5  # not a blank frame
