"""``trio-orch run FILE.toml``: run a declarative workflow of shell commands.

Each step's command runs with :func:`trio.run_process` inside a :class:`trio_orch.Workflow`
(dependencies, retries, per-attempt timeouts, ``max_concurrent``, failure policy), in its own
process group.  Its output is streamed line by line with the step's name as a prefix (or written
to ``--logs DIR/<step>.log``); a line ``::progress 0.42`` (or ``::progress 42%``) reports the
step's progress instead of being printed.  A progress tracker estimates the ETA per step and
overall.

Exit status: 0 succeeded, 1 a step failed, 2 bad file or usage, 130 interrupted (SIGINT),
143 terminated (SIGTERM).

Ctrl-C (SIGINT) or SIGTERM cancels the run: every running step's process group gets SIGTERM,
then SIGKILL after ``--grace`` seconds (a second Ctrl-C kills at once); the summary is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import structlog
import trio
from rich.console import Console
from rich.markup import escape

from trio_orch._exceptions import WorkflowDefinitionError
from trio_orch.cli._display import (
    Display,
    JsonDisplay,
    LiveDisplay,
    PlainDisplay,
    plan_lines,
)
from trio_orch.cli._spec import SpecError, StepSpec, WorkflowSpec, load_spec
from trio_orch.engines import (
    FailurePolicy,
    Step,
    StepContext,
    Workflow,
    WorkflowResult,
    WorkflowStatus,
)
from trio_orch.primitives import Jitter, ProgressTracker, RetryPolicy, open_progress_tracker

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CannotStart", "CommandFailed", "add_parser", "run_command"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}

_PROGRESS_LINE = re.compile(r"^::progress\s+([0-9.]+)\s*(%?)\s*$")
_MAX_LINE = 64 * 1024
_FAILURES = {"fail-fast": FailurePolicy.FAIL_FAST, "continue": FailurePolicy.CONTINUE}


class CommandFailed(Exception):
    """A step's command exited with a non-zero status (retried if the step has ``retry``)."""

    def __init__(self, step: str, returncode: int) -> None:
        self.step = step
        self.returncode = returncode
        if returncode < 0:
            reason = f"killed by {_signal_name(-returncode)}"
        else:
            reason = f"exit status {returncode}"
        super().__init__(reason)


class CannotStart(Exception):
    """A step's command could not be started (no such program or directory...); not retried."""

    def __init__(self, program: str, error: OSError) -> None:
        self.program = program
        super().__init__(f"cannot start {program!r}: {error.strerror or error}")


