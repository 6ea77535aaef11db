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
