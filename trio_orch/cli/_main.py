"""Argument parsing and dispatch for the ``trio-orch`` command.

Only argparse is imported here: each command's module (and trio, rich, watchfiles...) is
imported when that command runs, so ``trio-orch --version`` and ``--help`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from trio_orch.cli import _bench, _jobs_cmd, _worker
from trio_orch.cli._args import count, seconds

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_STATUSES = """\
exit status:
  0    every step succeeded (or was up to date)
  1    a step failed
  2    bad workflow file or usage
  130  interrupted (SIGINT, Ctrl-C)
  141  stdout was closed early (e.g. piped into head)
  143  terminated (SIGTERM)
"""

RUN_EPILOG = (
    """\
FILE defaults to trio-orch.toml in the current directory or the nearest parent that has one.
STEP names select what runs: those steps and their dependencies (default: every step).
A step's stdin is /dev/null; its stdout and stderr are merged and shown prefixed by its name.

"""
    + EXIT_STATUSES
)


class _Version(argparse.Action):
    """``--version``: print the installed version and exit (imports nothing else)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("trio-orch")
        except PackageNotFoundError:  # pragma: no cover - a checkout that is not installed
            found = "unknown"
        print(f"trio-orch {found}")
        parser.exit()


def _add_run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run the steps of a workflow file (trio-orch.toml by default)",
        description=(
            "Run the steps of a TOML workflow file (shell commands with depends_on, retry, "
            "timeout, env, cwd, inputs and outputs) with live progress on a terminal."
        ),
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="[FILE] [STEP ...]",
        help="the workflow file (if the first word names a file or ends in .toml), then steps",
    )
    parser.add_argument("-j", "--jobs", type=count, metavar="N", help="run at most N steps at once")
    parser.add_argument(
        "-k",
        "--keep-going",
        action="store_true",
        help="after a failure, go on with the steps that do not depend on it",
    )
    parser.add_argument(
        "-e",
        "--env",
        action="append",
        metavar="KEY=VALUE",
        help="set an environment variable for every step (repeatable)",
    )
    parser.add_argument(
        "-l", "--list", action="store_true", help="list the steps with their descriptions"
    )
    parser.add_argument(
        "-n",
        "--dry-run",
        action="store_true",
        help="print the steps in order, whether each would run and why (with --json: as JSON)",
    )
    parser.add_argument(
        "-f", "--force", action="store_true", help="run every step, also those up to date"
    )
    parser.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="after the run, re-run the steps whose inputs change, until Ctrl-C",
    )
    parser.add_argument(
        "--json", action="store_true", help="JSON lines on stdout instead of text, no bars"
    )
    parser.add_argument(
        "--logs",
        type=Path,
        metavar="DIR",
        help="write each step's output to a file in DIR instead of stdout",
    )
    parser.add_argument(
        "--grace",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="on Ctrl-C or timeout, seconds between SIGTERM and SIGKILL (default 5)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no live progress bars, even on a terminal"
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from trio_orch.cli._run import run_command

    return run_command(args)


def build_parser() -> argparse.ArgumentParser:
    """The ``trio-orch`` parser with one sub-command per verb."""
    parser = argparse.ArgumentParser(
        prog="trio-orch",
        description="Trio-native orchestration from the command line.",
        epilog=EXIT_STATUSES.replace("exit status:", "exit status of trio-orch run:", 1),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_parser(commands)
    _bench.add_parser(commands)
    worker = commands.add_parser(
        "worker",
        help="run the jobs of a job store (trio-orch worker --store URL --tasks module:registry)",
        description="Run the jobs of a job store with the tasks of a registry.",
    )
    _worker.add_worker_arguments(worker)
    worker.set_defaults(handler=_worker.run_worker)
    jobs = commands.add_parser(
        "jobs",
        help="look at and steer the jobs of a job store (ls, show, retry, cancel)",
        description="Look at and steer the jobs of a job store.",
    )
    _jobs_cmd.add_jobs_arguments(jobs)
    jobs.set_defaults(handler=_jobs_cmd.run_jobs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        status: int = args.handler(args)
    except BrokenPipeError:  # stdout closed early (--list | head): end quietly
        from trio_orch.cli._run import EXIT_PIPE, _quiet_stdout

        _quiet_stdout()
        return EXIT_PIPE
    return status