def _start_error(group: BaseExceptionGroup[BaseException]) -> OSError | None:
    """The OSError that kept the process from starting, if that is all the group holds."""
    leaves = group.exceptions
    if len(leaves) == 1 and isinstance(leaves[0], OSError):
        return leaves[0]
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def add_parser(commands: Any) -> None:
    """Add the ``run`` sub-command to ``commands`` (an argparse sub-parsers action)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run a declarative workflow of shell commands from a TOML file",
        description=(
            "Run the steps of FILE.toml (shell commands with depends_on, retry, timeout, env, "
            "cwd) with live progress. Exit status: 0 succeeded, 1 a step failed, 2 bad file "
            "or usage, 130 interrupted."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE.toml", help="the workflow file")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the steps in execution order and exit"
    )
    parser.add_argument(
        "--json", action="store_true", help="structured JSON log lines on stdout, no bars"
    )
    parser.add_argument(
        "--logs",
        type=Path,
        metavar="DIR",
        help="write each step's output to DIR/<step>.log instead of the terminal",
    )
    parser.add_argument(
        "--grace",
        type=_non_negative,
        default=5.0,
        metavar="SECONDS",
        help="on Ctrl-C or timeout, seconds between SIGTERM and SIGKILL (default 5)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no live progress bars, even on a TTY"
    )
    parser.set_defaults(handler=run_command)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        msg = f"must be a number of seconds >= 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def run_command(args: argparse.Namespace) -> int:
    """Run ``trio-orch run`` with parsed ``args``; return the exit status."""
    err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    try:
        spec = load_spec(args.file)
        workflow_steps = _plan_workflow(spec)
    except SpecError as exc:
        for line in str(exc).splitlines():
            err.print(f"[red]error:[/] {_escape(line)}")
        return EXIT_USAGE
    except WorkflowDefinitionError as exc:
        err.print(f"[red]error:[/] {args.file}: {_escape(str(exc))}")
        return EXIT_USAGE
    if args.dry_run:
        for line in plan_lines(spec, workflow_steps):
            print(line)
        return EXIT_OK
    if args.logs is not None:
        try:
            args.logs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            err.print(f"[red]error:[/] --logs {args.logs}: {_escape(exc.strerror or str(exc))}")
            return EXIT_USAGE
    with _configured_logging(json=args.json):
        display = _make_display(args, spec)
        runner = _Runner(spec=spec, display=display, logs_dir=args.logs, grace=args.grace)
        try:
            return trio.run(runner.main)
        except KeyboardInterrupt:
            # Ctrl-C before the signal handler was installed, or after it was removed.
            err.print("[yellow]interrupted[/]")
            return _EXIT_SIGNAL[signal.SIGINT]
        finally:
            display.close()


def _escape(text: str) -> str:
    return escape(text)


def _make_display(args: argparse.Namespace, spec: WorkflowSpec) -> Display:
    if args.json:
        return JsonDisplay()
    console = Console(highlight=False)
    width = max(len(name) for name in spec.steps)
    if console.is_terminal and not args.no_progress:
        return LiveDisplay(console, width)
    return PlainDisplay(console, width)


@contextlib.contextmanager
def _configured_logging(*, json: bool) -> Iterator[None]:
    """Configure structlog for the CLI (an application may; the library never does).

    ``--json``: every event at INFO and above as one JSON object per line on stdout.
    Otherwise: only the library's errors, plainly, on stderr (the display says the rest).
    The previous configuration is restored afterwards.
    """
    saved = structlog.get_config()
    if json:
        processors: list[Any] = [
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ]
        level, stream = logging.INFO, sys.stdout
    else:
        processors = [
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=False),
        ]
        level, stream = logging.ERROR, sys.stderr
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)


def _plan_workflow(spec: WorkflowSpec) -> list[Step]:
    """Build the workflow once without running it, to validate it and get its order."""

    async def nothing(ctx: StepContext) -> None:
        await trio.lowlevel.checkpoint()  # never run: only the plan is wanted

    steps = [Step(name, nothing, depends_on=body.depends_on) for name, body in spec.steps.items()]
    return Workflow(spec.name, steps=steps).plan()


def _retry_policy(step: StepSpec) -> RetryPolicy | None:
    retry = step.retry
    if retry is None or retry.attempts <= 1:
        return None
    try:
        longest = retry.delay * retry.backoff ** (retry.attempts - 1)
    except OverflowError:  # many attempts with a large backoff: effectively no cap
        longest = sys.float_info.max
    return RetryPolicy(
        max_attempts=retry.attempts,
        initial_delay=retry.delay,
        max_delay=max(min(longest, sys.float_info.max), retry.delay),
        multiplier=retry.backoff,
        jitter=Jitter.NONE,
        retry_on=(CommandFailed, TimeoutError),
    )


@attrs.define(eq=False)
class _Runner:
    """One run of a workflow file: builds the Workflow, runs it, handles signals."""

    spec: WorkflowSpec
    display: Display
    logs_dir: Path | None
    grace: float
    _force: trio.Event = attrs.field(factory=trio.Event, init=False)
    _signal: int | None = attrs.field(default=None, init=False)
    _run_dir: Path | None = attrs.field(default=None, init=False)
    _logs: dict[str, str] = attrs.field(factory=dict, init=False)

    async def main(self) -> int:
        """The whole run under ``trio.run``; returns the exit status."""
        with tempfile.TemporaryDirectory(prefix="trio-orch-run-") as run_dir:
            self._run_dir = Path(run_dir)
            return await self._run()

    async def _run(self) -> int:
        spec = self.spec
        workflow = Workflow(
            spec.name,
            steps=[self._step(name, body) for name, body in spec.steps.items()],
            max_concurrent=spec.max_concurrent,
            failure=_FAILURES[spec.failure],
        )
        result: WorkflowResult | None = None
        async with open_progress_tracker(tick=0.1) as tracker, trio.open_nursery() as nursery:
            for name, body in spec.steps.items():
                tracker.track(name, total=1.0, weight=body.weight)
            with trio.CancelScope() as run_scope:
                await nursery.start(self._watch_signals, run_scope)
                nursery.start_soon(self._refresh, tracker)
                result = await workflow.run(check=False, progress=tracker)
            await tracker.refresh()
            self.display.refresh(tracker)
            nursery.cancel_scope.cancel(reason="workflow finished")
        if result is None:
            result = workflow.last_result
        assert result is not None, "the workflow stores its result also when cancelled"
        self.display.summary(result, spec, self._logs)
        if self._signal is not None:
            return _EXIT_SIGNAL.get(signal.Signals(self._signal), 130)
        return EXIT_OK if result.status is WorkflowStatus.SUCCEEDED else EXIT_FAILED

    async def _watch_signals(
        self, run_scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """First SIGINT/SIGTERM: cancel the run.  Second: kill the children without grace."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                if self._signal is None:
                    self._signal = signum
                    self.display.interrupted(_signal_name(signum), self.grace)
                    run_scope.cancel(reason=f"{_signal_name(signum)} received")
                else:
                    self._force.set()

    async def _refresh(self, tracker: ProgressTracker) -> None:
        async for _ in tracker.updates():
            self.display.refresh(tracker)

    def _step(self, name: str, body: StepSpec) -> Step:
        return Step(
            name,
            partial(self._run_step, name, body),
            depends_on=body.depends_on,
            retry=_retry_policy(body),
        )

    def _env(self, name: str, body: StepSpec, attempt: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.spec.env)
        env.update(body.env)
        env.update(
            TRIO_ORCH_RUN_DIR=str(self._run_dir),
            TRIO_ORCH_PYTHON=sys.executable,
            TRIO_ORCH_STEP=name,
            TRIO_ORCH_ATTEMPT=str(attempt),
        )
        return env

    async def _run_step(self, name: str, body: StepSpec, ctx: StepContext) -> int:
        attempts = 1 if body.retry is None else body.retry.attempts
        self.display.attempt_started(name, ctx.attempt, attempts)
        started = trio.current_time()
        try:
            with self._output(name, ctx.attempt) as emit:
                returncode = await self._execute_with_timeout(body, ctx, emit)
            if returncode != 0:
                raise CommandFailed(name, returncode)
        except Exception as exc:
            self.display.attempt_failed(name, ctx.attempt, attempts, str(exc))
            raise
        self.display.step_succeeded(name, ctx.attempt, trio.current_time() - started)
        return returncode

    async def _execute_with_timeout(self, body: StepSpec, ctx: StepContext, emit: Any) -> int:
        # The timeout is applied here rather than by the engine, so that the attempt's failure
        # can be shown; it is the same per-attempt cancel scope.
        if body.timeout is None:
            return await self._execute(body, ctx, emit)
        with trio.move_on_after(body.timeout):
            return await self._execute(body, ctx, emit)
        msg = f"timed out after {body.timeout:g}s"
        raise TimeoutError(msg)

    async def _execute(self, body: StepSpec, ctx: StepContext, emit: Any) -> int:
        command = body.run
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else command
        try:
            async with trio.open_nursery() as nursery:
                process: trio.Process = await nursery.start(
                    partial(
                        trio.run_process,
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        check=False,
                        cwd=self.spec.step_cwd(body),
                        env=self._env(ctx.name, body, ctx.attempt),
                        start_new_session=True,
                        deliver_cancel=self._deliver_cancel,
                    )
                )
                assert process.stdout is not None
                nursery.start_soon(self._pump, process.stdout, ctx, emit)
                await process.wait()
                # Background children still holding the pipe would keep the pump waiting.
                _kill_group(process, signal.SIGKILL)
        except BaseExceptionGroup as group:
            start_error = _start_error(group)
            if start_error is None:
                raise
            raise CannotStart(argv[0], start_error) from start_error
        assert process.returncode is not None
        return process.returncode

    async def _deliver_cancel(self, process: trio.Process) -> None:
        """SIGTERM to the step's process group, SIGKILL after the grace period."""
        _kill_group(process, signal.SIGTERM)
        with trio.move_on_after(self.grace):
            await self._force.wait()
        _kill_group(process, signal.SIGKILL)

    async def _pump(self, stream: trio.abc.ReceiveStream, ctx: StepContext, emit: Any) -> None:
        pending = b""
        async for chunk in stream:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > _MAX_LINE:
                lines.append(pending)
                pending = b""
            for raw in lines:
                self._line(raw.decode("utf-8", "replace").rstrip("\r"), ctx, emit)
        if pending:
            self._line(pending.decode("utf-8", "replace"), ctx, emit)

    def _line(self, line: str, ctx: StepContext, emit: Any) -> None:
        match = _PROGRESS_LINE.match(line)
        if match:
            value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
            if 0.0 <= value <= 1.0:
                ctx.progress(value)
                return
        emit(line)

    def _output(self, name: str, attempt: int) -> _Output:
        if self.logs_dir is None:
            return _Output(partial(self.display.output, name), None)
        path = self.logs_dir / f"{_safe_name(name)}.log"
        self._logs[name] = str(path)
        handle = path.open("w" if attempt == 1 else "a", encoding="utf-8")
        handle.write(f"--- {name}: attempt {attempt} ---\n")
        return _Output(lambda line: handle.write(line + "\n"), handle)


@attrs.define(eq=False)
class _Output:
    """Where a step attempt's lines go; a context manager that closes the log file."""

    emit: Any
    handle: Any

    def __enter__(self) -> Any:
        return self.emit

    def __exit__(self, *exc_info: object) -> None:
        if self.handle is not None:
            self.handle.close()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "step"


def _kill_group(process: trio.Process, signum: int) -> None:
    """Send ``signum`` to the process group the step's process leads (it started a session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
