"""monitor_process: a subprocess supervised like any other child.

The process runs in a process group of its own.  Each line it writes (stdout and stderr,
merged) becomes a :class:`ProcessOutput` event and an ``on_output(line)`` call.  A non-zero
exit restarts it through a :class:`~trio_orch.Supervisor`, so restarts follow the same
restart intensity and backoff as every other supervised child.  Cancelling the call stops
the whole group: SIGTERM, then SIGKILL after ``grace`` seconds, and SIGKILL for anything
of the group still alive once the leader exited.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
from typing import TYPE_CHECKING, final

import attrs
import trio

from trio_orch._exceptions import ProcessFailed
from trio_orch._groups import open_nursery_unwrapped
from trio_orch._validate import check_callable, check_number
from trio_orch.events import RestartPolicy, SystemEvent
from trio_orch.runtime._supervisor import ChildRestart, Supervisor

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from trio_orch.events import EventBus

__all__ = [
    "ProcessEvent",
    "ProcessExited",
    "ProcessOutput",
    "ProcessReport",
    "ProcessStarted",
    "monitor_process",
]

_MAX_LINE = 64 * 1024


@attrs.frozen
class ProcessEvent(SystemEvent):
    """Base class of the events :func:`monitor_process` publishes."""


@final
@attrs.frozen
class ProcessStarted(ProcessEvent):
    """Process ``name`` started as ``pid`` (``restarts`` before this start)."""

    name: str
    pid: int
    restarts: int


@final
@attrs.frozen
class ProcessOutput(ProcessEvent):
    """Process ``name`` wrote ``line`` (without its line ending)."""

    name: str
    pid: int
    line: str


@final
@attrs.frozen
class ProcessExited(ProcessEvent):
    """Process ``name`` (``pid``) exited with ``returncode`` (negative: killed by signal)."""

    name: str
    pid: int
    returncode: int


@final
@attrs.frozen
class ProcessReport:
    """What :func:`monitor_process` saw: every exit code in order, and the restarts."""

    name: str
    exit_codes: tuple[int, ...]
    restarts: int


def _stop_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _terminate(grace: float, process: trio.Process) -> None:
    """run_process's ``deliver_cancel``: SIGTERM the group, SIGKILL it after ``grace``."""
    _stop_group(process.pid, signal.SIGTERM)
    with trio.move_on_after(grace):
        await process.wait()
    _stop_group(process.pid, signal.SIGKILL)


async def _pump_lines(stream: trio.abc.ReceiveStream, handle: Callable[[str], None]) -> None:
    """Call ``handle`` with each line of ``stream``; a line over 64 KiB is split."""
    pending = b""
    while chunk := await stream.receive_some(65536):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            raw = raw.removesuffix(b"\r")
            while len(raw) > _MAX_LINE:
                handle(raw[:_MAX_LINE].decode(errors="replace"))
                raw = raw[_MAX_LINE:]
            handle(raw.decode(errors="replace"))
        while len(pending) > _MAX_LINE:
            handle(pending[:_MAX_LINE].decode(errors="replace"))
            pending = pending[_MAX_LINE:]
    if pending:
        handle(pending.decode(errors="replace"))


async def monitor_process(
    argv: Sequence[str],
    *,
    restart: RestartPolicy | None = None,
    on_output: Callable[[str], object] | None = None,
    bus: EventBus | None = None,
    name: str | None = None,
    grace: float = 5.0,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> ProcessReport:
    """Run ``argv`` until it exits 0, restarting it after each non-zero exit.

    Args:
        argv: the command and its arguments (no shell).
        restart: the :class:`~trio_orch.RestartPolicy` (intensity and backoff); default
            ``RestartPolicy()``.
        on_output: called with each line the process writes (stdout and stderr merged).
        bus: where :class:`ProcessStarted`, :class:`ProcessOutput` and
            :class:`ProcessExited` go (``bus.emit``).
        name: the name in events and reports (default: the base name of ``argv[0]``).
        grace: seconds between SIGTERM and SIGKILL when cancelled.
        cwd, env: as for :func:`trio.run_process` (``env`` replaces the environment).

    Returns:
        A :class:`ProcessReport` with every exit code and the number of restarts.

    Raises:
        trio_orch.RestartIntensityExceeded: it failed more often than ``restart`` allows;
            its ``__cause__`` is the last :class:`~trio_orch.ProcessFailed`.
        OSError: the command cannot be started (not restarted).
        TypeError, ValueError: bad arguments.

    Cancellation: the process group gets SIGTERM, then SIGKILL after ``grace`` seconds;
    no process of the group is left running when the cancellation propagates.
    """
    argv = [os.fspath(arg) for arg in argv]
    if not argv:
        msg = f"argv must not be empty, got {argv!r}"
        raise ValueError(msg)
    check_callable("on_output", on_output, allow_none=True)
    check_number("grace", grace)
    label = name or os.path.basename(argv[0])
    exit_codes: list[int] = []
    done = trio.Event()
    start_error: list[OSError] = []

    def deliver(pid: int, line: str) -> None:
        if on_output is not None:
            on_output(line)
        if bus is not None:
            bus.emit(ProcessOutput(label, pid, line))

    async def run_once() -> None:
        pid: int | None = None
        try:
            async with open_nursery_unwrapped("monitor_process") as nursery:
                process: trio.Process = await nursery.start(
                    functools.partial(
                        trio.run_process,
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        check=False,
                        start_new_session=True,
                        cwd=cwd,
                        env=env,
                        deliver_cancel=functools.partial(_terminate, grace),
                    )
                )
                pid = process.pid
                if bus is not None:
                    bus.emit(ProcessStarted(label, pid, len(exit_codes)))
                assert process.stdout is not None
                await _pump_lines(process.stdout, functools.partial(deliver, pid))
        except OSError as exc:
            if pid is not None:
                raise
            start_error.append(exc)  # cannot start: restarting would not help
            done.set()
            await trio.lowlevel.checkpoint()
            return
        finally:
            if pid is not None:
                _stop_group(pid, signal.SIGKILL)  # whatever of the group outlived its leader
        code = process.returncode
        assert code is not None
        exit_codes.append(code)
        if bus is not None:
            bus.emit(ProcessExited(label, pid, code))
        if code != 0:
            raise ProcessFailed(label, code)
        done.set()

    async with Supervisor(restart=restart, bus=bus, name=f"process {label}") as supervisor:
        await supervisor.start_child(label, run_once, restart=ChildRestart.TRANSIENT)
        await done.wait()
    if start_error:
        raise start_error[0]
    return ProcessReport(label, tuple(exit_codes), max(0, len(exit_codes) - 1))
