"""The durable stores (SqliteJobStore, PostgresJobStore) beyond the shared contract tests.

The contract (test_jobs_store.py) and the state machine (test_jobs_machine.py) run on both
stores through tests/engines/job_stores.py; here: URLs and their errors, migrations, real
threads and the wall clock under a queue, leases between two queues, LISTEN/NOTIFY wake-ups,
and the group commits.  PostgreSQL is a real server (tests/pg.py).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from tests import pg
from trio_orch import (
    JobSpec,
    JobStatus,
    JobStore,
    JobStoreError,
    MemoryJobStore,
    PostgresJobStore,
    SqliteJobStore,
    TaskRegistry,
    job_store_from_url,
    open_job_queue,
)
from trio_orch.engines._store_schema import GroupCommit, mask_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: Any, tmp_path: Path) -> Callable[..., JobStore]:
    """Stores on one fresh database: call it again for another process's view of it."""
    if request.param == "sqlite":
        path = tmp_path / "jobs.db"
        return lambda **kw: SqliteJobStore(path, **kw)
    dsn = pg.pg_dsn()
    schema = pg.fresh_schema()
    return lambda **kw: PostgresJobStore(dsn, schema=schema, **kw)


@pytest.fixture
async def store(make_store: Callable[..., JobStore]) -> AsyncIterator[JobStore]:
    the_store = make_store()
    try:
        yield the_store
    finally:
        await the_store.aclose()


def registry(log: list[Any]) -> TaskRegistry:
    tasks = TaskRegistry()

    @tasks.task("record")
    async def record(payload: Any) -> Any:
        log.append(payload)
        await trio.lowlevel.checkpoint()
        return payload

    @tasks.task("slow")
    async def slow(payload: Any) -> Any:
        log.append(("start", payload))
        await trio.sleep(payload)
        return payload

    return tasks


# --- URLs ---------------------------------------------------------------------------------


