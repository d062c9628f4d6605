"""What ``trio-orch run`` shows: live bars on a terminal, plain lines, or JSON lines.

Three renderers share one small interface (:class:`Display`):

* :class:`LiveDisplay`: a terminal.  Step output scrolls above a block of bars (one per
  running step, never more than the terminal has rows: the rest go on one summary line, then
  one overall bar with the ETA).  The block is redrawn at most 10 times a second, in the same
  single write as the output that arrived meanwhile;
* :class:`PlainDisplay`: not a terminal (or ``--no-progress``): the same lines, no bars;
* :class:`JsonDisplay`: ``--json``: one JSON object per line.

Step output goes through :class:`~trio_orch.cli._output.Writer` as bytes, verbatim: nothing
is interpreted as markup or emoji codes.  The bars and table are drawn with plain ANSI
sequences; rich is not needed for either (and not imported).
"""

from __future__ import annotations

import os
import shlex
import time
import typing
from typing import TYPE_CHECKING, Any

import attrs

from trio_orch._lazy import LazyModule
from trio_orch.engines import StepStatus, WorkflowStatus

if TYPE_CHECKING:
    import json
    from collections.abc import Iterable, Mapping

    from trio_orch.cli._output import Colors, Writer
    from trio_orch.cli._spec import StepSpec, WorkflowSpec
    from trio_orch.engines import WorkflowResult
    from trio_orch.primitives import ProgressSnapshot, ProgressTracker
else:  # loaded on first use: only --json writes JSON
    json = LazyModule("json")

__all__ = [
    "Display",
    "JsonDisplay",
    "LiveDisplay",
    "PlainDisplay",
    "describe_command",
]

_COLOR = {
    StepStatus.SUCCEEDED: "32",
    StepStatus.FAILED: "31",
    StepStatus.CANCELLED: "33",
    StepStatus.SKIPPED: "2",
    StepStatus.PENDING: "2",
    StepStatus.RUNNING: "36",
}

#: the status shown for a step that was up to date (it SUCCEEDED without running)
UP_TO_DATE = "up to date"


def describe_command(step: StepSpec) -> str:
    """The step's command as text (a list is quoted as a shell would need it)."""
    if isinstance(step.run, str):
        return step.run.strip()
    return shlex.join(step.run)


def _seconds(value: float) -> str:
    if value >= 60:
        minutes, seconds = divmod(int(value + 0.5), 60)
        return f"{minutes}m{seconds:02d}s"
    return f"{value:.1f}s"


def _snapshot_eta(snap: ProgressSnapshot) -> str:
    """``eta 45 s``, ``eta 2-5 min`` (the 80 % range, when wide), ``eta ?``."""
    from trio_orch.primitives import format_eta  # (only live bars show an ETA)

    return f"eta {format_eta(snap)}"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}s"


def reason_of(error: BaseException | None) -> str:
    """How an error is shown (its message, or its type when it has none)."""
    if error is None:
        return ""
    return str(error) or type(error).__name__


class Display(typing.Protocol):
    """What the runner tells the screen."""

    def step_started(self, step: str, attempt: int, attempts: int) -> None: ...
    def step_output(self, step: str, data: bytes) -> None: ...
    def attempt_failed(
        self, step: str, attempt: int, attempts: int, reason: str, will_retry: bool
    ) -> None: ...
    def step_succeeded(self, step: str, attempt: int, seconds: float) -> None: ...
    def step_up_to_date(self, step: str) -> None: ...
    def refresh(self, tracker: ProgressTracker | None) -> None: ...
    def interrupted(self, signal_name: str, grace: float) -> None: ...
    def message(self, text: str) -> None: ...
    def summary(
        self,
        result: WorkflowResult,
        logs: Mapping[str, str],
        up_to_date: Iterable[str],
        durations: Mapping[str, float],
    ) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


