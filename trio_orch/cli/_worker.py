"""``trio-orch worker``: a process that runs registered tasks from a shared job store.

::

    trio-orch worker --store sqlite:///jobs.db --tasks myapp.jobs:tasks --concurrency 20

The worker opens a :func:`~trio_orch.open_job_queue` on the store with the
:class:`~trio_orch.TaskRegistry` named by ``--tasks`` (``module:attribute``, imported with
the current directory on ``sys.path``) and runs jobs until it is told to stop.  The first
SIGTERM or SIGINT (Ctrl-C) shuts it down gracefully: it claims nothing more, gives running
jobs ``--grace`` seconds to finish, then returns the rest to the queue (QUEUED, attempt
counted) for another worker.  A second signal returns them at once.  ``--until-idle`` ends
the worker once the store holds no QUEUED or RUNNING job (batch processing, tests).

Exit status: 0 done (``--until-idle``), 1 the store cannot be reached, 2 bad usage (bad
URL, ``--tasks`` not found), 130 after SIGINT, 143 after SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trio_orch._exceptions import TasksNotFound
from trio_orch.cli._args import count, positive_seconds, seconds

if TYPE_CHECKING:
    from collections.abc import Sequence

    import trio

    from trio_orch.engines import JobQueue, JobStore, TaskRegistry

__all__ = ["build_worker_parser", "load_tasks", "worker_main"]

EXIT_OK = 0
EXIT_STORE = 1
EXIT_USAGE = 2
_EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``worker`` options to ``parser``."""
    parser.add_argument(
        "--store",
        required=True,
        metavar="URL",
        help="the job store: sqlite:///jobs.db, sqlite:////abs/jobs.db or postgresql://...",
    )
    parser.add_argument(
        "--tasks",
        required=True,
        metavar="MODULE:NAME",
        help="the TaskRegistry to run, e.g. myapp.jobs:tasks",
    )
    parser.add_argument(
        "--concurrency", type=count, default=10, metavar="N", help="jobs at once (default 10)"
    )
    parser.add_argument(
        "--lease",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long a claim holds a job without a heartbeat (default 30)",
    )
    parser.add_argument(
        "--heartbeat",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="seconds between lease renewals (default: lease / 3)",
    )
    parser.add_argument(
        "--grace",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="on SIGTERM or Ctrl-C, seconds running jobs get to finish (default 10)",
    )
    parser.add_argument(
        "--poll-interval",
        type=positive_seconds,
        default=1.0,
        metavar="SECONDS",
        help="how often to look for jobs when nothing wakes the worker (default 1)",
    )
    parser.add_argument(
        "--worker-id", metavar="ID", help="the lease name (default host:pid:random)"
    )
    parser.add_argument(
        "--until-idle",
        action="store_true",
        help="exit once no job in the store is QUEUED or RUNNING",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no start and stop lines")


def build_worker_parser() -> argparse.ArgumentParser:
    """The parser of ``trio-orch worker``."""
    parser = argparse.ArgumentParser(
        prog="trio-orch worker",
        description="Run the registered tasks of jobs from a shared job store.",
        epilog=__doc__.split("Exit status:", 1)[1].join(("Exit status:", "")),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_worker_arguments(parser)
    return parser


def load_tasks(spec: str) -> TaskRegistry:
    """Import the :class:`~trio_orch.TaskRegistry` named ``module:attribute``.

    Raises:
        TasksNotFound: malformed, the module cannot be imported, or no registry there.
    """
    from trio_orch.engines import TaskRegistry

    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        msg = f"--tasks must be MODULE:NAME (e.g. myapp.jobs:tasks), got {spec!r}"
        raise TasksNotFound(msg)
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"--tasks {spec!r}: cannot import {module_name!r}: {exc}"
        raise TasksNotFound(msg) from exc
    found: Any = module
    for part in attribute.split("."):
        found = getattr(found, part, None)
    if not isinstance(found, TaskRegistry):
        msg = f"--tasks {spec!r}: {attribute!r} in {module_name!r} is not a TaskRegistry, got {found!r}"
        raise TasksNotFound(msg)
    return found


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"trio-orch worker: {text}", file=sys.stderr, flush=True)


async def _prepare(store: JobStore) -> None:
    """Connect (and migrate) now, so that an unreachable store fails the start."""
    migrate = getattr(store, "migrate", None)
    if migrate is not None:
        await migrate()
    else:
        await store.list(limit=1)


async def _serve(args: argparse.Namespace, tasks: TaskRegistry, store: JobStore) -> int:
    import trio

    from trio_orch.engines import open_job_queue

    try:
        await _prepare(store)
    except Exception as exc:
        print(f"trio-orch worker: {exc}", file=sys.stderr)
        return EXIT_STORE  # noqa: ASYNC910 - the store call that raised checkpointed
    got: list[int] = []
    async with trio.open_nursery() as nursery:
        block = trio.CancelScope()
        abort = trio.CancelScope()
        nursery.start_soon(_watch_signals, block, abort, got)
        with abort:
            async with open_job_queue(
                tasks,
                store=store,
                concurrency=args.concurrency,
                grace=args.grace,
                lease=args.lease,
                heartbeat=args.heartbeat,
                poll_interval=args.poll_interval,
                worker_id=args.worker_id,
            ) as queue:
                _say(
                    args,
                    f"{queue.worker_id} on {_shown(store)}: tasks {', '.join(sorted(tasks.names()))}"
                    f" (concurrency {args.concurrency})",
                )
                with block:
                    if args.until_idle:
                        await queue.wait_idle()
                    else:
                        await trio.sleep_forever()
                _say(args, _stopping(got, args.grace))
        nursery.cancel_scope.cancel()
    _say(args, _summary(queue))
    if got:
        return _EXIT_SIGNAL.get(signal.Signals(got[0]), 130)
    return EXIT_OK


def _shown(store: JobStore) -> str:
    return str(getattr(store, "url", None) or getattr(store, "path", None) or repr(store))


def _stopping(got: list[int], grace: float) -> str:
    if not got:
        return "the store is idle; stopping"
    name = signal.Signals(got[0]).name
    return f"{name}: claiming no more jobs; running ones get {grace:g} s, then go back to the queue"


def _summary(queue: JobQueue) -> str:
    stats = queue.stats
    return (
        f"stopped: {stats.succeeded} succeeded, {stats.failed} failed, {stats.retried} retried,"
        f" {stats.requeued} requeued, {stats.lost} lost"
    )


async def _watch_signals(block: trio.CancelScope, abort: trio.CancelScope, got: list[int]) -> None:
    """First SIGTERM/SIGINT: end the block (graceful shutdown).  Second: abort."""
    import trio

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if not got:
                got.append(signum)
                block.cancel(reason=f"{signal.Signals(signum).name} received")
            else:
                abort.cancel(reason="a second signal: returning the running jobs now")


def worker_main(argv: Sequence[str] | None = None) -> int:
    """Run ``trio-orch worker`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_worker_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run_worker(args)


def run_worker(args: argparse.Namespace) -> int:
    """Run a worker for parsed arguments (see :func:`add_worker_arguments`)."""
    import trio

    from trio_orch.engines import job_store_from_url

    try:
        tasks = load_tasks(args.tasks)
        store = job_store_from_url(args.store)
    except (TasksNotFound, ValueError, TypeError) as exc:
        print(f"trio-orch worker: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return trio.run(_serve_and_close, args, tasks, store)
    except KeyboardInterrupt:  # Ctrl-C before the signal receiver was installed
        return _EXIT_SIGNAL[signal.SIGINT]


async def _serve_and_close(args: argparse.Namespace, tasks: TaskRegistry, store: JobStore) -> int:
    import trio

    try:
        return await _serve(args, tasks, store)
    finally:
        with trio.CancelScope(shield=True) as cs:
            cs.deadline = trio.current_time() + 10
            await store.aclose()
