"""``trio-orch jobs ls|show|retry|cancel --store URL [--json]``: look at and steer a job store.

::

    trio-orch jobs ls --store sqlite:///jobs.db --status failed
    trio-orch jobs show 42 --store postgresql://app@db/jobs --json
    trio-orch jobs retry 42 43 --store sqlite:///jobs.db
    trio-orch jobs cancel 44 --store sqlite:///jobs.db

``ls`` prints a table (rich) of the jobs in the order they were added; ``show`` every field
of one job; ``retry`` queues FAILED or CANCELLED jobs again with a fresh attempt budget;
``cancel`` cancels QUEUED or RUNNING jobs (a running job's worker stops it at its next
heartbeat).  ``--json`` prints JSON instead: one object per line (per job).  Times are shown
in UTC (ISO 8601).

Exit status: 0 done, 1 a job is unknown or in the wrong state (the others are still
handled), 2 bad usage or the store cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from trio_orch.engines import Job, JobStore

__all__ = ["build_jobs_parser", "jobs_main"]

EXIT_OK = 0
EXIT_JOB = 1
EXIT_USAGE = 2
_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"must be an integer >= 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_jobs_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``jobs`` sub-commands to ``parser``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store",
        required=True,
        metavar="URL",
        help="the job store (sqlite:///..., postgresql://...)",
    )
    common.add_argument("--json", action="store_true", help="JSON (one object per line)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    ls = verbs.add_parser("ls", parents=[common], help="list jobs in the order they were added")
    ls.add_argument("--status", choices=_STATUSES, help="only jobs in this status")
    ls.add_argument("--limit", type=_limit, metavar="N", help="at most N jobs")
    show = verbs.add_parser("show", parents=[common], help="every field of one job")
    show.add_argument("job_id", metavar="ID")
    retry = verbs.add_parser("retry", parents=[common], help="queue FAILED/CANCELLED jobs again")
    retry.add_argument("job_ids", nargs="+", metavar="ID")
    cancel = verbs.add_parser("cancel", parents=[common], help="cancel QUEUED/RUNNING jobs")
    cancel.add_argument("job_ids", nargs="+", metavar="ID")


def build_jobs_parser() -> argparse.ArgumentParser:
    """The parser of ``trio-orch jobs``."""
    parser = argparse.ArgumentParser(
        prog="trio-orch jobs",
        description="Look at and steer the jobs of a job store.",
        epilog=__doc__.split("Exit status:", 1)[1].join(("Exit status:", "")),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_jobs_arguments(parser)
    return parser


def _when(value: float | None) -> str | None:
    if value is None:
        return None
    import datetime

    try:
        moment = datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{value:g}"
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_data(job: Job) -> dict[str, Any]:
    """A job as JSON data (times as ISO 8601 UTC strings)."""
    return {
        "id": job.id,
        "task": job.task,
        "status": job.status.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "key": job.key,
        "run_at": _when(job.run_at),
        "created_at": _when(job.created_at),
        "updated_at": _when(job.updated_at),
        "worker": job.worker,
        "lease_expires": _when(job.lease_expires),
        "error": job.error,
        "payload": job.payload,
        "result": job.result,
    }


def _print_json(data: Any) -> None:
    print(json.dumps(data, sort_keys=False))


def _table(jobs: list[Job]) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in (
        "id",
        "task",
        "status",
        "attempts",
        "prio",
        "run at",
        "updated",
        "worker",
        "error",
    ):
        table.add_column(column, overflow="fold", no_wrap=column != "error")
    for job in jobs:
        table.add_row(
            job.id,
            job.task,
            job.status.value,
            f"{job.attempts}/{job.max_attempts}",
            str(job.priority),
            _when(job.run_at) or "",
            _when(job.updated_at) or "",
            job.worker or "",
            (job.error or "")[:80],
        )
    _console().print(table)


def _console() -> Any:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def _show(job: Job) -> None:
    from rich.table import Table

    table = Table(box=None, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in job_data(job).items():
        shown = json.dumps(value) if name in ("payload", "result") else value
        table.add_row(name, "" if shown is None else str(shown))
    _console().print(table)


async def _run(args: argparse.Namespace, store: JobStore) -> int:
    import trio

    from trio_orch._exceptions import JobNotFound, JobStateError
    from trio_orch.engines import JobStatus

    now = trio.current_time() if store.clock is None else store.clock()
    if args.verb == "ls":
        status = None if args.status is None else JobStatus(args.status)
        jobs = await store.list(status=status, limit=args.limit)
        if args.json:
            for job in jobs:
                _print_json(job_data(job))
        else:
            _table(jobs)
        return EXIT_OK
    status_code = EXIT_OK
    ids = [args.job_id] if args.verb == "show" else args.job_ids
    for job_id in ids:
        try:
            if args.verb == "show":
                job = await store.get(job_id)
            elif args.verb == "retry":
                job = await store.retry(job_id, now)
            else:
                job, previous = await store.cancel(job_id, now)
                if previous.finished:
                    _error(f"job {job_id} had already ended ({previous.value}): not changed")
        except (JobNotFound, JobStateError) as exc:
            _error(str(exc))
            status_code = EXIT_JOB
            continue
        if args.json:
            _print_json(job_data(job))
        elif args.verb == "show":
            _show(job)
        else:
            print(f"job {job.id}: {job.status.value}")
    return status_code  # noqa: ASYNC910 - argparse gives at least one ID: a store call ran


def _error(text: str) -> None:
    print(f"trio-orch jobs: {text}", file=sys.stderr)


async def _run_and_close(args: argparse.Namespace, store: JobStore) -> int:
    import trio

    from trio_orch._exceptions import JobStoreError

    try:
        return await _run(args, store)
    except JobStoreError as exc:
        _error(str(exc))
        return EXIT_USAGE  # noqa: ASYNC910 - the finally's aclose checkpoints
    finally:
        with trio.CancelScope(shield=True) as cs:
            cs.deadline = trio.current_time() + 10
            await store.aclose()


def run_jobs(args: argparse.Namespace) -> int:
    """Run a parsed ``trio-orch jobs`` command (see :func:`add_jobs_arguments`)."""
    import trio

    from trio_orch.engines import job_store_from_url

    try:
        store = job_store_from_url(args.store)
    except (ValueError, TypeError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    path = getattr(store, "path", None)
    if isinstance(path, str) and path != ":memory:" and not Path(path).exists():
        _error(f"job store {path}: no such database file")
        return EXIT_USAGE
    return trio.run(_run_and_close, args, store)


def jobs_main(argv: Sequence[str] | None = None) -> int:
    """Run ``trio-orch jobs`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_jobs_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run_jobs(args)