@attrs.define(eq=False)
class PlainDisplay:
    """Prefixed lines, no live bars (stdout is not a terminal, or ``--no-progress``)."""

    writer: Writer
    colors: Colors
    width: int = 12
    _prefixes: dict[str, bytes] = attrs.field(factory=dict, init=False)

    def _line(self, text: str) -> None:
        self.writer.line(text)

    def _prefix(self, step: str) -> bytes:
        prefix = self._prefixes.get(step)
        if prefix is None:
            text = self.colors.paint(f"{step:>{self.width}} |", "2") + " "
            prefix = self._prefixes[step] = text.encode("utf-8", "replace")
        return prefix

    def step_started(self, step: str, attempt: int, attempts: int) -> None:
        suffix = f" (attempt {attempt}/{attempts})" if attempts > 1 else ""
        self._line(f"{self.colors.paint('==>', '1;36')} {step} started{suffix}")

    def step_output(self, step: str, data: bytes) -> None:
        self.writer.step_output(self._prefix(step), data)

    def attempt_failed(
        self, step: str, attempt: int, attempts: int, reason: str, will_retry: bool
    ) -> None:
        again = "; retrying" if will_retry else ""
        mark = self.colors.paint("✗", "31")
        self._line(f"{mark} {step} attempt {attempt}/{attempts} failed: {reason}{again}")

    def step_succeeded(self, step: str, attempt: int, seconds: float) -> None:
        after = f" on attempt {attempt}" if attempt > 1 else ""
        self._line(f"{self.colors.paint('✓', '32')} {step} succeeded in {seconds:.2f}s{after}")

    def step_up_to_date(self, step: str) -> None:
        self._line(f"{self.colors.paint('=', '2')} {step} is up to date")

    def refresh(self, tracker: ProgressTracker | None) -> None:
        self.writer.flush()

    def interrupted(self, signal_name: str, grace: float) -> None:
        self._line(
            self.colors.paint(
                f"{signal_name}: cancelling the run (children get SIGTERM, SIGKILL after "
                f"{grace:g}s; again to kill now)",
                "33",
            )
        )

    def message(self, text: str) -> None:
        self._line(text)

    def summary(
        self,
        result: WorkflowResult,
        logs: Mapping[str, str],
        up_to_date: Iterable[str],
        durations: Mapping[str, float],
    ) -> None:
        for line in summary_table(result, logs, set(up_to_date), durations, self.colors):
            self._line(line)
        self._line(_verdict(result, self.colors))
        self.writer.flush()

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.flush()


@attrs.define(eq=False)
class _Bar:
    started: float
    fraction: float | None = None
    eta: str = ""


