"""``trio-orch run [FILE] [STEP ...]``: run a declarative workflow of commands, as a task runner.

Each step's command runs as a child process (started by :mod:`trio_orch.cli._spawn`) inside a
:class:`trio_orch.Workflow` (dependencies, retries, per-attempt timeouts, ``max_concurrent``,
failure policy), in its own process group, with stdin from ``/dev/null``.  A command given as
a string runs with ``/bin/sh -c`` unless it is a plain word list (no quotes, variables,
redirections, globs or shell keywords), which is executed directly, as make does, with sh's
exit status 127 for a program that is not found.  Its output is written verbatim,
batched, with the step's name as a prefix (or to ``--logs DIR``); a line ``::progress 0.42``
(or ``::progress 42%``) reports the step's progress instead of being printed.

Steps that declare ``inputs``/``outputs`` are skipped while up to date (see
:mod:`trio_orch.cli._state`).  ``--watch`` re-runs the steps whose inputs change.

Exit status: 0 succeeded, 1 a step failed, 2 bad file or usage, 130 interrupted (SIGINT),
141 stdout closed (``| head``), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import signal
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trio_orch._exceptions import CannotStart, CommandFailed, SpecError, WorkflowDefinitionError
from trio_orch._lazy import LazyModule
from trio_orch._log import get_logger
from trio_orch.cli._display import (
    Display,
    JsonDisplay,
    LiveDisplay,
    PlainDisplay,
    list_lines,
    plan_lines,
    reason_of,
)
from trio_orch.cli._main import EXIT_PIPE
from trio_orch.cli._output import MAX_LINE, Colors, Writer, split_long_line
from trio_orch.cli._spawn import Child, Spawner
from trio_orch.cli._spec import DEFAULT_FILE, StepSpec, WorkflowSpec, find_workflow_file, load_spec
from trio_orch.cli._state import Fingerprint, StateFile, fingerprint, stale_reason, state_path
from trio_orch.engines import (
    FailurePolicy,
    Step,
    StepAttempt,
    StepContext,
    Workflow,
    WorkflowResult,
    WorkflowRun,
    WorkflowStatus,
)

if TYPE_CHECKING:
    import argparse
    import json
    from collections.abc import Callable, Iterator, Mapping

    from trio_orch.primitives import ProgressTracker, RetryPolicy
else:  # loaded on first use: only --dry-run --json writes JSON
    json = LazyModule("json")

__all__ = ["run_command"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}

_PROGRESS_LINE = re.compile(rb"^::progress\s+([0-9.]+)\s*(%?)\s*$")
_FAILURES = {"fail-fast": FailurePolicy.FAIL_FAST, "continue": FailurePolicy.CONTINUE}
#: characters that need a shell (make's list, plus ``=``, ``%``, ``\\``, quotes, newline): a
#: command without them, whose first word is no shell keyword or builtin, is run directly
_SHELL_CHARS = frozenset("|&;<>()$`\\\"'*?[]#~=%{}!^\n")
#: sh's reserved words and the builtins that are no program of their own (or that must
#: change the shell itself), from POSIX, dash, bash and ksh; make keeps these for the shell too
_SHELL_WORDS = frozenset(
    [
        "!",
        ".",
        ":",
        "[",
        "[[",
        "]]",
        "{",
        "}",
        "alias",
        "bg",
        "bind",
        "break",
        "builtin",
        "caller",
        "case",
        "cd",
        "command",
        "compgen",
        "complete",
        "continue",
        "coproc",
        "declare",
        "dirs",
        "disown",
        "do",
        "done",
        "elif",
        "else",
        "enable",
        "esac",
        "eval",
        "exec",
        "exit",
        "export",
        "fc",
        "fg",
        "fi",
        "for",
        "function",
        "getopts",
        "hash",
        "help",
        "history",
        "if",
        "in",
        "jobs",
        "let",
        "local",
        "login",
        "logout",
        "mapfile",
        "newgrp",
        "popd",
        "pushd",
        "read",
        "readarray",
        "readonly",
        "return",
        "select",
        "set",
        "shift",
        "shopt",
        "source",
        "suspend",
        "test",
        "then",
        "time",
        "times",
        "trap",
        "type",
        "typeset",
        "ulimit",
        "umask",
        "unalias",
        "unset",
        "until",
        "wait",
        "while",
    ]
)
#: what separates words for sh (and only that: no other whitespace)
_BLANKS = re.compile(r"[ \t]+")
#: how often the display redraws and buffered output is written (seconds)
_TICK = 0.1
#: how long a cancelled step's process gets to exit after its SIGKILL (seconds)
_AFTER_SIGKILL = 5.0

_logger = get_logger("cli")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def command_argv(run: str | list[str]) -> list[str]:
    """The argv for a step's ``run``: a list as it is; a string directly or via ``sh -c``."""
    if isinstance(run, list):
        return run
    if _SHELL_CHARS.isdisjoint(run):
        words = _BLANKS.split(run.strip(" \t"))
        if words[0] and words[0] not in _SHELL_WORDS:
            return words
    return ["/bin/sh", "-c", run]


