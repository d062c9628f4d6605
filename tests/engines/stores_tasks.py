"""Tasks run by the worker processes of tests/engines/test_stores_workers.py.

Every attempt appends ``"<event> <n>\\n"`` to a file of its own process
(``$TRIO_ORCH_RUNS/runs-<pid>.txt``), so the test counts the runs of each job across
processes (the payload's ``n`` names the job).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import trio

from trio_orch import TaskRegistry

tasks = TaskRegistry()
_fd: list[int] = []


def _log(event: str, n: int) -> None:
    if not _fd:
        path = Path(os.environ["TRIO_ORCH_RUNS"]) / f"runs-{os.getpid()}.txt"
        _fd.append(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    os.write(_fd[0], f"{event} {n}\n".encode())


@tasks.task("count")
async def count(payload: Any) -> Any:
    """Record the run; return ``n``."""
    _log("run", payload["n"])
    await trio.lowlevel.checkpoint()
    return payload["n"]


@tasks.task("hang_once")
async def hang_once(payload: Any) -> Any:
    """The first attempt (of any process) hangs; later ones return ``n``."""
    n = payload["n"]
    marker = Path(os.environ["TRIO_ORCH_RUNS"]) / f"hung-{n}"
    _log("start", n)
    if not marker.exists():
        marker.touch()
        await trio.sleep_forever()
    _log("done", n)
    return n


@tasks.task("sleep")
async def sleep(payload: Any) -> Any:
    """Sleep ``payload["seconds"]``, then return ``n``."""
    _log("start", payload["n"])
    await trio.sleep(payload["seconds"])
    _log("done", payload["n"])
    return payload["n"]