@attrs.define(eq=False)
class LiveDisplay:
    """Output lines above a block of bars that is redrawn in the same write.

    Args:
        writer: where everything goes (stdout, a terminal).
        colors: colour settings.
        width: the width of the step-name column.
        size: returns the terminal's (columns, rows); default :func:`os.get_terminal_size`.
    """

    writer: Writer
    colors: Colors
    width: int = 12
    size: Any = attrs.field(default=None)
    clock: Any = attrs.field(default=time.monotonic)
    _plain: PlainDisplay = attrs.field(init=False)
    _bars: dict[str, _Bar] = attrs.field(factory=dict, init=False)
    _drawn: int = attrs.field(default=0, init=False)  # rows the block has on screen
    _block: bytes = attrs.field(default=b"", init=False)
    _overall: str = attrs.field(default="", init=False)
    _finished: int = attrs.field(default=0, init=False)
    _total: int = attrs.field(default=0, init=False)
    _closed: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._plain = PlainDisplay(self.writer, self.colors, self.width)
        self.writer.set_wrapper(self._wrap)

    def set_total(self, steps: int) -> None:
        """A run of ``steps`` steps starts (again, with ``--watch``): draw the block."""
        self._total = steps
        self._finished = 0
        self._overall = ""
        self._bars.clear()
        if self._closed:
            self._closed = False
            self.writer.set_wrapper(self._wrap)

    def _terminal(self) -> tuple[int, int]:
        if self.size is not None:
            columns, rows = self.size()
            return int(columns), int(rows)
        try:
            columns, rows = os.get_terminal_size(self.writer_fd)
        except OSError:
            return 80, 24
        return columns, rows

    @property
    def writer_fd(self) -> int:
        return 1

    def _wrap(self, data: bytes) -> bytes:
        """Erase the block, write ``data``, draw the block again: one write."""
        erase = f"\r\x1b[{self._drawn}A\x1b[J".encode() if self._drawn else b""
        if self._closed:
            self._drawn = 0
            return erase + data
        block = self._render()
        self._drawn = block.count(b"\n")
        return erase + data + block

    def _render(self) -> bytes:
        columns, rows = self._terminal()
        now = self.clock()
        lines: list[str] = []
        room = max(0, rows - 3)  # the overall line, a summary line, the cursor's line
        running = list(self._bars.items())
        shown = running[:room]
        block = [self._bar_line(name, bar, now, columns) for name, bar in shown]
        if len(shown) < len(running):
            rest = [name for name, _ in running[len(shown) :]]
            lines.append(f"… {len(rest)} more running: {', '.join(rest)}")
        done = f"{self._finished}/{self._total} steps" if self._total else ""
        lines.append(f"{'overall':<{self.width}} {self._overall} {done}".rstrip())
        cut = [line if len(line) < columns else line[: max(1, columns - 1)] for line in lines]
        return ("\n".join([*block, *cut]) + "\n").encode("utf-8", "replace")

    def _bar_line(self, name: str, bar: _Bar, now: float, columns: int) -> str:
        elapsed = _seconds(max(0.0, now - bar.started))
        if bar.fraction is None:
            middle = f"{'running':<24}"
        else:
            filled = int(bar.fraction * 20 + 0.5)
            middle = f"{'█' * filled}{'░' * (20 - filled)} {bar.fraction * 100:3.0f}%"
        plain = f"{name:<{self.width}} {middle} {elapsed} {bar.eta}".rstrip()
        if len(plain) >= columns:  # cut by visible width: no colour to cut in half
            return plain[: max(1, columns - 1)]
        return (
            f"{name:<{self.width}} {self.colors.paint(middle, '36')} {elapsed} {bar.eta}".rstrip()
        )

    def step_started(self, step: str, attempt: int, attempts: int) -> None:
        self._plain.step_started(step, attempt, attempts)
        self._bars.setdefault(step, _Bar(self.clock()))

    def step_output(self, step: str, data: bytes) -> None:
        self._plain.step_output(step, data)

    def attempt_failed(
        self, step: str, attempt: int, attempts: int, reason: str, will_retry: bool
    ) -> None:
        self._plain.attempt_failed(step, attempt, attempts, reason, will_retry)
        if not will_retry:
            self._bars.pop(step, None)
            self._finished += 1

    def step_succeeded(self, step: str, attempt: int, seconds: float) -> None:
        self._plain.step_succeeded(step, attempt, seconds)
        self._bars.pop(step, None)
        self._finished += 1

    def step_up_to_date(self, step: str) -> None:
        self._plain.step_up_to_date(step)
        self._finished += 1

    def refresh(self, tracker: ProgressTracker | None) -> None:
        if tracker is not None:
            snapshots = tracker.snapshots()
            for name, bar in self._bars.items():
                snap = snapshots.get(name)
                if snap is not None and snap.progress > 0:
                    bar.fraction = snap.smoothed
                    bar.eta = _snapshot_eta(snap)
            overall = tracker.overall()
            filled = int(overall.smoothed * 20 + 0.5)
            self._overall = (
                f"{'█' * filled}{'░' * (20 - filled)} {overall.smoothed * 100:3.0f}% "
                f"{_snapshot_eta(overall)}"
            )
        self.writer.flush(force=True)

    def interrupted(self, signal_name: str, grace: float) -> None:
        self._plain.interrupted(signal_name, grace)

    def message(self, text: str) -> None:
        self._plain.message(text)

    def summary(
        self,
        result: WorkflowResult,
        logs: Mapping[str, str],
        up_to_date: Iterable[str],
        durations: Mapping[str, float],
    ) -> None:
        self.close()
        self._plain.summary(result, logs, up_to_date, durations)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.writer.flush(force=True)  # erases the block
            self.writer.set_wrapper(None)
        else:
            self.writer.flush()