def test_urls_name_their_stores(tmp_path: Path) -> None:
    relative = job_store_from_url("sqlite:///data/jobs.db")
    assert isinstance(relative, SqliteJobStore)
    assert relative.path == "data/jobs.db"
    absolute = job_store_from_url(f"sqlite:///{tmp_path}/jobs.db")
    assert isinstance(absolute, SqliteJobStore)
    assert absolute.path == f"{tmp_path}/jobs.db"
    assert repr(absolute) == f"<SqliteJobStore '{tmp_path}/jobs.db'>"
    for url in ("postgresql://app:s3cret@db.example:5433/jobs", "postgres://app:s3cret@db/jobs"):
        store = job_store_from_url(url)
        assert isinstance(store, PostgresJobStore)
        assert "s3cret" not in repr(store)
        assert store.url == url.replace("s3cret", "***")
        assert store.schema == "public"
    assert isinstance(job_store_from_url("memory://"), MemoryJobStore)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://root:hunter2@db/jobs",
            r"^store URL 'mysql://root:\*\*\*@db/jobs' names no known store "
            r"\(known: memory://, postgres://, postgresql://, sqlite://\)$",
        ),
        (
            "sqlite://host/jobs.db",
            r"^store URL 'sqlite://host/jobs.db' names a host: use sqlite:///relative.db "
            r"or sqlite:////absolute/path.db$",
        ),
        ("sqlite:///", r"^store URL 'sqlite:///' names no file: use .*$"),
        (
            "sqlite:///jobs.db?mode=ro",
            r"^store URL 'sqlite:///jobs.db\?mode=ro' has a query string: "
            r"SqliteJobStore takes no URL options$",
        ),
        (
            "postgresql://app:hunter2@db:port/jobs",
            r"^store URL 'postgresql://app:\*\*\*@db:port/jobs' is not a valid URL: .*$",
        ),
        ("jobs.db", r"^store URL 'jobs.db' names no known store .*$"),
    ],
)
def test_bad_urls_are_refused_with_the_password_masked(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        job_store_from_url(url)
    assert "hunter2" not in str(info.value)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"^url must be a str, got 5$"):
        job_store_from_url(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^path must be a str or a path, got None$"):
        SqliteJobStore(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^busy_timeout must be finite and > 0, got 0$"):
        SqliteJobStore("x.db", busy_timeout=0)
    with pytest.raises(TypeError, match=r"^dsn must be a str, got b'x'$"):
        PostgresJobStore(b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^schema must be a lower-case SQL name .*, got 'A-b'$"):
        PostgresJobStore("postgresql://", schema="A-b")
    with pytest.raises(ValueError, match=r"^max_connections must be >= 1, got 0$"):
        PostgresJobStore("postgresql://", max_connections=0)
    with pytest.raises(ValueError, match=r"^batch must be >= 1, got 0$"):
        SqliteJobStore("x.db", batch=0)


def test_mask_url() -> None:
    assert mask_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("postgresql://u:@h/db") == "postgresql://u:@h/db"
    assert mask_url("host=h password=secret dbname=x") == "host=h password=*** dbname=x"


async def test_an_unreachable_database_is_named_with_the_password_masked() -> None:
    store = PostgresJobStore(
        "postgresql://app:hunter2@127.0.0.1:1/jobs", connect_timeout=2, listen=False
    )
    with pytest.raises(JobStoreError) as info:
        await store.get("1")
    message = str(info.value)
    assert message.startswith("job store postgresql://app:***@127.0.0.1:1/jobs: cannot connect: ")
    assert "hunter2" not in message
    assert info.value.url == "postgresql://app:***@127.0.0.1:1/jobs"
    await store.aclose()


async def test_an_unopenable_sqlite_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "jobs.db"
    store = SqliteJobStore(path)
    with pytest.raises(
        JobStoreError, match=rf"^job store {path}: cannot open the database: unable to open"
    ):
        await store.list()
    await store.aclose()
    with pytest.raises(JobStoreError, match=rf"^job store {path}: the store is closed$"):
        await store.list()


async def test_a_closed_postgres_store_refuses_calls(store: JobStore) -> None:
    assert await store.list() == []
    await store.aclose()
    with pytest.raises(JobStoreError, match=r"the store is closed$"):
        await store.list()


# --- migrations ---------------------------------------------------------------------------


async def test_migrations_twice_are_no_ops(make_store: Callable[..., Any]) -> None:
    stores = [make_store() for _ in range(3)]
    answers: list[list[int]] = []

    async def migrate(store: Any) -> None:
        answers.append(await store.migrate())

    async with trio.open_nursery() as nursery:  # three workers starting at once
        for store in stores:
            nursery.start_soon(migrate, store)
    assert sorted(answers) == [[], [], [1, 2]]
    assert await stores[0].migrate() == []
    job, _ = await stores[1].add(JobSpec(task="t", payload=None), 1.0)
    assert await stores[2].migrate() == []
    assert await stores[2].get(job.id) == job  # the data survived
    for store in stores:
        await store.aclose()


# --- under a queue: threads and the wall clock ---------------------------------------------


async def test_the_queue_runs_jobs_with_priorities_keys_and_delays(store: JobStore) -> None:
    log: list[Any] = []
    now = store.clock() if store.clock is not None else 0.0
    for payload, priority in (("low", -1), ("mid", 0), ("high", 5)):
        await store.add(JobSpec(task="record", payload=payload, priority=priority), now)
    async with open_job_queue(registry(log), store=store, concurrency=1, poll_interval=0.05) as q:
        start = trio.current_time()
        later = await q.add("record", "later", run_at=start + 0.3)
        # run_at is given and shown on Trio's clock; the store keeps the wall-clock time
        assert later.run_at == pytest.approx(start + 0.3, abs=0.05)
        stored = await store.get(later.id)
        assert stored.run_at == pytest.approx(time.time() + 0.3, abs=0.1)
        keyed = await q.add("record", "keyed", key="once", priority=-5)
        again = await q.add("record", "other", key="once")
        assert again.id == keyed.id
        done = await q.wait(later.id)
        assert done.status is JobStatus.SUCCEEDED
        assert trio.current_time() - start >= 0.29
        await q.wait_idle()
    assert log[:3] == ["high", "mid", "low"]
    assert sorted(log[3:]) == ["keyed", "later"]
    assert log[-1] == "later"


async def test_a_live_heartbeating_job_is_never_reclaimed(
    make_store: Callable[..., JobStore],
) -> None:
    log: list[Any] = []
    a, b = make_store(), make_store()  # two workers' views of one database
    try:
        async with (
            open_job_queue(registry(log), store=a, lease=0.2, heartbeat=0.03) as qa,
            open_job_queue(registry(log), store=b, lease=0.2, heartbeat=0.03) as qb,
        ):
            job = await qa.add("slow", 0.7)
            await trio.sleep(0.1)
            running = await qb.status(job.id)
            assert running.status is JobStatus.RUNNING
            assert running.worker in (qa.worker_id, qb.worker_id)
            done = await qb.wait(job.id)
        assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)
        assert log == [("start", 0.7)]
        assert qa.stats.requeued == qb.stats.requeued == 0
        assert qa.stats.lost == qb.stats.lost == 0
    finally:
        await a.aclose()
        await b.aclose()


async def test_an_expired_lease_goes_back_with_the_attempt_counted(store: JobStore) -> None:
    now = time.time()
    job, _ = await store.add(JobSpec(task="record", payload="x", max_attempts=1), now)
    (claimed,) = await store.claim("dead-worker", 1, 0.2, now)
    assert claimed.lease_expires == pytest.approx(now + 0.2)
    log: list[Any] = []
    async with open_job_queue(registry(log), store=store, lease=1.0, heartbeat=0.05) as q:
        done = await q.wait(job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2)
    assert q.stats.requeued == 1
    assert log == ["x"]


# --- LISTEN / NOTIFY ----------------------------------------------------------------------


async def test_an_idle_postgres_worker_wakes_on_notify_in_milliseconds() -> None:
    dsn, schema = pg.pg_dsn(), pg.fresh_schema()
    worker = PostgresJobStore(dsn, schema=schema, fallback_poll=30.0)
    producer = PostgresJobStore(dsn, schema=schema)  # another process, for all it knows
    log: list[Any] = []
    started = trio.Event()
    tasks = registry(log)

    @tasks.task("ping")
    async def ping(payload: Any) -> None:
        started.set()
        await trio.lowlevel.checkpoint()

    try:
        async with open_job_queue(tasks, store=worker, poll_interval=30.0) as q:
            await q.wait_idle()
            await trio.sleep(0.1)  # the timer now waits on the LISTEN connection
            t0 = trio.current_time()
            await producer.add(JobSpec(task="ping", payload=None), time.time())
            with trio.fail_after(5):
                await started.wait()
            latency = trio.current_time() - t0
            assert latency < 1.0, latency  # not the 30 s poll
    finally:
        await worker.aclose()
        await producer.aclose()


async def test_a_lost_listen_connection_falls_back_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dsn, schema = pg.pg_dsn(), pg.fresh_schema()
    store = PostgresJobStore(dsn, schema=schema, fallback_poll=5.0)
    try:
        now = time.time()
        assert await store.next_due(now) == now  # it starts listening, and says: look now
        first = store._listener
        assert first is not None
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first.info.backend_pid,))
        await trio.sleep(0.1)
        # The loss is noticed (before or while waiting) and logged; it listens again.
        answers = []
        while store._listener is None or store._listener is first:
            now = time.time()
            answers.append((await store.next_due(now), now))
        assert answers[-1][0] == answers[-1][1]
        assert len(answers) <= 2
        assert "trio_orch.stores.listen_failed" in caplog.text
        assert store._listener is not None
        assert store._listener is not first
        with trio.move_on_after(0.05) as waited:  # idle: it waits (up to fallback_poll)
            await store.next_due(time.time())
        assert waited.cancelled_caught
    finally:
        await store.aclose()


