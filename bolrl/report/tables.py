"""Tables: final-round success per method and task (mean and 95% t-interval over seeds), gain over
the base policy and over filtered BC, and the area under the scaling curve; rendered for the
terminal (rich), Markdown and LaTeX."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bolrl.report.data import demos_styles, final_scores, interval
from bolrl.report.naming import key_label

FILTERED_BC = "diffusion/filtered-bc"


def _name(key: str) -> str:
    return key_label(key)


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per method and task, percentages."""
    scores = final_scores(rows)
    out = []
    for (key, task), g in scores.groupby(["key", "task"]):
        mean, lo, hi = interval({task: g["final"].to_numpy()})
        ref_key = FILTERED_BC + (f" E={key.partition(' E=')[2]}" if " E=" in key else "")
        ref = scores[(scores["key"] == ref_key) & (scores["task"] == task)]
        vs_fbc = np.nan
        if not ref.empty and key != ref_key:
            vs_fbc = mean - ref["final"].mean()
        out.append({
            "method": _name(key), "task": task, "seeds": len(g),
            "base": 100 * g["base"].mean(), "final": 100 * mean,
            "final_low": 100 * lo, "final_high": 100 * hi,
            "gain_over_base": 100 * (g["final"] - g["base"]).mean(),
            "gain_over_filtered_bc": 100 * vs_fbc, "auc": 100 * g["auc"].mean(),
        })
    return pd.DataFrame(out)


def _cells(t: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    head = ["method", "task", "seeds", "base", "final [95% CI]", "gain vs base",
            "gain vs filtered BC", "AUC"]
    body = []
    for r in t.itertuples():
        body.append([
            r.method, r.task, str(r.seeds), f"{r.base:.0f}",
            f"{r.final:.0f} [{r.final_low:.0f}, {r.final_high:.0f}]",
            f"{r.gain_over_base:+.0f}",
            "" if np.isnan(r.gain_over_filtered_bc) else f"{r.gain_over_filtered_bc:+.0f}",
            f"{r.auc:.0f}",
        ])
    return head, body


def to_markdown(t: pd.DataFrame) -> str:
    head, body = _cells(t)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _tex(s: str) -> str:
    for a, b in [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                 ("#", r"\#"), ("$", r"\$")]:
        s = s.replace(a, b)
    return s


def to_latex(t: pd.DataFrame) -> str:
    head, body = _cells(t)
    lines = [r"\begin{tabular}{ll" + "r" * (len(head) - 2) + "}", r"\toprule",
             " & ".join(_tex(h) for h in head) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex(c) for c in row) + r" \\" for row in body]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_rich(t: pd.DataFrame, title: str):
    from rich import box
    from rich.table import Table

    _, body = _cells(t)
    head = ["method", "task", "n", "base", "final [CI]", "+base", "+fBC", "AUC"]
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  caption="n: seeds; CI: 95% t-interval over seeds; +base, +fBC: gain over "
                  "the base policy and over filtered BC (points)")
    for i, h in enumerate(head):  # short headings and folding names: fits 80 columns
        table.add_column(h, overflow="fold", no_wrap=i > 0, justify="left" if i < 2 else "right",
                         min_width=16 if i == 0 else None)
    for row in body:
        table.add_row(*row)
    return table


def base_per_seed_markdown(rows: pd.DataFrame, band: tuple[float, float]) -> str:
    """The base policy's success (round 0) per task, seed and policy class (and demonstration
    style and count where the study varies them: each is a base of its own), flagging those
    outside the study's band: a verdict that rests on seeds whose base is far outside it
    compares methods on other terms than the study meant."""
    base = rows[rows["round"] == 0].assign(style=lambda f: demos_styles(f))
    if base.empty:
        return ""
    lo, hi = band
    extra = [c for c in ("style", "demos") if base[c].nunique() > 1]
    heads = {"style": "demos style", "demos": "demos"}
    lines = ["| task | seed | policy class | " + "".join(f"{heads[c]} | " for c in extra)
             + "base success (%) | in the band |",
             "|---|---|---|" + "---|" * len(extra) + "---|---|"]
    flagged = 0
    for key, g in base.groupby(["task", "seed", "policy", *extra]):
        rate = float(g["eval_success_rate"].mean())  # the same base for every method
        inside = lo <= rate <= hi
        flagged += not inside
        lines.append("| " + " | ".join(str(k) for k in key) + f" | {100 * rate:.0f} | "
                     f"{'yes' if inside else '**no**'} |")
    lines.insert(0, f"Band: {100 * lo:.0f}-{100 * hi:.0f}% (`[study].base_band`); "
                    f"{flagged} of {len(lines) - 2} bases outside it.\n")
    return "\n".join(lines) + "\n"