def log_file_name(name: str) -> str:
    """A file name for step ``name``'s log that no other step name maps to."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "step"
    if safe != name:
        safe += "-" + hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{safe}.log"


def _retry_policy(step: StepSpec) -> RetryPolicy | None:
    retry = step.retry
    if retry is None or retry.attempts <= 1:
        return None
    from trio_orch.primitives import Jitter, RetryPolicy  # only for a step that retries

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
        retry_on=(CommandFailed, trio.TooSlowError),
    )


def _parse_env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or "\0" in item:
            msg = f"-e must be KEY=VALUE, got {item!r}"
            raise ValueError(msg)
        env[key] = value
    return env


def _error(text: str) -> None:
    for line in text.splitlines():
        print(f"error: {line}", file=sys.stderr)


def _split_targets(positional: list[str]) -> tuple[Path | None, list[str]]:
    """``[FILE] [STEP ...]``: the first word is the file if it names a file or ends in .toml."""
    if positional:
        first = positional[0]
        if first.endswith(".toml") or Path(first).is_file():
            return Path(first), positional[1:]
    return None, positional


def run_command(args: argparse.Namespace) -> int:
    """Run ``trio-orch run`` with parsed ``args``; return the exit status."""
    path, targets = _split_targets(list(args.targets))
    if path is None:
        path = find_workflow_file(Path.cwd())
        if path is None:
            _error(f"no {DEFAULT_FILE} in {Path.cwd()} or its parents; name the file to run")
            return EXIT_USAGE
    try:
        spec = load_spec(path)
        overrides = _parse_env(args.env or [])
    except SpecError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    if args.jobs is not None:
        spec = attrs.evolve(spec, max_concurrent=args.jobs)
    if args.keep_going:
        spec = attrs.evolve(spec, failure="continue")
    unknown = [t for t in targets if t not in spec.steps]
    if unknown:
        import difflib  # only for a mistake's hint

        for name in unknown:
            close = difflib.get_close_matches(name, list(spec.steps), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            _error(f"{spec.path}: no step {name!r}{hint}")
        return EXIT_USAGE
    if args.list:
        for line in list_lines(spec):
            print(line)
        return EXIT_OK
    state = StateFile.load(state_path(spec))
    runner = _Runner(
        spec=spec,
        targets=targets or None,
        overrides=overrides,
        state=state,
        force=args.force,
        grace=args.grace,
        logs_dir=args.logs,
    )
    try:
        workflow = runner.workflow()
        plan = workflow.plan(runner.targets)
    except WorkflowDefinitionError as exc:  # pragma: no cover - the file checks catch these
        _error(f"{spec.path}: {exc}")
        return EXIT_USAGE
    if state.problem is not None:
        print(
            f"warning: ignoring {state.path}: {state.problem}; every step will run",
            file=sys.stderr,
        )
    if args.dry_run:
        reasons = runner.dry_run(plan.names)
        if args.json:
            print(json.dumps(_plan_json(spec, plan.names, reasons), indent=None))
        else:
            for line in plan_lines(spec, list(plan.names), reasons):
                print(line)
        return EXIT_OK
    if args.logs is not None:
        try:
            args.logs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _error(f"--logs {args.logs}: {exc.strerror or exc}")
            return EXIT_USAGE
    tty = os.isatty(1)
    colors = Colors(tty=tty, env=os.environ)
    writer = Writer(1, keep_ansi=colors.keep_ansi, on_closed=runner.stdout_closed)
    runner.display = _make_display(args, spec, writer, colors, live=tty)
    with _configured_logging(writer, json=args.json):
        try:
            status = trio.run(partial(runner.main, workflow, watch=args.watch))
        except KeyboardInterrupt:
            # Ctrl-C before the signal handler was installed, or after it was removed.
            print("interrupted", file=sys.stderr)
            status = _EXIT_SIGNAL[signal.SIGINT]
        finally:
            runner.display.close()
    if runner.pipe_closed:
        _quiet_stdout()
        return EXIT_PIPE
    return status


def _quiet_stdout() -> None:
    """Stdout's reader went away: point fd 1 at /dev/null so nothing complains at exit."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


