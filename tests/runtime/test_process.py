"""monitor_process with real subprocesses: output, restarts, intensity, clean kills."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from trio_orch import (
    Backoff,
    Jitter,
    ProcessExited,
    ProcessFailed,
    ProcessOutput,
    ProcessStarted,
    RestartIntensityExceeded,
    RestartPolicy,
    monitor_process,
    open_event_bus,
)

FAST = RestartPolicy(
    max_restarts=5, window=60.0, backoff=Backoff(initial_delay=0.0, jitter=Jitter.NONE)
)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone: it runs nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def test_restarts_until_success_and_reports(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    script = (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(f'run {n}', flush=True)\n"
        "sys.stderr.write('to stderr\\n')\n"
        "sys.exit(0 if n == 3 else 7)\n"
    )
    lines: list[str] = []
    async with open_event_bus() as bus:
        events: list[object] = []
        bus.on(ProcessStarted, events.append)
        bus.on(ProcessExited, events.append)
        outputs: list[ProcessOutput] = []
        bus.on(ProcessOutput, outputs.append)
        report = await monitor_process(
            [sys.executable, "-c", script],
            restart=FAST,
            on_output=lines.append,
            bus=bus,
            name="flaky",
        )
        await trio.testing.wait_all_tasks_blocked()
    assert report.name == "flaky"
    assert report.exit_codes == (7, 7, 0)
    assert report.restarts == 2
    assert sorted(lines) == sorted(["run 1", "run 2", "run 3"] + ["to stderr"] * 3)
    assert [o.line for o in outputs] == lines
    assert [type(e).__name__ for e in events] == ["ProcessStarted", "ProcessExited"] * 3
    assert [e.returncode for e in events if isinstance(e, ProcessExited)] == [7, 7, 0]


async def test_intensity_exceeded_raises_with_the_last_failure() -> None:
    policy = RestartPolicy(
        max_restarts=2, window=60.0, backoff=Backoff(initial_delay=0.0, jitter=Jitter.NONE)
    )
    with pytest.raises(RestartIntensityExceeded) as info:
        await monitor_process([sys.executable, "-c", "raise SystemExit(3)"], restart=policy)
    assert isinstance(info.value.__cause__, ProcessFailed)
    assert info.value.__cause__.returncode == 3


async def test_a_command_that_cannot_start_is_not_restarted(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await monitor_process([str(tmp_path / "no-such-command")], restart=FAST)


async def test_cancel_kills_the_whole_group(tmp_path: Path) -> None:
    # the leader starts a grandchild in its process group, and both ignore nothing
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    pids: list[int] = []
    got_pid = trio.Event()

    def on_line(line: str) -> None:
        pids.append(int(line))
        got_pid.set()

    leader: list[int] = []
    async with open_event_bus() as bus:
        bus.on(ProcessStarted, lambda e: leader.append(e.pid))
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    lambda: monitor_process(
                        [sys.executable, "-c", script], on_output=on_line, bus=bus, grace=2.0
                    )
                )
                await got_pid.wait()
                assert _alive(pids[0])
                nursery.cancel_scope.cancel()
    for pid in (*pids, *leader):
        with trio.fail_after(5):
            while _alive(pid):  # noqa: ASYNC110 - waiting on the kernel, no task to signal
                await trio.sleep(0.01)
        assert not _alive(pid)


async def test_sigterm_ignored_gets_sigkill_after_grace() -> None:
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    ready = trio.Event()
    leader: list[int] = []
    async with open_event_bus() as bus:
        bus.on(ProcessStarted, lambda e: leader.append(e.pid))
        start = trio.current_time()
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    lambda: monitor_process(
                        [sys.executable, "-c", script],
                        on_output=lambda _: ready.set(),
                        bus=bus,
                        grace=0.3,
                    )
                )
                await ready.wait()
                nursery.cancel_scope.cancel()
        assert trio.current_time() - start >= 0.3
    assert not _alive(leader[0])


async def test_long_lines_are_split_and_bad_input() -> None:
    lines: list[str] = []
    script = "import sys; sys.stdout.write('x' * 70000 + '\\nlast')"
    await monitor_process([sys.executable, "-c", script], on_output=lines.append)
    assert [len(line) for line in lines] == [65536, 70000 - 65536, 4]
    with pytest.raises(ValueError, match=r"^argv must not be empty, got \[\]$"):
        await monitor_process([])
    with pytest.raises(TypeError, match=r"^on_output must be callable or None, got 3$"):
        await monitor_process(["true"], on_output=3)  # type: ignore[arg-type]
    assert os.environ.get("NO_SUCH_VARIABLE") is None
