"""The rich tables ``trio-orch bench`` prints: one per suite, and a summary.

Each row: our figure (the median of the repetitions); the baseline measured in the same
process run and its figure; the ratio; the spread (min / median / max); the target, met or
missed; and with ``--compare``, the figure of the earlier run and the change.
rich is imported by the functions that need it (this module is imported lazily too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trio_orch.bench import _format
from trio_orch.bench._compare import IMPROVEMENT, REGRESSION, compare_suite

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from trio_orch.bench._results import BenchResults, SuiteResult

_VERDICT_STYLE = {REGRESSION: "bold red", IMPROVEMENT: "green"}
#: The width of the tables when the output is not a terminal (and COLUMNS is not set).
WIDE = 150


def make_console(*, stderr: bool = False) -> Console:
    """A rich console; one that is not a terminal gets :data:`WIDE` columns (no folding)."""
    import os

    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=WIDE)
    return console


def suite_table(result: SuiteResult, before: SuiteResult | None = None) -> RenderableType:
    """The table of one suite (with the earlier run's figures when ``before`` is given)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = f"{result.name}: {result.title}" if result.title else result.name
    parts: list[RenderableType] = []
    if result.figures:
        changes = compare_suite(result, before)
        table = Table(title=title, title_justify="left", expand=False)
        table.add_column("what", overflow="fold", max_width=48)
        table.add_column("figure (median)", justify="right", no_wrap=True)
        table.add_column("baseline (same run)", overflow="fold", max_width=32)
        table.add_column("ratio", justify="right", no_wrap=True)
        table.add_column("spread min / med / max", justify="right")
        table.add_column("target", no_wrap=True)
        if before is not None:
            table.add_column("before", justify="right", no_wrap=True)
            table.add_column("change", no_wrap=True)
        for figure in result.figures:
            baseline = ""
            if figure.baseline:
                baseline = figure.baseline
                if figure.baseline_value is not None:
                    baseline += f": {_format.quantity(figure.baseline_value, figure.unit)}"
            target = Text(figure.target or "")
            if figure.met is not None:
                target.append(
                    f" {_format.met(figure)}", style="green" if figure.met else "bold red"
                )
            row: list[RenderableType] = [
                figure.name,
                _format.quantity(figure.value, figure.unit),
                baseline,
                _format.ratio(figure.ratio),
                _format.spread(figure.spread, figure.unit),
                target,
            ]
            if before is not None:
                change = changes.get(figure.key)
                if change is None:
                    row += ["", "new"]
                else:
                    row += [
                        _format.quantity(change.before.median, figure.unit),
                        Text(_format.change(change), style=_VERDICT_STYLE.get(change.verdict, "")),
                    ]
            table.add_row(*row)
        parts.append(table)
    else:
        parts.append(Text(f"{title}: {result.status}", style="bold"))
    for skipped in result.skipped:
        hint = f" ({skipped.hint})" if skipped.hint else ""
        parts.append(Text(f"  skipped {skipped.name}: {skipped.reason}{hint}", style="yellow"))
    parts += [Text(f"  error {error}", style="red") for error in result.errors]
    return Group(*parts)


def summary(results: BenchResults, before: BenchResults | None = None) -> RenderableType:
    """One line per suite: status, rows, targets missed, regressions, seconds."""
    from rich.table import Table

    table = Table(title="summary", title_justify="left")
    table.add_column("suite")
    table.add_column("status")
    table.add_column("figures", justify="right")
    table.add_column("targets missed", justify="right")
    if before is not None:
        table.add_column("regressions", justify="right")
    table.add_column("seconds", justify="right")
    for suite in results.suites:
        style = {"ok": "green", "skipped": "yellow"}.get(suite.status, "bold red")
        row = [suite.name, f"[{style}]{suite.status}[/]", str(len(suite.figures))]
        missed = len(suite.missed)
        row.append(f"[bold red]{missed}[/]" if missed else "0")
        if before is not None:
            changes = compare_suite(suite, before.find(suite.name)).values()
            count = sum(c.verdict == REGRESSION for c in changes)
            row.append(f"[bold red]{count}[/]" if count else "0")
        row.append(f"{suite.seconds:.1f}")
        table.add_row(*row)
    return table