def _plan_json(
    spec: WorkflowSpec, names: tuple[str, ...], reasons: Mapping[str, str | None]
) -> Any:
    return {
        "workflow": spec.name,
        "file": str(spec.path),
        "max_concurrent": spec.max_concurrent,
        "failure": spec.failure,
        "steps": [
            {
                "name": name,
                "description": spec.steps[name].description,
                "command": spec.steps[name].run,
                "depends_on": spec.steps[name].depends_on,
                "cwd": str(spec.step_cwd(spec.steps[name])),
                "would_run": reasons[name] is not None,
                "reason": reasons[name],
            }
            for name in names
        ],
    }


def _make_display(
    args: argparse.Namespace, spec: WorkflowSpec, writer: Writer, colors: Colors, *, live: bool
) -> Display:
    if args.json:
        return JsonDisplay(writer)
    width = max(len(name) for name in spec.steps)
    if live and not args.no_progress:
        return LiveDisplay(writer, colors, width)
    return PlainDisplay(writer, colors, width)


class _WriterHandler(logging.Handler):
    """``--json``: the library's log events (rendered to JSON by structlog) as lines."""

    def __init__(self, writer: Writer) -> None:
        super().__init__(logging.INFO)
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        self.writer.line(record.getMessage())


@contextlib.contextmanager
def _configured_logging(writer: Writer, *, json: bool) -> Iterator[None]:
    """Configure logging for the CLI (an application may; the library never does).

    ``--json``: the library's events at INFO and above as JSON lines on stdout.  Otherwise
    only its errors reach stderr: retries and failures are on the screen already.  The
    previous configuration is restored afterwards.
    """
    std = logging.getLogger("trio_orch")
    saved_level, saved_propagate = std.level, std.propagate
    if not json:
        std.setLevel(logging.ERROR)
        try:
            yield
        finally:
            std.setLevel(saved_level)
        return
    import structlog  # only --json renders the library's events itself

    saved = structlog.get_config()
    handler = _WriterHandler(writer)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
        cache_logger_on_first_use=False,
    )
    std.addHandler(handler)
    std.setLevel(logging.INFO)
    std.propagate = False
    try:
        yield
    finally:
        std.removeHandler(handler)
        std.setLevel(saved_level)
        std.propagate = saved_propagate
        structlog.configure(**saved)


