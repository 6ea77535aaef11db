"""The README quotes only what the committed reports say: every paired difference with its
interval that the README gives ("+10 [+2, +18]", "by 26 points [+17, +35]") stands in a
findings table of a committed report, and every verdict it puts in italics is a report's
verdict. Regenerating a report (or editing the README) without the other fails here."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = re.compile(r"(?<![\w.])([+-]?)(\d+)(?: points)? \[([+-]\d+), ([+-]\d+)\]")
VERDICTS = ("reproduced", "reversed", "not seen here", "inconclusive", "descriptive only",
            "above zero", "below zero")


def _reports() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "results").glob("*/REPORT.md")))


def test_every_interval_the_readme_quotes_is_in_a_report():
    readme = " ".join((ROOT / "README.md").read_text().split())
    reports = _reports()
    quoted = INTERVAL.findall(readme)
    assert len(quoted) >= 10  # the paper, Meta-World and robomimic findings at least
    missing = [f"{sign or '+'}{n} [{lo}, {hi}]" for sign, n, lo, hi in quoted
               if f"{sign or '+'}{n} [{lo}, {hi}]" not in reports]
    assert not missing, f"README quotes intervals no report has: {missing}"


def test_every_verdict_the_readme_quotes_is_a_reports_verdict():
    """In the paragraphs that quote results (those with an interval; the documentation of the
    verdict words is not a quote)."""
    paragraphs = [" ".join(p.split()) for p in (ROOT / "README.md").read_text().split("\n\n")]
    quoting = " ".join(p for p in paragraphs if INTERVAL.search(p))
    reports = _reports()
    phrases = [p for p in re.findall(r"(?<![*\w])\*([^*]+)\*(?![*\w])", quoting)
               if p.startswith(VERDICTS)]
    assert phrases
    missing = [p for p in phrases if f"**{p}" not in reports]
    assert not missing, f"README verdicts no report gives: {missing}"
