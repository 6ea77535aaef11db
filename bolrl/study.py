"""Studies: a study file's grid expanded into cells (reading and checking the file itself is
`bolrl.study_file`).

A study file has the tables of `bolrl.config` ([study], [train], [networks], [critic],
[extraction], [noise], [axes]; `bolrl show --keys` lists every key with its default, bounds
and meaning), plus

    [[cells]]     extra cells, each naming axis values (and optionally task and seed)
    [tasks."<name>"]  options of an external Gymnasium task named in [study].tasks
                  (`gym:ENV-ID` or `module.path:make_env`): imports, horizon, success,
                  expert, demos_file (see bolrl.envs.external)

Parsing, types, bounds and defaults all come from the config classes. Axis values are looked
up in `bolrl.registry`. Combinations that make no sense are dropped with a stated reason:
imitation (`bc`, `filtered-bc`) has no extraction (`none` only), and a Q-function method
needs one. A cell id is a stable hash of what determines the cell's rows (`bolrl.identity`).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from bolrl import identity
from bolrl.config import (
    DEMOS_VERSION,
    AgentConfig,
    CriticTable,
    ExtractionTable,
    Method,
    NetworksTable,
    NoiseTable,
    StudyTable,
    TrainTable,
)
from bolrl.envs.external import TaskSpec
from bolrl.envs.suites import task_version
from bolrl.files import content_hash
from bolrl.registry import (
    ALGORITHMS,
    method_name,
    why_not,
)
from bolrl.study_file import (  # noqa: F401 - some re-exported for bolrl.study's users
    AXES,
    AXIS_VALUES,
    DEFAULT_DEMOS,
    StudyError,
    SuiteMissing,
    _suggest,
    demos_count,
    keys_markdown,
    load_toml,
    parse,
)


@dataclass(frozen=True)
class Cell:
    """One run of the batch online loop: a task, a seed, a point of the grid, every knob."""

    study: str
    task: str
    task_spec: TaskSpec
    seed: int
    method: Method
    noise: str
    episodes_per_round: int
    rounds: int
    eval_episodes: int
    n_envs: int
    demos: int
    train: TrainTable  # demo_fraction: the share for this cell's algorithm
    networks: NetworksTable
    critic: CriticTable
    extraction_params: ExtractionTable
    noise_params: NoiseTable
    vector_env: str = "sync"  # how Gymnasium tasks step their environments: not in config()
    demos_style: str = "scripted"  # the embedded experts' demonstration style
    track: tuple[str, ...] = ()  # experiment trackers that watch it (bolrl.trackers): not in
    # config(), they never change its rows

    @property
    def algorithm(self) -> str:
        return self.method.algorithm

    @property
    def extraction(self) -> str:
        return self.method.extraction

    @property
    def policy(self) -> str:
        return self.method.policy

    @property
    def agent(self) -> AgentConfig:
        return AgentConfig(self.method, self.train, self.networks, self.critic,
                           self.extraction_params)

    def config(self) -> dict:
        """The full configuration as plain data (without the study name), recorded in every
        row: {every cell setting, "agent": {every setting of the learner}, "noise_params":
        {...}}, the demonstrations' generator version, and an imported demonstrations file's
        content hash. `cell_id` hashes what of it determines the rows (bolrl.identity)."""
        train = dataclasses.asdict(self.train)
        train.pop("device")  # where it runs is not what it is (the rows record the device)
        schedule = {k: train.pop(k) for k in ("steps_round0", "steps_per_round")}
        agent = {**dataclasses.asdict(self.method), **dataclasses.asdict(self.networks),
                 **train, **dataclasses.asdict(self.critic),
                 **dataclasses.asdict(self.extraction_params)}
        noise = dataclasses.asdict(self.noise_params)
        noise["dims"] = list(noise["dims"])
        return {
            "task": self.task, "task_spec": self.task_spec.as_dict(), "seed": self.seed,
            "algorithm": self.algorithm, "extraction": self.extraction,
            "policy": self.policy, "noise": self.noise,
            "episodes_per_round": self.episodes_per_round, "rounds": self.rounds,
            "eval_episodes": self.eval_episodes, "n_envs": self.n_envs, "demos": self.demos,
            **schedule, "agent": agent, "noise_params": noise,
            "demos_version": DEMOS_VERSION,
            "demos_style": self.demos_style,
            "task_version": task_version(self.task),
            "demos_sha256": (content_hash(Path(self.task_spec.demos_file))
                             if self.task_spec.demos_file else None),
        }

    @property
    def cell_id(self) -> str:
        return identity.cell_id(self.config())

    @property
    def method_name(self) -> str:
        """A readable name of the method (the axes other than task and seed)."""
        return method_name(self.algorithm, self.extraction, self.policy, self.noise)

    @property
    def label(self) -> str:
        style = "" if self.demos_style == "scripted" else f" demos={self.demos_style}"
        return (f"{self.task} seed {self.seed} {self.method_name} E={self.episodes_per_round}"
                + style)


@dataclass(frozen=True)
class Study:
    name: str
    path: Path
    description: str
    cells: list[Cell]
    dropped: list[tuple[dict, str]] = field(default_factory=list)
    table: StudyTable = field(default_factory=StudyTable)  # its [study] table, as parsed
    warnings: list[str] = field(default_factory=list)  # inputs accepted, likely mistakes
    resolved: str = ""  # the study as it runs, as TOML (bolrl.overrides.resolved_text)

    def cell(self, cell_id: str) -> Cell:
        """The cell with this id, or the one cell whose id starts with it."""
        matches = [c for c in self.cells if c.cell_id.startswith(cell_id)] if cell_id else []
        exact = [c for c in matches if c.cell_id == cell_id]
        if exact or len(matches) == 1:
            return (exact or matches)[0]
        if matches:
            raise StudyError(f"{self.path}: {cell_id!r} is the start of {len(matches)} cell "
                             f"ids ({', '.join(c.cell_id for c in matches[:4])}"
                             f"{', ...' if len(matches) > 4 else ''}); give more of it")
        raise StudyError(f"{self.path}: no cell with id {cell_id!r} (see `bolrl show`)")


def why_invalid(point: dict) -> str | None:
    """The reason a grid point makes no sense, or None if it is a valid cell."""
    return why_not(point["algorithm"], point["extraction"])


def _make_cell(study: str, s: dict, point: dict) -> Cell:
    train = s["train"]
    return Cell(
        study=study,
        task=point["task"],
        task_spec=s["task_specs"][point["task"]],
        seed=point["seed"],
        method=Method(point["algorithm"], point["extraction"], point["policy"]),
        noise=point["noise"],
        episodes_per_round=point["episodes_per_round"],
        rounds=s["study"].rounds,
        eval_episodes=s["study"].eval_episodes,
        n_envs=s["study"].n_envs,
        vector_env=s["study"].vector_env,
        demos_style=point.get("demos_style", s["study"].demos_style),
        demos=demos_count(s["study"].demos, point["task"],
                          point.get("demos_style", s["study"].demos_style)),
        train=train.for_algorithm(point["algorithm"],
                                  ALGORITHMS[point["algorithm"]].demo_fraction),
        networks=s["networks"],
        critic=s["critic"],
        extraction_params=s["extraction"],
        # without noise the scale means nothing: such cells keep the study's, so that a
        # noise_sigma axis does not multiply them
        noise_params=dataclasses.replace(
            s["noise"], dims=tuple(s["noise"].dims),
            sigma=(float(point.get("noise_sigma", s["noise"].sigma)) if point["noise"] != "none"
                   else s["noise"].sigma)),
    )


def expand(settings: dict) -> tuple[list[Cell], list[tuple[dict, str]]]:
    """The grid's cells (then the extra cells), and the dropped points with their reasons."""
    study = settings["study"]
    axes = dataclasses.asdict(settings["axes"])
    axes["episodes_per_round"] = axes["episodes_per_round"] or [study.episodes_per_round]
    axes["noise_sigma"] = axes["noise_sigma"] or [settings["noise"].sigma]
    axes["demos_style"] = axes["demos_style"] or [study.demos_style]
    names = AXES
    points = []
    for task, seed in itertools.product(study.tasks, study.seeds):
        for values in itertools.product(*(axes[n] for n in names)):
            points.append({"task": task, "seed": seed, **dict(zip(names, values, strict=True))})
    for extra in settings["cells"]:
        tasks = [extra["task"]] if "task" in extra else study.tasks
        seeds = [extra["seed"]] if "seed" in extra else study.seeds
        for task, seed in itertools.product(tasks, seeds):
            point = {"episodes_per_round": study.episodes_per_round,
                     "noise_sigma": settings["noise"].sigma,
                     "demos_style": study.demos_style, **extra}
            points.append({**point, "task": task, "seed": seed})
    cells, dropped, seen = [], [], set()
    for point in points:
        reason = why_invalid(point)
        if reason:
            key = (point["algorithm"], point["extraction"])
            if key not in {(d["algorithm"], d["extraction"]) for d, _ in dropped}:
                dropped.append(({"algorithm": key[0], "extraction": key[1]}, reason))
            continue
        cell = _make_cell(study.name, settings, point)
        if cell.cell_id not in seen:
            seen.add(cell.cell_id)
            cells.append(cell)
    return cells, dropped


