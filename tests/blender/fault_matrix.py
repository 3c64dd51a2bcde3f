"""Outcomes of the fault suite, collected across its tests and printed as one table.

conftest.py prints the table at the end of the run (pytest_terminal_summary), so the summary
shows without `pytest -s`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

RECOVERED = "recovered"
FAILED_CLEANLY = "failed cleanly"
OTHER = "other"


@dataclass(frozen=True)
class Outcome:
    """What one fault did to one kind of job."""

    kind: str
    fault: str
    route: str
    outcome: str
    detail: str = ""


RESULTS: list[Outcome] = []


def record(outcome: Outcome) -> None:
    RESULTS.append(outcome)


def summary_lines() -> list[str]:
    """The table: one row per job kind, then the totals and every "other" outcome."""
    if not RESULTS:
        return []
    kinds = sorted({result.kind for result in RESULTS})
    header = f"{'job kind':<12} {'tried':>6} {'recovered':>10} {'failed cleanly':>15} {'other':>6}"
    lines = [header, "-" * len(header)]
    totals: Counter[str] = Counter()
    for kind in kinds:
        counts = Counter(result.outcome for result in RESULTS if result.kind == kind)
        tried = sum(counts.values())
        totals.update(counts)
        lines.append(
            f"{kind:<12} {tried:>6} {counts[RECOVERED]:>10} {counts[FAILED_CLEANLY]:>15} "
            f"{counts[OTHER]:>6}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"{'all':<12} {sum(totals.values()):>6} {totals[RECOVERED]:>10} "
        f"{totals[FAILED_CLEANLY]:>15} {totals[OTHER]:>6}"
    )
    for result in RESULTS:
        if result.outcome == OTHER:
            lines.append(f"OTHER {result.kind} / {result.fault} on {result.route}: {result.detail}")
    return lines
