"""Argument parsing and dispatch for the ``trio-orch`` command.

Only argparse is imported here: each command's module (and trio, rich, watchfiles...) is
imported when that command runs, so ``trio-orch --version`` and ``--help`` start fast.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from trio_orch.cli._args import count, seconds

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TypeAlias

    _AddParser: TypeAlias = Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]

RUN_HELP = "run the steps of a workflow file (trio-orch.toml by default)"
BENCH_HELP = "run the benchmark suites (or your own file) against raw Trio and peers"

#: the exit status when stdout was closed early (``trio-orch run ... | head``)
EXIT_PIPE = 141

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
        help=RUN_HELP,
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


def _add_bench_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from trio_orch.cli import _bench

    _bench.add_parser(commands)


def _add_worker_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from trio_orch.cli import _worker

    worker = commands.add_parser(
        "worker",
        help=_COMMANDS["worker"][0],
        description="Run the jobs of a job store with the tasks of a registry.",
    )
    _worker.add_worker_arguments(worker)
    worker.set_defaults(handler=_worker.run_worker)


def _add_jobs_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from trio_orch.cli import _jobs_cmd

    jobs = commands.add_parser(
        "jobs", help=_COMMANDS["jobs"][0], description="Look at and steer the jobs of a job store."
    )
    _jobs_cmd.add_jobs_arguments(jobs)
    jobs.set_defaults(handler=_jobs_cmd.run_jobs)


#: every command: its line in ``trio-orch --help``, and what adds its parser
_COMMANDS: dict[str, tuple[str, _AddParser]] = {
    "run": (RUN_HELP, _add_run_parser),
    "bench": (BENCH_HELP, _add_bench_parser),
    "worker": (
        "run the jobs of a job store (trio-orch worker --store URL --tasks module:registry)",
        _add_worker_parser,
    ),
    "jobs": (
        "look at and steer the jobs of a job store (ls, show, retry, cancel)",
        _add_jobs_parser,
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``trio-orch`` parser with one sub-command per verb.

    Args:
        command: the only sub-command these arguments can use (the first word that is not
            an option): the others are added with their help line only, which is all that
            ``trio-orch --help`` shows of them, and their modules are not imported.
            ``trio-orch run`` starts faster so.  None: every sub-command in full.
    """
    parser = argparse.ArgumentParser(
        prog="trio-orch",
        description="Trio-native orchestration from the command line.",
        epilog=EXIT_STATUSES.replace("exit status:", "exit status of trio-orch run:", 1),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_line, add) in _COMMANDS.items():
        if command is None or command == name:
            add(commands)
        else:
            commands.add_parser(name, help=help_line, add_help=False)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names, when it names one (its first word not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in _COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    return _main(argv)[0]


def console_main() -> NoReturn:
    """The ``trio-orch`` script: :func:`main` with ``sys.argv``, then exit with its status.

    For ``trio-orch run``, which owns the process then: its modules are imported with the
    garbage collector off, then frozen (:func:`gc.freeze`); the descriptors it inherited are
    made close-on-exec (its steps never get them either way; this lets it start them with
    ``posix_spawn``); and after the run the process ends at once (:func:`os._exit`, once
    stdout and stderr are flushed), without tearing the interpreter down: the run has closed
    what it opened, and unloading the modules it imported would only cost time.  The other
    commands exit as usual.
    """
    gc.disable()  # until the command's modules are imported (see _main)
    status, args = _main(None, own_process=True)
    if args.command != "run":
        sys.exit(status)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            status = EXIT_PIPE if stream is sys.stdout else status
        except (OSError, ValueError):  # closed, or gone: nothing more can be written there
            pass
    import logging  # loaded by the run already

    logging.shutdown()
    os._exit(status)


def _main(
    argv: Sequence[str] | None, *, own_process: bool = False
) -> tuple[int, argparse.Namespace]:
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command(words)).parse_args(words)
    if own_process:
        if args.command == "run":
            # Imported with the collector off (console_main turned it off): importing makes
            # no garbage, and the collections it would trigger cost ~4 % of a short run.
            from trio_orch.cli import _run  # noqa: F401
            from trio_orch.cli._spawn import keep_descriptors_here

            keep_descriptors_here()
            gc.freeze()  # what is imported stays for good: no collection needs to look at it
        gc.enable()
    try:
        status: int = args.handler(args)
    except BrokenPipeError:  # stdout closed early (--list | head): end quietly
        from trio_orch.cli._run import _quiet_stdout

        _quiet_stdout()
        return EXIT_PIPE, args
    return status, args
