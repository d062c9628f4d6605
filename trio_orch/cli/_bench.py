"""``trio-orch bench [SUITE|FILE ...] [--quick] [--json FILE] [--compare FILE] [--repeat N]``.

Only argparse is used until the command runs: :mod:`trio_orch.bench` and rich are imported
by :func:`run_bench`, so that ``trio-orch --version`` and ``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trio_orch.cli._args import count
from trio_orch.cli._main import BENCH_HELP

if TYPE_CHECKING:
    from rich.console import Console

    from trio_orch.bench._results import BenchResults, SuiteResult
    from trio_orch.bench._runner import SuiteRef

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Run benchmark suites, each in a fresh process with a warm-up and several repetitions, and
print per suite: our figure (the median), the baseline measured in the same run (raw Trio,
and peer libraries where installed), the ratio, the spread (min / median / max) and the
target, met or missed.  A missing peer library is reported as skipped, with the install hint.
"""

EPILOG = """\
SUITE is one of trio_orch's suites (default: all of them; --list shows them); FILE is a
.py file of your own, written with trio_orch.bench.benchmark / measures (docs/performance.md).

exit status:
  0    every suite ran (targets missed or not)
  1    a suite failed, or --compare found a regression beyond the measured spread
  2    bad usage: an unknown suite, a missing file, an unreadable --compare file
  130  interrupted (Ctrl-C)
"""


def add_parser(commands: Any) -> None:
    """Add the ``bench`` sub-command to ``commands`` (an argparse sub-parsers action)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "bench",
        help=BENCH_HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("suites", nargs="*", metavar="SUITE|FILE", help="what to run")
    parser.add_argument(
        "--quick", action="store_true", help="small workloads: a smoke test (< 1 minute in all)"
    )
    parser.add_argument(
        "--repeat",
        type=count,
        metavar="N",
        help="measured repetitions after the warm-up (default 3)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="FILE",
        help="compare with an earlier --json; flag regressions beyond the spread",
    )
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.set_defaults(handler=run_bench)


def _error(message: str) -> int:
    print(f"trio-orch bench: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_bench(args: argparse.Namespace) -> int:
    """Run the suites that ``args`` name; print their tables; write and compare JSON."""
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("trio-orch bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from trio_orch.bench._compare import regressions
    from trio_orch.bench._results import BenchResults
    from trio_orch.bench._runner import builtin_suites, resolve
    from trio_orch.bench._table import make_console

    console = make_console()
    if args.list:
        from trio_orch.bench._runner import describe

        for name in builtin_suites():
            console.print(f"{name:<12} {describe(name)}", highlight=False, soft_wrap=True)
        return EXIT_OK
    try:
        suites = resolve(args.suites)
    except ValueError as exc:
        return _error(str(exc))
    before: BenchResults | None = None
    if args.compare is not None:
        try:
            before = BenchResults.load(args.compare)
        except (OSError, ValueError) as exc:
            return _error(f"--compare {args.compare}: {exc}")
    results = _run_with_progress(console, suites, args, before)
    if args.json is not None:
        args.json.write_text(results.to_json(), encoding="utf-8")
    from trio_orch.bench._table import summary

    console.print(summary(results, before))
    failed = any(s.status == "failed" for s in results.suites)
    regressed = before is not None and bool(regressions(results, before))
    return EXIT_FAILED if failed or regressed else EXIT_OK


def command_line(args: argparse.Namespace) -> str:
    """The command, rebuilt from its parsed arguments (what the results record)."""
    words = ["trio-orch", "bench", *args.suites]
    if args.quick:
        words.append("--quick")
    if args.repeat is not None:
        words += ["--repeat", str(args.repeat)]
    if args.json is not None:
        words += ["--json", str(args.json)]
    if args.compare is not None:
        words += ["--compare", str(args.compare)]
    return shlex.join(words)


def _run_with_progress(
    console: Console, suites: list[SuiteRef], args: argparse.Namespace, before: BenchResults | None
) -> BenchResults:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from trio_orch.bench._runner import run_suites
    from trio_orch.bench._table import make_console, suite_table

    errors = make_console(stderr=True)
    progress = Progress(
        TextColumn("[bold]bench[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )
    with progress:
        task = progress.add_task("", total=len(suites))

        def started(suite: SuiteRef) -> None:
            progress.update(task, description=suite.name)

        def done(result: SuiteResult) -> None:
            previous = before.find(result.name) if before is not None else None
            console.print(suite_table(result, previous))
            console.print()
            progress.advance(task)

        return run_suites(
            suites,
            quick=args.quick,
            repeat=args.repeat,
            command=command_line(args),
            on_start=started,
            on_done=done,
        )