@attrs.define(eq=False)
class _Runner:
    """One ``trio-orch run``: builds the Workflow, runs it (again, with ``--watch``)."""

    spec: WorkflowSpec
    targets: list[str] | None
    overrides: dict[str, str]
    state: StateFile
    force: bool
    grace: float
    logs_dir: Path | None
    #: set by run_command once stdout is known (a dry run needs none)
    display: Display = attrs.field(init=False)
    pipe_closed: bool = attrs.field(default=False, init=False)
    _kill_now: trio.Event = attrs.field(factory=trio.Event, init=False)
    _signal: int | None = attrs.field(default=None, init=False)
    _run_dir: Path | None = attrs.field(default=None, init=False)
    _logs: dict[str, str] = attrs.field(factory=dict, init=False)
    _fresh: set[str] = attrs.field(factory=set, init=False)
    _durations: dict[str, float] = attrs.field(factory=dict, init=False)
    _only: set[str] | None = attrs.field(default=None, init=False)
    #: the scope of the workflow run in progress, if one is
    _scope: trio.CancelScope | None = attrs.field(default=None, init=False)
    #: the scope of the whole command (runs and watching)
    _outer: trio.CancelScope | None = attrs.field(default=None, init=False)
    _base_env: dict[str, str] = attrs.field(factory=dict, init=False)
    #: starts the steps' processes (made when the run starts: it looks at this process)
    _spawner: Spawner = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        base = dict(os.environ)
        base.setdefault("PYTHONUNBUFFERED", "1")
        base.update(self.spec.env)
        self._base_env = base

    # --- building --------------------------------------------------------------------------

    def workflow(self) -> Workflow:
        """The workflow of the file, each step running its command."""
        spec = self.spec
        return Workflow(
            spec.name,
            steps=[self._step(name, body) for name, body in spec.steps.items()],
            max_concurrent=spec.max_concurrent,
            failure=_FAILURES[spec.failure],
        )

    def _step(self, name: str, body: StepSpec) -> Step:
        return Step(
            name,
            partial(self._run_step, name, body),
            depends_on=body.depends_on,
            retry=_retry_policy(body),
            timeout=body.timeout,
        )

    def _declared_env(self, body: StepSpec) -> dict[str, str]:
        return {**self.spec.env, **body.env, **self.overrides}

    def _fingerprint(self, body: StepSpec) -> Fingerprint:
        return fingerprint(body, self.spec.step_cwd(body), self._declared_env(body))

    def dry_run(self, names: tuple[str, ...]) -> dict[str, str | None]:
        """``{step: why it would run, or None}`` in plan order."""
        reasons: dict[str, str | None] = {}
        for name in names:
            body = self.spec.steps[name]
            if self.force:
                reasons[name] = "--force"
                continue
            ran = [d for d in body.depends_on if reasons.get(d) is not None]
            if ran:
                reasons[name] = f"dependency {ran[0]!r} would run"
                continue
            cwd = self.spec.step_cwd(body)
            now = self._fingerprint(body) if (body.inputs or body.outputs) else None
            reasons[name] = (
                "it declares no inputs or outputs"
                if now is None
                else stale_reason(body, cwd, now, self.state.steps.get(name))
            )
        return reasons

    # --- running ---------------------------------------------------------------------------

    def stdout_closed(self) -> None:
        """Stdout's reader went away: end the run quietly."""
        self.pipe_closed = True
        for scope in (self._scope, self._outer):
            if scope is not None:
                scope.cancel(reason="stdout closed")

    async def main(self, workflow: Workflow, *, watch: bool = False) -> int:
        """The whole run under ``trio.run``; returns the exit status."""
        with tempfile.TemporaryDirectory(prefix="trio-orch-run-") as run_dir:
            self._run_dir = Path(run_dir)
            self._spawner = Spawner()
            status = EXIT_FAILED
            with trio.CancelScope() as scope:
                self._outer = scope
                async with trio.open_nursery() as nursery:
                    await nursery.start(self._watch_signals, scope)
                    status = await self._run_once(workflow)
                    if watch and self._signal is None and not self.pipe_closed:
                        status = await self._watch(workflow)
                    nursery.cancel_scope.cancel(reason="run finished")
            if self._signal is not None:
                return _EXIT_SIGNAL.get(signal.Signals(self._signal), 130)
            return status

    async def _run_once(self, workflow: Workflow, targets: list[str] | None = None) -> int:
        self._fresh.clear()
        self._durations.clear()
        names = workflow.plan(targets or self.targets).names
        display = self.display
        live = isinstance(display, LiveDisplay)
        if isinstance(display, LiveDisplay):
            display.set_total(len(names))
        handle: WorkflowRun | None = None
        async with contextlib.AsyncExitStack() as stack:
            # Only the live bars show progress: without them no tracker is kept up to date.
            tracker = None
            if live:
                from trio_orch.primitives import open_progress_tracker  # only for live bars

                tracker = await stack.enter_async_context(open_progress_tracker(tick=_TICK))
                for name in names:
                    tracker.track(name, total=1.0, weight=self.spec.steps[name].weight)
            nursery = await stack.enter_async_context(trio.open_nursery())
            nursery.start_soon(self._refresh, tracker)
            with trio.CancelScope() as run_scope:
                self._scope = run_scope
                async with trio.open_nursery() as run_nursery:
                    handle = await run_nursery.start(
                        partial(
                            workflow.run,
                            check=False,
                            progress=tracker,
                            targets=targets or self.targets,
                            on_attempt=self._on_attempt,
                        )
                    )
            self._scope = None
            self._save_state()
            if tracker is not None:
                await tracker.refresh()
            self.display.refresh(tracker)
            nursery.cancel_scope.cancel(reason="workflow finished")
        assert handle is not None
        result = handle.result
        assert result is not None, "the handle has the result also after a cancellation"
        if not self.pipe_closed:
            self._summary(result)
        return EXIT_OK if result.status is WorkflowStatus.SUCCEEDED else EXIT_FAILED

    def _summary(self, result: WorkflowResult) -> None:
        # the table shows how long each process ran, start to exit
        self.display.summary(result, self._logs, self._fresh, self._durations)

    def _save_state(self) -> None:
        try:
            self.state.save()
        except OSError as exc:
            self.display.message(f"warning: cannot save {self.state.path}: {exc.strerror or exc}")

    async def _refresh(self, tracker: ProgressTracker | None) -> None:
        while True:
            await trio.sleep(_TICK)
            self.display.refresh(tracker)

    async def _watch_signals(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """First SIGINT/SIGTERM: cancel the run.  Second: kill the children without grace."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                if self._signal is None:
                    self._signal = signum
                    self.display.interrupted(_signal_name(signum), self.grace)
                    reason = f"{_signal_name(signum)} received"
                    # a run in progress ends with its summary; otherwise (watching) stop now
                    (scope if self._scope is None else self._scope).cancel(reason=reason)
                else:
                    self._kill_now.set()

    # --- watching --------------------------------------------------------------------------

    async def _watch(self, workflow: Workflow) -> int:
        import watchfiles

        planned = workflow.plan(self.targets)
        names = planned.names
        dirs = sorted(
            {
                str(self.spec.step_cwd(self.spec.steps[n]))
                for n in names
                if self.spec.steps[n].inputs
            }
        )
        dirs = [d for d in dirs if _is_dir(Path(d))]
        if not dirs:
            self.display.message("--watch: no step declares inputs; nothing to watch")
            self.display.flush()
            await trio.lowlevel.checkpoint()
            return EXIT_OK
        watcher = watchfiles.awatch(
            *dirs, debounce=100, step=20, rust_timeout=200, yield_on_timeout=True
        )
        async with contextlib.aclosing(watcher):
            return await self._rerun_on_changes(workflow, watcher, dirs, names)

    async def _rerun_on_changes(
        self, workflow: Workflow, watcher: Any, dirs: list[str], names: tuple[str, ...]
    ) -> int:
        status = EXIT_OK
        ignored = str(self.state.path)
        announced = False
        async for changes in watcher:
            if not announced:  # the first wake-up (a timeout, or a change): it is watching
                announced = True
                plural = "y" if len(dirs) == 1 else "ies"
                self.display.message(f"watching {len(dirs)} director{plural}; Ctrl-C to stop")
                self.display.flush()
            paths = {Path(p) for _, p in changes if not p.startswith(ignored)}
            affected = self._affected(names, paths)
            if not affected:
                continue
            only = set(affected)
            for name in names:  # plan order: dependencies first
                if any(d in only for d in self.spec.steps[name].depends_on):
                    only.add(name)
            self.display.message(f"changed: {', '.join(sorted(affected))}")
            self._only = only
            try:
                status = await self._run_once(workflow)
            finally:
                self._only = None
            if self._signal is not None:
                break
        return status

    def _affected(self, names: tuple[str, ...], paths: set[Path]) -> list[str]:
        found = []
        for name in names:
            body = self.spec.steps[name]
            if not body.inputs:
                continue
            cwd = self.spec.step_cwd(body)
            before = self.state.steps.get(name)
            known = {cwd / rel for rel in before.inputs} if before is not None else set()
            for pattern in body.inputs:
                known.update(cwd.glob(pattern))
            if paths & known:
                found.append(name)
        return found

    # --- one step --------------------------------------------------------------------------

    def _on_attempt(self, attempt: StepAttempt) -> None:
        if attempt.running or attempt.error is None:
            return
        if isinstance(attempt.error, trio.TooSlowError):
            timeout = self.spec.steps[attempt.step].timeout
            reason = f"timed out after {timeout:g}s"
        else:
            reason = reason_of(attempt.error)
        self.display.attempt_failed(
            attempt.step, attempt.attempt, attempt.max_attempts, reason, attempt.will_retry
        )

    async def _run_step(self, name: str, body: StepSpec, ctx: StepContext, **deps: bool) -> bool:
        """Run the step's command unless it is up to date; True if it ran."""
        dependency_ran = any(deps.values())
        if self._only is not None and name not in self._only and not dependency_ran:
            self._fresh.add(name)  # --watch: nothing it depends on changed
            await trio.lowlevel.checkpoint()
            return False
        now = None
        if body.inputs or body.outputs:
            now = await trio.to_thread.run_sync(self._fingerprint, body)
            if not (self.force or dependency_ran or ctx.attempt > 1):
                cwd = self.spec.step_cwd(body)
                if stale_reason(body, cwd, now, self.state.steps.get(name)) is None:
                    self._fresh.add(name)
                    self.display.step_up_to_date(name)
                    return False
        attempts = 1 if body.retry is None else body.retry.attempts
        self.display.step_started(name, ctx.attempt, attempts)
        returncode, seconds = await self._execute(name, body, ctx)
        self._durations[name] = seconds
        if returncode != 0:
            raise CommandFailed(name, returncode)
        self.display.step_succeeded(name, ctx.attempt, seconds)
        if now is not None:
            self.state.record(name, now)
        return True

    def _env(self, name: str, body: StepSpec, attempt: int) -> dict[str, str]:
        env = dict(self._base_env)
        env.update(body.env)
        env.update(self.overrides)
        env["TRIO_ORCH_RUN_DIR"] = str(self._run_dir)
        env["TRIO_ORCH_PYTHON"] = sys.executable
        env["TRIO_ORCH_STEP"] = name
        env["TRIO_ORCH_ATTEMPT"] = str(attempt)
        return env

    async def _execute(self, name: str, body: StepSpec, ctx: StepContext) -> tuple[int, float]:
        """Run the command; its exit status and how long the process ran."""
        argv = command_argv(body.run)
        cwd = self.spec.step_cwd(body)
        if not _is_dir(cwd):
            raise CannotStart(str(cwd), "no such directory (the step's cwd)")
        sink, close = self._sink(name, ctx.attempt)
        try:
            env = self._env(name, body, ctx.attempt)
            started = time.monotonic()
            try:
                child = await self._spawner.start(argv, cwd, env)
            except OSError as error:
                if not (isinstance(body.run, str) and argv[0] != "/bin/sh"):
                    raise CannotStart(argv[0], error.strerror or str(error)) from error
                if error.errno != errno.ENOEXEC:  # as sh says it, with its exit status
                    status, text = _not_started(argv[0], error)
                    sink(text.encode("utf-8", "replace"))
                    await trio.lowlevel.checkpoint()
                    return status, time.monotonic() - started
                # not a binary and no #! line: sh runs such a file as a script, so does it here
                argv = ["/bin/sh", "-c", body.run]
                try:
                    child = await self._spawner.start(argv, cwd, env)
                except OSError as again:  # pragma: no cover - /bin/sh itself cannot start
                    raise CannotStart(argv[0], again.strerror or str(again)) from again
            return await self._wait(child, ctx, sink, started)
        finally:
            close()

    async def _wait(
        self, child: Child, ctx: StepContext, sink: Any, started: float
    ) -> tuple[int, float]:
        """Pass the child's output on until it exits; its exit status and run time."""
        output = _Output(partial(self._lines, ctx=ctx, sink=sink))
        seconds = 0.0

        def exited() -> None:
            nonlocal seconds
            seconds = time.monotonic() - started
            # Background children still holding the pipe would keep the output open.  (On
            # the fast path the child is not reaped yet: the group id is still its own.)
            _kill_group(child.pid, signal.SIGKILL)

        try:
            try:
                await child.pass_output(output.feed, exited)
            except BaseException:  # cancelled: stop it, then go on being cancelled
                await self._stop(child)
                try:  # what it printed while it shut down
                    child.drain(output.feed)
                    output.finish()
                except Exception as error:  # lost, said so: the cancellation goes on
                    _logger.warning("trio_orch.cli.output_lost", error=repr(error))
                raise
            returncode = child.reap(block=True)
            output.finish()
        finally:
            child.close()
        assert returncode is not None, "it exited"
        return returncode, seconds

    async def _stop(self, child: Child) -> None:
        """SIGTERM to the step's process group, SIGKILL after the grace period (or at a
        second Ctrl-C); return once the step's process exited (bounded)."""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self.grace + _AFTER_SIGKILL
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._deliver_cancel, child.pid)
                await child.exited()
                nursery.cancel_scope.cancel(reason="the step's process exited")
        _kill_group(child.pid, signal.SIGKILL)  # what is left of its group
        if child.reap(block=not scope.cancelled_caught) is None:  # pragma: no cover - a
            # process that SIGKILL does not end (stuck in the kernel): left to the system
            _logger.error("trio_orch.cli.process_left_running", pid=child.pid)
            self.display.message(f"warning: process {child.pid} did not exit after SIGKILL")

    async def _deliver_cancel(self, pid: int) -> None:
        """SIGTERM to the step's process group, SIGKILL after the grace period."""
        _kill_group(pid, signal.SIGTERM)
        with trio.move_on_after(self.grace):
            await self._kill_now.wait()
        _kill_group(pid, signal.SIGKILL)

    def _lines(self, data: bytes, *, ctx: StepContext, sink: Any) -> None:
        """``data``: whole lines.  Take out progress lines, split long ones, pass the rest on."""
        if b"::progress" in data or len(data) > MAX_LINE:
            kept: list[bytes] = []
            for line in data[:-1].split(b"\n"):
                match = _PROGRESS_LINE.match(line.rstrip(b"\r"))
                if match:
                    value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
                    if 0.0 <= value <= 1.0:
                        ctx.progress(value)
                        continue
                kept.extend(split_long_line(line) if len(line) > MAX_LINE else (line,))
            if not kept:
                return
            data = b"\n".join(kept) + b"\n"
        sink(data)

    def _sink(self, name: str, attempt: int) -> tuple[Any, Any]:
        if self.logs_dir is None:
            return partial(self.display.step_output, name), _nothing
        path = self.logs_dir / log_file_name(name)
        self._logs[name] = str(path)
        handle = path.open("wb" if attempt == 1 else "ab")
        handle.write(f"--- {name}: attempt {attempt} ---\n".encode())
        return handle.write, handle.close


