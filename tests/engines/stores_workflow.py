"""A durable workflow run by tests/engines/test_stores_workflows.py, in-process or as a script.

``python -m tests.engines.stores_workflow URL RUN_ID LOG_DIR``: runs the workflow under
``RUN_ID``; the step ``b`` kills its own process with SIGKILL the first time it runs (while
``LOG_DIR/kill-b`` does not exist), as a crash would.  Every step appends its name to
``LOG_DIR/log.txt`` when it runs.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import attrs
import trio

from trio_orch import StepContext, Workflow, job_store_from_url


@attrs.frozen
class Report:
    """A step result that is an attrs class: saved unstructured, given back structured."""

    passed: int
    names: tuple[str, ...]


def build(log_dir: Path) -> Workflow:
    """The workflow a -> b -> c (c also uses a's Report)."""
    wf = Workflow("durable")

    def log(name: str) -> None:
        with (log_dir / "log.txt").open("a") as f:
            f.write(f"{name}\n")

    @wf.step()
    async def a(ctx: StepContext) -> Report:
        log("a")
        await trio.lowlevel.checkpoint()
        return Report(passed=3, names=("x", "y"))

    @wf.step(depends_on=[a])
    async def b(ctx: StepContext, a: Report) -> int:
        log("b")
        marker = log_dir / "kill-b"
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        await trio.lowlevel.checkpoint()
        return a.passed * 10

    @wf.step(depends_on=[a, b])
    async def c(ctx: StepContext, a: Report, b: int) -> dict[str, Any]:
        log("c")
        await trio.lowlevel.checkpoint()
        assert isinstance(a, Report), a  # structured back from the checkpoint
        return {"total": a.passed + b, "names": list(a.names)}

    return wf


async def main(url: str, run_id: str, log_dir: Path) -> None:
    store = job_store_from_url(url)
    try:
        result = await build(log_dir).run(store=store, run_id=run_id)  # the contract's form
        print(result.steps["c"].value)
    finally:
        await store.aclose()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], Path(sys.argv[3]))