def load_study(path: Path, runnable: bool = True, overrides: list[str] | tuple = (),
               name: str | None = None) -> Study:
    """The study at `path`, its cells expanded. `runnable=False` reads it without building its
    tasks (see `parse`): enough for its cell ids and its results, not to run it. `overrides`
    (`TABLE.KEY=VALUE`, bolrl.overrides) apply over the file, and give the study a name of its
    own unless they set one or `name` is given."""
    from bolrl import overrides as over

    path = Path(path)
    raw = load_toml(path)
    overrides = list(overrides)
    try:
        raw = over.apply(raw, overrides)
    except over.OverrideError as exc:
        raise StudyError(str(exc)) from None
    if (name or overrides) and "study" not in raw:
        raw["study"] = {}  # a file without [study]: the name goes in one
    table = raw.get("study") if isinstance(raw.get("study"), dict) else None
    if table is not None and (name or (overrides and not any(
            "name" in over.parse(a).get("study", {}) for a in overrides))):
        table["name"] = name or over.derived_name(table.get("name") or path.stem, overrides)
    try:
        settings = parse(path, raw, runnable)
        cells, dropped = expand(settings)
    except StudyError as exc:
        if not overrides:
            raise
        sets = " ".join(f"--set {a}" for a in overrides)
        raise type(exc)(f"{exc} (with {sets})") from None
    if not cells:
        raise StudyError(f"{path}: the grid has no valid cells")
    return Study(settings["study"].name, path, settings["study"].description, cells, dropped,
                 settings["study"], likely_mistakes(path, settings["study"]),
                 over.resolved_text(raw, path, overrides))


