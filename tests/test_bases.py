"""Round 0 shared: pi0 and Q0 trained once per settings, and reuse changes nothing."""

from pathlib import Path

import pandas as pd

from bolrl import loop
from bolrl.bases import bases_dir, critic_key, policy_key, spread
from bolrl.study import load_study

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.toml"
TIMING = ["collect_s", "train_s", "eval_s", "created_at"]


def q0_study(tmp_path) -> Path:
    text = (SMOKE.read_text()
            .replace("critic_round0 = false", "critic_round0 = true")
            .replace('extraction = ["none", "best-of-n"]',
                     'extraction = ["none", "awr", "best-of-n"]')
            .replace('algorithm = ["bc", "iql"]', 'algorithm = ["bc", "iql", "qc"]'))
    path = tmp_path / "q0.toml"
    path.write_text(text)
    return path


def test_methods_of_one_base_share_its_keys(tmp_path):
    cells = load_study(q0_study(tmp_path)).cells
    by_method = {c.method_name: c for c in cells}
    bc, awr, bon = (by_method[m] for m in ("diffusion/bc", "diffusion/iql+awr",
                                            "diffusion/iql+best-of-n"))
    assert policy_key(bc) == policy_key(awr) == policy_key(bon)
    assert critic_key(awr) == critic_key(bon)
    # another critic (its settings from its registry entry, not a hand list): the same pi0,
    # its own Q0
    qc = by_method["diffusion/qc+best-of-n"]
    assert policy_key(qc) == policy_key(bc) and critic_key(qc) != critic_key(bon)
    assert policy_key(by_method["gaussian/iql+awr+ou"]) != policy_key(bc)  # another policy class
    first_two = spread(cells)[:2]
    assert policy_key(first_two[0]) != policy_key(first_two[1])  # two bases start at once


def test_a_shared_base_gives_the_rows_of_a_base_trained_by_the_cell(tmp_path):
    cells = {c.method_name: c for c in load_study(q0_study(tmp_path)).cells}
    bon, awr, bc = (cells[m] for m in ("diffusion/iql+best-of-n", "diffusion/iql+awr",
                                        "diffusion/bc"))
    alone = pd.DataFrame(loop.run_cell(bon, tmp_path / "alone")).drop(columns=TIMING)
    shared = tmp_path / "shared"
    loop.run_cell(bc, shared)  # trains pi0
    loop.run_cell(awr, shared)  # loads pi0, trains Q0
    store = bases_dir(shared, bon.study)
    stamps = {p.name: p.stat().st_mtime_ns for p in store.glob("*.pt")}
    assert sorted(n.split("-")[0] for n in stamps) == ["pi0", "q0"]
    reused = pd.DataFrame(loop.run_cell(bon, shared)).drop(columns=TIMING)  # loads both
    assert {p.name: p.stat().st_mtime_ns for p in store.glob("*.pt")} == stamps  # not retrained
    pd.testing.assert_frame_equal(alone, reused)