@attrs.define(eq=False)
class JsonDisplay:
    """One JSON object per line (``--json``): ``{"timestamp", "level", "event", ...}``."""

    writer: Writer
    clock: Any = attrs.field(default=time.time)

    def _emit(self, level: str, event: str, **fields: Any) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.clock()))
        record = {"event": event, "level": level, "timestamp": stamp + "Z", **fields}
        self.writer.line(json.dumps(record, ensure_ascii=False, default=str))

    def step_started(self, step: str, attempt: int, attempts: int) -> None:
        self._emit(
            "info", "trio_orch.cli.step_started", step=step, attempt=attempt, attempts=attempts
        )

    def step_output(self, step: str, data: bytes) -> None:
        for line in data[:-1].split(b"\n"):
            text = line.decode("utf-8", "replace")
            self._emit("info", "trio_orch.cli.step_output", step=step, line=text)

    def attempt_failed(
        self, step: str, attempt: int, attempts: int, reason: str, will_retry: bool
    ) -> None:
        self._emit(
            "warning",
            "trio_orch.cli.attempt_failed",
            step=step,
            attempt=attempt,
            attempts=attempts,
            reason=reason,
            will_retry=will_retry,
        )

    def step_succeeded(self, step: str, attempt: int, seconds: float) -> None:
        self._emit(
            "info", "trio_orch.cli.step_succeeded", step=step, attempt=attempt, duration=seconds
        )

    def step_up_to_date(self, step: str) -> None:
        self._emit("info", "trio_orch.cli.step_up_to_date", step=step)

    def refresh(self, tracker: ProgressTracker | None) -> None:
        self.writer.flush()

    def interrupted(self, signal_name: str, grace: float) -> None:
        self._emit("warning", "trio_orch.cli.interrupted", signal=signal_name, grace=grace)

    def message(self, text: str) -> None:
        self._emit("info", "trio_orch.cli.message", message=text)

    def summary(
        self,
        result: WorkflowResult,
        logs: Mapping[str, str],
        up_to_date: Iterable[str],
        durations: Mapping[str, float],
    ) -> None:
        fresh = set(up_to_date)
        steps = {}
        for name, r in result.steps.items():
            status = UP_TO_DATE if name in fresh else r.status.value
            entry: dict[str, Any] = {
                "status": status,
                "attempts": r.attempts,
                "duration": None if name in fresh else durations.get(name, r.duration),
                "error": reason_of(r.error) or None,
                "reason": r.reason,
            }
            if name in logs:
                entry["log"] = logs[name]
            steps[name] = entry
        level = "info" if result.status is WorkflowStatus.SUCCEEDED else "error"
        self._emit(
            level,
            "trio_orch.cli.finished",
            workflow=result.workflow,
            status=result.status.value,
            duration=result.finished_at - result.started_at,
            steps=steps,
        )
        self.writer.flush()

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.flush()