def likely_mistakes(path: Path, study: StudyTable) -> list[str]:
    """What a study file says that it probably does not mean: demonstration counts or bounds
    for tasks it does not run, tasks or seeds listed twice (each runs once)."""
    out = []
    for key in ("demos", "demos_bounds"):
        absent = [t for t in getattr(study, key) if t not in study.tasks]
        if absent:
            out.append(f"{path}: [study].{key} names {', '.join(map(repr, absent))}, which "
                       f"[study].tasks does not run")
    for key in ("tasks", "seeds"):
        values = getattr(study, key)
        twice = sorted({repr(v) for v in values if values.count(v) > 1})
        if twice:
            out.append(f"{path}: [study].{key} lists {', '.join(twice)} more than once (run "
                       f"once)")
    return out


def find_study(name_or_path: str | None, search: list[Path] | None = None) -> Path:
    """A study given by path, or by name in ./studies or the studies shipped with bolrl."""
    if name_or_path is None:
        name_or_path = "quick"
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    roots = search or [Path.cwd() / "studies", Path(__file__).resolve().parent.parent / "studies"]
    for root in roots:
        if (root / f"{name_or_path}.toml").exists():
            return root / f"{name_or_path}.toml"
    known = sorted({p.stem for r in roots if r.is_dir() for p in r.glob("*.toml")})
    raise StudyError(f"{name_or_path}: no such study file; known studies: {', '.join(known)}"
                     + _suggest(name_or_path, known))