class _Output:
    """A step's output cut into whole lines for ``lines`` (a line's start waits for its end)."""

    __slots__ = ("_lines", "_pending")

    def __init__(self, lines: Callable[[bytes], None]) -> None:
        self._lines = lines
        self._pending = b""

    def feed(self, chunk: bytes) -> None:
        """The next chunk read from the step."""
        data = self._pending + chunk if self._pending else chunk
        end = data.rfind(b"\n") + 1
        if end == 0:
            self._pending = data
            if len(data) > MAX_LINE:
                *whole, self._pending = split_long_line(data)
                self._lines(b"\n".join(whole) + b"\n")
            return
        self._pending = data[end:]
        self._lines(data[:end])

    def finish(self) -> None:
        """The output ended: a last line without its newline gets one."""
        if self._pending:
            self._lines(self._pending + b"\n")
            self._pending = b""


def _is_dir(path: Path) -> bool:
    return path.is_dir()


def _nothing() -> None:
    return None


def _kill_group(pid: int, signum: int) -> None:
    """Send ``signum`` to the process group the step's process leads (it started a session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _not_started(program: str, error: OSError) -> tuple[int, str]:
    """What sh reports for a command it cannot run: (exit status, the line it prints)."""
    if error.errno == errno.EACCES:
        return 126, f"trio-orch: {program}: Permission denied\n"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return 127, f"trio-orch: {program}: not found\n"
    return 126, f"trio-orch: {program}: {error.strerror or error}\n"