def listening(store: PostgresJobStore) -> bool:
    return store._listener is not None


async def test_next_due_answers_at_once_for_a_past_now(store: JobStore) -> None:
    await store.add(JobSpec(task="t", payload=None, run_at=50.0), 10.0)
    with trio.fail_after(2):
        assert await store.next_due(10.0) == 50.0


# --- group commits ------------------------------------------------------------------------


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await trio.to_thread.run_sync(fn, *args)


async def test_group_commit_batches_and_cancellation() -> None:
    flushed: list[list[int]] = []
    gate = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def flush(items: list[int]) -> list[int | Exception]:
        if items[0] == 0:  # the first batch waits until the test lets it go
            trio.from_thread.run(gate.wait, trio_token=token)
        flushed.append(items)
        return [ValueError(f"bad {i}") if i == 3 else i * 10 for i in items]

    commit: GroupCommit[int, int] = GroupCommit(flush, 10, _in_thread)
    answers: dict[int, Any] = {}

    async def submit(i: int, scope: trio.CancelScope | None = None) -> None:
        try:
            with scope or trio.CancelScope():
                answers[i] = await commit.submit(i)
        except ValueError as exc:
            answers[i] = str(exc)

    cancelled_early = trio.CancelScope()
    cancelled_late = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(submit, 0, cancelled_late)  # leads; its batch is taken
        await trio.testing.wait_all_tasks_blocked()
        for i in (1, 2, 3):
            nursery.start_soon(submit, i)
        nursery.start_soon(submit, 4, cancelled_early)
        await trio.testing.wait_all_tasks_blocked()
        cancelled_early.cancel()  # not taken yet: withdrawn
        cancelled_late.cancel()  # taken: it is written anyway and answered
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert [sorted(batch) for batch in flushed] == [[0], [1, 2, 3]]
    assert answers == {0: 0, 1: 10, 2: 20, 3: "bad 3"}