def summary_table(
    result: WorkflowResult,
    logs: Mapping[str, str],
    up_to_date: set[str],
    durations: Mapping[str, float],
    colors: Colors,
) -> list[str]:
    """The summary: one row per step, with its status, attempts, duration and detail."""
    header = ("step", "status", "attempts", "duration", "detail")
    rows = []
    for name, step in result.steps.items():
        if name in up_to_date:
            status, code, detail, took = UP_TO_DATE, "2", "", "-"
        else:
            status, code = step.status.value, _COLOR.get(step.status, "0")
            took = _duration(durations.get(name, step.duration))
            if step.status is StepStatus.FAILED:
                detail = reason_of(step.error)
            elif step.reason is not None:
                detail = f"{step.status.value}: {step.reason}"
            else:
                detail = ""
            if name in logs and step.status is not StepStatus.SKIPPED:
                detail = f"{detail} (log: {logs[name]})".strip()
        detail = detail.replace("\n", " ")
        rows.append(((name, status, str(step.attempts), took, detail), code))
    widths = [max(len(h), *(len(r[0][i]) for r in rows)) for i, h in enumerate(header)]
    right = (False, False, True, True, False)

    def cells(values: tuple[str, ...], code: str | None) -> str:
        out = []
        for i, value in enumerate(values):
            text = value.rjust(widths[i]) if right[i] else value.ljust(widths[i])
            if code is not None and i == 1:
                text = colors.paint(text, code)
            out.append(f" {text} ")
        return "│" + "│".join(out) + "│"

    def rule(left: str, mid: str, end: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + end

    lines = [f"workflow {result.workflow!r}", rule("┌", "┬", "┐"), cells(header, None)]
    lines.append(rule("├", "┼", "┤"))
    lines.extend(cells(values, code) for values, code in rows)
    lines.append(rule("└", "┴", "┘"))
    return lines


def _verdict(result: WorkflowResult, colors: Colors) -> str:
    took = result.finished_at - result.started_at
    if result.status is WorkflowStatus.SUCCEEDED:
        return colors.paint(f"workflow {result.workflow!r} succeeded in {took:.2f}s", "32")
    if result.status is WorkflowStatus.CANCELLED:
        return colors.paint(f"workflow {result.workflow!r} was interrupted after {took:.2f}s", "33")
    failed = ", ".join(result.failed)
    return colors.paint(f"workflow {result.workflow!r} failed after {took:.2f}s: {failed}", "31")


def plan_lines(
    spec: WorkflowSpec, names: list[str], reasons: Mapping[str, str | None]
) -> list[str]:
    """The ``--dry-run`` listing: one line per step in execution order, what and why."""
    limit = "no limit" if spec.max_concurrent is None else str(spec.max_concurrent)
    lines = [
        f"workflow {spec.name!r} from {spec.path}: {len(names)} steps, "
        f"max_concurrent {limit}, failure {spec.failure}"
    ]
    width = max((len(n) for n in names), default=4)
    for number, name in enumerate(names, start=1):
        body = spec.steps[name]
        indent = " " * (width + 9)
        command = describe_command(body).replace("\n", "\n" + indent)
        lines.append(f"{number:>3}. {name:<{width}}  $ {command}")
        details = []
        if body.depends_on:
            details.append(f"after {', '.join(body.depends_on)}")
        if body.retry is not None and body.retry.attempts > 1:
            retry = body.retry
            details.append(f"retry {retry.attempts} attempts, delay {retry.delay:g}s")
        if body.timeout is not None:
            details.append(f"timeout {body.timeout:g}s")
        if body.cwd is not None:
            details.append(f"cwd {spec.step_cwd(body)}")
        if body.env:
            details.append(f"env {', '.join(sorted(body.env))}")
        if details:
            lines.append(f"     {'':<{width}}  ({'; '.join(details)})")
        why = reasons.get(name)
        verdict = f"would run: {why}" if why is not None else "up to date: would not run"
        lines.append(f"     {'':<{width}}  {verdict}")
    return lines


def list_lines(spec: WorkflowSpec) -> list[str]:
    """The ``--list`` listing: every step with its description and dependencies."""
    width = max(len(n) for n in spec.steps)
    lines = [f"steps of {spec.name!r} ({spec.path}):"]
    for name, body in spec.steps.items():
        text = body.description or describe_command(body).splitlines()[0]
        after = f"  [after {', '.join(body.depends_on)}]" if body.depends_on else ""
        lines.append(f"  {name:<{width}}  {text}{after}")
    return lines
