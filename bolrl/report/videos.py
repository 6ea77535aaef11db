"""The final policies acting, for the report (`bolrl plot --videos`): for each task and method,
one evaluation episode of the policy of the last round its run kept, from the cell with the
lowest seed, as a small GIF under `videos/` and a section of REPORT.md that shows them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bolrl.study import Cell

EVERY = 2  # every second frame of an episode (10 frames a second)
SHRINK = 2  # frames at half the size of `bolrl eval --video`'s


@dataclass(frozen=True)
class Film:
    task: str
    method: str  # the method as the report names it, with its demonstrations and data level
    path: Path
    cell_id: str
    seed: int
    round: int
    success: bool


def filmed_cells(cells: list[Cell], results: Path, study_name: str) -> list[Cell]:
    """One cell per task and method (and demonstration style and data level): the one with
    the lowest seed whose run kept a round's weights."""
    from bolrl.evaluation import kept_rounds
    from bolrl.results import run_dir

    chosen: dict[tuple, Cell] = {}
    for cell in sorted(cells, key=lambda c: c.seed):
        key = (cell.task, cell.method_name, cell.demos_style, cell.episodes_per_round,
               cell.noise_params.sigma if cell.noise != "none" else None)
        if key not in chosen and kept_rounds(run_dir(results, study_name, cell.cell_id)):
            chosen[key] = cell
    return list(chosen.values())


def _name(cell: Cell, styles: bool, levels: bool, sigmas: bool) -> str:
    name = cell.method_name
    if sigmas and cell.noise != "none":
        name += f" sigma={cell.noise_params.sigma:g}"
    if levels:
        name += f" E={cell.episodes_per_round}"
    if styles:
        name += f" ({cell.demos_style} demos)"
    return name


def film(cells: list[Cell], results: Path, study_name: str, out_dir: Path,
         progress=None, warn=None) -> list[Film]:
    """A GIF per filmed cell in out_dir/videos/ (earlier ones of this report replaced). A
    cell that cannot be filmed (a task not on MuJoCo, a suite whose extra is missing here) is
    left out with `warn(cell, message)`; where MuJoCo cannot render at all, EvalError."""
    from PIL import Image

    from bolrl import evaluation
    from bolrl.results import run_dir

    chosen = filmed_cells(cells, results, study_name)
    styles = len({c.demos_style for c in chosen}) > 1
    levels = len({c.episodes_per_round for c in chosen}) > 1
    sigmas = len({c.noise_params.sigma for c in chosen if c.noise != "none"}) > 1
    video_dir = out_dir / "videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    for old in video_dir.glob("*.gif"):
        old.unlink()
    films = []
    for i, cell in enumerate(chosen):
        if progress:
            progress(i, len(chosen), cell)
        try:
            agent, k = evaluation.load_agent(cell, run_dir(results, study_name, cell.cell_id))
            recorded = evaluation.record(cell, agent, 1, cell.seed)
            frames = evaluation.render(recorded)[::EVERY]
        except evaluation.EvalError as exc:
            if "cannot render here" in str(exc):
                raise  # no GL at all: no cell can be filmed
            (warn or (lambda *_: None))(cell, str(exc))
            continue
        except ValueError as exc:  # its task cannot be built here (e.g. a missing extra)
            (warn or (lambda *_: None))(cell, str(exc))
            continue
        height, width = frames[0].shape[:2]
        small = [Image.fromarray(f).resize((width // SHRINK, height // SHRINK)) for f in frames]
        path = video_dir / f"{cell.cell_id}.gif"
        small[0].save(path, save_all=True, append_images=small[1:], loop=0,
                      duration=round(1000 * EVERY / evaluation.FPS))
        films.append(Film(cell.task, _name(cell, styles, levels, sigmas), path, cell.cell_id,
                          cell.seed, k, recorded.success[0]))
    return films


def videos_markdown(films: list[Film], out_dir: Path) -> str:
    """A table per task: each method's GIF with its cell, seed, round and the episode's end."""
    if not films:
        return ""
    lines = ["One evaluation episode of each method's last kept policy (the cell with the "
             "lowest seed, its first evaluation state; `bolrl eval STUDY CELL --video` films "
             "more). One episode shows behaviour, not a success rate: the report's tables "
             "have those.", ""]
    for task in dict.fromkeys(f.task for f in films):
        lines += [f"**{task}**", "", "| method | policy | cell, seed, round | episode |",
                  "|---|---|---|---|"]
        for f in (f for f in films if f.task == task):
            lines.append(f"| {f.method} | ![{f.method}]({f.path.relative_to(out_dir)}) | "
                         f"{f.cell_id}, seed {f.seed}, round {f.round} | "
                         f"{'success' if f.success else 'failure'} |")
        lines.append("")
    return "\n".join(lines)