async def test_group_commit_passes_a_batch_failure_to_every_caller() -> None:
    def flush(items: list[int]) -> list[int | Exception]:
        raise RuntimeError("down")

    commit: GroupCommit[int, int] = GroupCommit(flush, 10, _in_thread)
    errors: list[str] = []

    async def submit(i: int) -> None:
        with pytest.raises(RuntimeError) as info:
            await commit.submit(i)
        errors.append(str(info.value))

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(submit, i)
    assert errors == ["down"] * 3


async def test_the_stores_keep_wall_clock_time(store: JobStore) -> None:
    assert store.clock is time.time
    before = time.time()
    job, _ = await store.add(JobSpec(task="t", payload=None), store.clock())
    assert before <= job.created_at <= time.time()
    assert not math.isnan(job.updated_at)


async def test_concurrent_completions_share_a_transaction(store: JobStore) -> None:
    now = time.time()
    ids = [(await store.add(JobSpec(task="t", payload=i), now))[0].id for i in range(4)]
    await store.claim("w", 4, 30.0, now)
    answers: dict[int, Any] = {}

    async def complete(key: int, job_id: str, worker: str) -> None:
        answers[key] = await store.complete(job_id, worker, {"k": key}, now + 1)

    async with trio.open_nursery() as nursery:  # one batch: the calls arrive together
        nursery.start_soon(complete, 0, ids[0], "w")
        nursery.start_soon(complete, 1, ids[1], "w")
        nursery.start_soon(complete, 2, ids[2], "intruder")  # not its lease
        nursery.start_soon(complete, 3, "nope", "w")
    assert [answers[k] is not None for k in range(4)] == [True, True, False, False]
    assert answers[0].result == {"k": 0}
    assert answers[1].status is JobStatus.SUCCEEDED
    async with trio.open_nursery() as nursery:  # the same job twice in one batch
        nursery.start_soon(complete, 6, ids[2], "intruder")  # written alone, first
        nursery.start_soon(complete, 4, ids[3], "w")
        nursery.start_soon(complete, 5, ids[3], "w")
    assert sorted(answers[k] is None for k in (4, 5)) == [False, True]
    assert (await store.get(ids[2])).status is JobStatus.RUNNING


async def test_closing_wakes_a_waiting_next_due(caplog: pytest.LogCaptureFixture) -> None:
    store = PostgresJobStore(pg.pg_dsn(), schema=pg.fresh_schema(), fallback_poll=30.0)
    now = time.time()
    assert await store.next_due(now) == now  # listening from now on
    answers: list[float | None] = []

    async def wait() -> None:
        answers.append(await store.next_due(time.time()))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait)
            await trio.sleep(0.1)
            assert not answers  # it waits for a notification
            await store.aclose()
    assert answers == [None]
    assert "listen_failed" not in caplog.text
