"""Durable workflows (run_checkpointed): a run killed with SIGKILL resumes from its checkpoints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from tests import pg
from tests.engines.stores_workflow import build
from trio_orch import (
    CheckpointError,
    MemoryJobStore,
    StepStatus,
    Workflow,
    WorkflowDefinitionError,
    WorkflowFailed,
    job_store_from_url,
    run_checkpointed,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: Any, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return pg.fresh_database()


def run_script(url: str, run_id: str, log_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.engines.stores_workflow", url, run_id, str(log_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def log_of(log_dir: Path) -> list[str]:
    return (log_dir / "log.txt").read_text().split()


async def test_a_killed_run_resumes_and_skips_what_succeeded(url: str, tmp_path: Path) -> None:
    crashed = await trio.to_thread.run_sync(run_script, url, "run-1", tmp_path)
    assert crashed.returncode == -9, crashed.stderr
    assert log_of(tmp_path) == ["a", "b"]
    resumed = await trio.to_thread.run_sync(run_script, url, "run-1", tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "{'total': 33, 'names': ['x', 'y']}"
    assert log_of(tmp_path) == ["a", "b", "b", "c"]  # a did not run again
    store = job_store_from_url(url)
    try:  # a finished run, run again, runs nothing
        result = await run_checkpointed(build(tmp_path), store=store, run_id="run-1")
        assert result.steps["c"].value == {"total": 33, "names": ["x", "y"]}
        assert log_of(tmp_path) == ["a", "b", "b", "c"]
        # another run id starts from scratch; the URL form opens and closes its own store
        await build(tmp_path).run(store=url, run_id="run-2")
        assert log_of(tmp_path)[4:] == ["a", "b", "c"]
    finally:
        await store.aclose()
    with pytest.raises(
        ValueError, match=r"^store and run_id go together, got store=None and run_id='x'$"
    ):
        await build(tmp_path).run(run_id="x")


async def test_a_changed_definition_and_unserializable_results_are_refused(
    url: str, tmp_path: Path
) -> None:
    store: Any = job_store_from_url(url)
    (tmp_path / "kill-b").touch()
    try:
        await run_checkpointed(build(tmp_path), store=store, run_id="r")
        changed = build(tmp_path)

        @changed.step()
        async def extra(ctx: Any) -> None:
            await trio.lowlevel.checkpoint()

        with pytest.raises(
            WorkflowDefinitionError,
            match=r"^workflow 'durable' changed since run 'r' was started .*use a new run_id$",
        ):
            await run_checkpointed(changed, store=store, run_id="r")

        odd = Workflow("odd")

        @odd.step()
        async def sets(ctx: Any) -> set[int]:
            await trio.lowlevel.checkpoint()
            return {1, 2}

        with pytest.raises(WorkflowFailed) as info:
            await run_checkpointed(odd, store=store, run_id="odd-1")
        step = info.value.result.steps["sets"]
        assert step.status is StepStatus.FAILED
        assert isinstance(step.error, CheckpointError)
        assert step.error.step == "sets"
        assert str(step.error) == (
            "step 'sets' returned a result that cannot be checkpointed: "
            "result must be JSON data, got {1, 2}"
        )
    finally:
        await store.aclose()


async def test_run_checkpointed_needs_a_durable_store() -> None:
    with pytest.raises(
        TypeError, match=r"^store must be a SqliteJobStore, a PostgresJobStore or their URL, got"
    ):
        await run_checkpointed(Workflow("w"), store=MemoryJobStore(), run_id="x")
    with pytest.raises(ValueError, match=r"^run_id must not be empty, got ''$"):
        await run_checkpointed(Workflow("w"), store="memory://", run_id="")


async def test_run_checkpointed_takes_a_url(tmp_path: Path) -> None:
    (tmp_path / "kill-b").touch()
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    first = await run_checkpointed(build(tmp_path), store=url, run_id="u")
    again = await run_checkpointed(build(tmp_path), store=url, run_id="u")
    assert first.steps["c"].value == again.steps["c"].value
    assert log_of(tmp_path) == ["a", "b", "c"]