# The rows' diagnostics that say why a method's curve went as it did: (column, table header,
# scale, what the report's sentence above the table says of it)
DIAGNOSTICS = (
    ("q_success", "Q, successful episodes", 1.0,
     "its critic's mean Q on transitions of successful autonomous episodes"),
    ("q_failure", "Q, failed episodes", 1.0, "its mean Q on those of failed ones"),
    ("demo_share_batch", "demos in policy batches (%)", 100.0,
     "the demonstrations' share of its policy's batches"),
    ("policy_loss_new", "BC loss on the round's new episodes", 1.0,
     "its policy's BC loss on the episodes it had just collected (before training on them)"),
    ("actor_loss", "its actor's loss", 1.0, "its own actor's loss"),
    ("edit_share", "EXPO edit / bound (%)", 100.0,
     "EXPO's mean edit of the batch's actions as a share of its bound"),
    ("awr_ess", "AWR weights' ESS (%)", 100.0,
     "AWR's effective sample size (100%: its weights are uniform, and AWR trains as BC on "
     "all data)"),
    ("choice_q_gain", "Q gain of the choice", 1.0,
     "the Q gain of a choice among N samples (the chosen one's expected Q minus the N "
     "samples' mean, by the critic's own measure: 0 for a uniform choice)"),
    ("train_s", "training s / round", 1.0, "its training seconds a round (over all its rounds)"),
    ("policy_passes_per_action", "policy passes / action", 1.0,
     "its policy's network passes per action (samples x denoising steps)"),
)


def _digits(column: str, scale: float) -> int:
    """Percentages, seconds and counts as integers; losses and Q with two decimals, the small
    Q gain of a choice among samples with three."""
    if column == "choice_q_gain":
        return 3
    return 0 if scale != 1.0 or column.endswith(("_s", "_action")) else 2


def diagnostics_markdown(rows: pd.DataFrame) -> str:
    """Per method, its cells' last round, mean over tasks and seeds: how well its critic tells
    successful from failed episodes, its data share, how far its policy is from the episodes it
    collected, its actor's loss, and its compute; a column only where some method has it."""
    trained = rows[rows["round"] > 0]
    if trained.empty:
        return ""
    last = trained[trained["round"] == trained.groupby("cell_id")["round"].transform("max")]
    means = last.groupby("key")[[c for c, *_ in DIAGNOSTICS]].mean()
    means["train_s"] = trained.groupby("key")["train_s"].mean()
    shown = [d for d in DIAGNOSTICS if means[d[0]].notna().any()]
    lines = [_diagnostics_sentence([said for *_, said in shown]), "",
             "| method | " + " | ".join(h for _, h, _, _ in shown) + " |",
             "|---|" + "---|" * len(shown)]
    for key, m in means.iterrows():
        cells = ["-" if np.isnan(m[c]) else f"{k * m[c]:.{_digits(c, k)}f}"
                 for c, _, k, _ in shown]
        lines.append(f"| {_name(key)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _diagnostics_sentence(phrases: list[str]) -> str:
    """What the diagnostics table's columns are, naming only the columns it shows."""
    listed = phrases[0] if len(phrases) == 1 else (", ".join(phrases[:-1]) + ", and "
                                                   + phrases[-1])
    return f"Per method, its cells' last round, mean over tasks and seeds: {listed}."
