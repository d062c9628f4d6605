"""``trio-orch worker`` and ``trio-orch jobs`` (worker_main, jobs_main), run in this process.

Each command calls ``trio.run`` itself, so these tests are sync; the processes that run side
by side are in test_stores_workers.py.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

import pytest
import trio

from tests import pg
from trio_orch import JobSpec, JobStatus, job_store_from_url
from trio_orch.cli._jobs_cmd import jobs_main
from trio_orch.cli._worker import load_tasks, worker_main

if TYPE_CHECKING:
    from pathlib import Path

TASKS = "tests.engines.stores_tasks:tasks"


def seed(url: str, specs: list[JobSpec], *, fail_first: bool = False) -> list[str]:
    async def main() -> list[str]:
        store = job_store_from_url(url)
        try:
            ids = [(await store.add(spec, time.time()))[0].id for spec in specs]
            if fail_first:
                (job,) = await store.claim("w", 1, 30.0, time.time())
                await store.fail(job.id, "w", "ValueError: nope", None, time.time())
            return ids
        finally:
            await store.aclose()

    return trio.run(main)


def statuses(url: str) -> dict[str, JobStatus]:
    async def main() -> dict[str, JobStatus]:
        store = job_store_from_url(url)
        try:
            return {job.id: job.status for job in await store.list()}
        finally:
            await store.aclose()

    return trio.run(main)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/jobs.db"


def test_jobs_ls_show_retry_cancel(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    failed, queued = seed(
        url,
        [JobSpec(task="count", payload={"n": 1}), JobSpec(task="count", payload={"n": 2})],
        fail_first=True,
    )
    assert jobs_main(["ls", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "failed" in out
    assert "queued" in out
    assert "ValueError: nope" in out
    assert jobs_main(["ls", "--store", url, "--json", "--status", "failed"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    data = json.loads(line)
    assert (data["id"], data["status"], data["error"], data["payload"]) == (
        failed,
        "failed",
        "ValueError: nope",
        {"n": 1},
    )
    assert data["created_at"].endswith("Z")
    assert jobs_main(["show", queued, "--store", url]) == 0
    assert "queued" in capsys.readouterr().out
    assert jobs_main(["show", queued, "--store", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "queued"
    assert jobs_main(["retry", failed, queued, "--store", url]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"job {failed}: queued\n"
    assert "cannot retry job" in captured.err
    assert jobs_main(["cancel", queued, "--store", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelled"
    assert jobs_main(["cancel", queued, "--store", url]) == 0
    captured = capsys.readouterr()
    assert f"job {queued} had already ended (cancelled): not changed" in captured.err
    assert jobs_main(["show", "999", "--store", url]) == 1
    assert capsys.readouterr().err == "trio-orch jobs: no job with id '999'\n"
    assert statuses(url) == {failed: JobStatus.QUEUED, queued: JobStatus.CANCELLED}


def test_jobs_refuses_bad_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert jobs_main(["ls", "--store", "mysql://u:hunter2@db/x"]) == 2
    err = capsys.readouterr().err
    assert "mysql://u:***@db/x" in err
    assert "hunter2" not in err
    assert jobs_main(["ls", "--store", f"sqlite:///{tmp_path}/none.db"]) == 2
    assert capsys.readouterr().err == (
        f"trio-orch jobs: job store {tmp_path}/none.db: no such database file\n"
    )
    assert jobs_main(["ls", "--store", "postgresql://u:hunter2@127.0.0.1:1/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "trio-orch jobs: job store postgresql://u:***@127.0.0.1:1/x: cannot connect"
    )
    assert "hunter2" not in err
    with pytest.raises(SystemExit):
        jobs_main(["ls", "--store", "sqlite:///x.db", "--limit", "-1"])


def test_worker_runs_jobs_until_idle(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIO_ORCH_RUNS", str(tmp_path))
    ids = seed(url, [JobSpec(task="count", payload={"n": n}) for n in range(5)])
    argv = ["--store", url, "--tasks", TASKS, "--until-idle", "--poll-interval", "0.05"]
    assert worker_main(argv) == 0
    err = capsys.readouterr().err
    assert "tasks count, hang_once, sleep (concurrency 10)" in err
    assert "stopped: 5 succeeded, 0 failed, 0 retried, 0 requeued, 0 lost" in err
    assert statuses(url) == dict.fromkeys(ids, JobStatus.SUCCEEDED)


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ("nocolon", r"--tasks must be MODULE:NAME \(e.g. myapp.jobs:tasks\), got 'nocolon'"),
        ("no_such_module_x:tasks", r"cannot import 'no_such_module_x'"),
        (
            "tests.engines.stores_tasks:count",
            r"'count' in 'tests.engines.stores_tasks' is not a TaskRegistry",
        ),
    ],
)
def test_worker_refuses_a_bad_tasks_spec(
    url: str, tasks: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert worker_main(["--store", url, "--tasks", tasks]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_worker_refuses_bad_urls_and_unreachable_stores(capsys: pytest.CaptureFixture[str]) -> None:
    assert worker_main(["--store", "sqlite://host/x.db", "--tasks", TASKS]) == 2
    assert "names a host" in capsys.readouterr().err
    argv = ["--store", "postgresql://u:hunter2@127.0.0.1:1/x", "--tasks", TASKS, "-q"]
    assert worker_main(argv) == 1
    err = capsys.readouterr().err
    assert "job store postgresql://u:***@127.0.0.1:1/x: cannot connect" in err
    assert "hunter2" not in err
    for bad in (
        ["--concurrency", "0"],
        ["--concurrency", "x"],
        ["--lease", "0"],
        ["--lease", "x"],
        ["--grace", "-1"],
        ["--grace", "x"],
    ):
        with pytest.raises(SystemExit):
            worker_main(["--store", "memory://", "--tasks", TASKS, *bad])


def test_worker_on_postgres(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIO_ORCH_RUNS", str(tmp_path))
    url = pg.fresh_database()
    ids = seed(url, [JobSpec(task="count", payload={"n": n}) for n in range(3)])
    assert worker_main(["--store", url, "--tasks", TASKS, "--until-idle", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert statuses(url) == dict.fromkeys(ids, JobStatus.SUCCEEDED)


def test_load_tasks() -> None:
    from tests.engines.stores_tasks import tasks

    assert load_tasks(TASKS) is tasks
