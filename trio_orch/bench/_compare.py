"""``--compare``: each figure against the same figure of an earlier run.

Rows are matched by suite and by :attr:`FigureResult.key` (name and baseline).  A change is
a *regression* only when it lies beyond the measured spread: for a figure where higher is
better, when this run's best repetition is below the earlier run's worst one (and the other
way round where lower is better).  Within the spreads, the change is noise (``"same"``).
A figure whose better direction is unknown is never called a regression (``"changed"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import attrs

if TYPE_CHECKING:
    from trio_orch.bench._results import BenchResults, FigureResult, Spread, SuiteResult

REGRESSION: Final = "regression"
IMPROVEMENT: Final = "improvement"
SAME: Final = "same"
CHANGED: Final = "changed"


@attrs.frozen
class Change:
    """How one figure moved between an earlier run (``before``) and this one (``after``)."""

    suite: str
    key: str
    unit: str
    before: Spread
    after: Spread
    verdict: str

    @property
    def change(self) -> float | None:
        """``after / before - 1`` of the medians (None when ``before`` is 0)."""
        if not self.before.median:
            return None
        return self.after.median / self.before.median - 1


def verdict(before: Spread, after: Spread, higher_is_better: bool | None) -> str:
    """``"regression"``, ``"improvement"``, ``"same"`` (within the spreads) or ``"changed"``."""
    if after.max < before.min:
        lower, higher = True, False
    elif after.min > before.max:
        lower, higher = False, True
    else:
        return SAME
    if higher_is_better is None:
        return CHANGED
    worse = lower if higher_is_better else higher
    return REGRESSION if worse else IMPROVEMENT


def compare_figure(suite: str, after: FigureResult, before: FigureResult) -> Change:
    """The change of one row."""
    return Change(
        suite,
        after.key,
        after.unit,
        before.spread,
        after.spread,
        verdict(before.spread, after.spread, after.higher_is_better),
    )


def compare_suite(after: SuiteResult, before: SuiteResult | None) -> dict[str, Change]:
    """The changes of a suite's rows that both runs have, by :attr:`FigureResult.key`."""
    if before is None:
        return {}
    earlier = {f.key: f for f in before.figures}
    return {
        f.key: compare_figure(after.name, f, earlier[f.key])
        for f in after.figures
        if f.key in earlier and f.unit == earlier[f.key].unit
    }


def compare(after: BenchResults, before: BenchResults) -> list[Change]:
    """Every change between two runs, suite by suite, in this run's order."""
    changes: list[Change] = []
    for suite in after.suites:
        changes += compare_suite(suite, before.find(suite.name)).values()
    return changes


def regressions(after: BenchResults, before: BenchResults) -> list[Change]:
    """The changes that are regressions beyond the measured spread."""
    return [c for c in compare(after, before) if c.verdict == REGRESSION]
