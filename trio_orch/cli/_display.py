"""What ``trio-orch run`` shows: live rich progress bars, plain lines, or JSON log events.

Three renderers share one small interface (:class:`Display`):

* :class:`LiveDisplay` — a TTY: rich progress bars (one per running step, one overall with the
  ETA from the progress tracker), each output line printed above them with the step's prefix;
* :class:`PlainDisplay` — not a TTY: the same lines, no bars, no colours;
* :class:`JsonDisplay` — ``--json``: one structlog event per line (the CLI configures structlog's
  JSON renderer), no bars.

Every renderer ends with :meth:`Display.summary`: a table of step statuses, attempts and
durations.  Rich never runs its own refresh thread here (``auto_refresh=False``): the bars are
redrawn by a Trio task after each batch of the progress tracker.
"""

from __future__ import annotations

import shlex
import typing
from typing import TYPE_CHECKING, Any

import attrs
import structlog
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from trio_orch.engines import StepStatus, WorkflowStatus

if TYPE_CHECKING:
    from rich.console import Console

    from trio_orch.cli._spec import StepSpec, WorkflowSpec
    from trio_orch.engines import Step, WorkflowResult
    from trio_orch.primitives import ProgressTracker

__all__ = ["Display", "JsonDisplay", "LiveDisplay", "PlainDisplay", "describe_command"]

_STYLE = {
    StepStatus.SUCCEEDED: "green",
    StepStatus.FAILED: "red",
    StepStatus.CANCELLED: "yellow",
    StepStatus.SKIPPED: "dim",
    StepStatus.PENDING: "dim",
    StepStatus.RUNNING: "cyan",
}


def describe_command(step: StepSpec) -> str:
    """The step's command as text (a list is quoted as a shell would need it)."""
    if isinstance(step.run, str):
        return step.run.strip()
    return shlex.join(step.run)


def format_eta(eta: float | None) -> str:
    """``eta 1m05s`` / ``eta 4.2s`` / ``eta ?``."""
    if eta is None or eta > 99 * 3600:
        return "eta ?"
    if eta >= 60:
        minutes, seconds = divmod(int(eta + 0.5), 60)
        return f"eta {minutes}m{seconds:02d}s"
    return f"eta {eta:.1f}s"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}s"


def _reason(error: BaseException | None) -> str:
    if error is None:
        return ""
    return str(error) or type(error).__name__


def plan_lines(spec: WorkflowSpec, plan: list[Step]) -> list[str]:
    """The ``--dry-run`` listing: one line per step in execution order, then its details."""
    limit = "no limit" if spec.max_concurrent is None else str(spec.max_concurrent)
    lines = [
        f"workflow {spec.name!r} from {spec.path}: {len(plan)} steps, "
        f"max_concurrent {limit}, failure {spec.failure}"
    ]
    width = max(len(step.name) for step in plan)
    for number, step in enumerate(plan, start=1):
        body = spec.steps[step.name]
        indent = " " * (width + 9)
        command = describe_command(body).replace("\n", "\n" + indent)
        lines.append(f"{number:>3}. {step.name:<{width}}  $ {command}")
        details = []
        if step.dependencies:
            details.append(f"after {', '.join(step.dependencies)}")
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
    return lines


class Display(typing.Protocol):
    """What the runner tells the screen."""

    def attempt_started(self, step: str, attempt: int, attempts: int) -> None: ...
    def output(self, step: str, line: str) -> None: ...
    def attempt_failed(self, step: str, attempt: int, attempts: int, reason: str) -> None: ...
    def step_succeeded(self, step: str, attempt: int, seconds: float) -> None: ...
    def refresh(self, tracker: ProgressTracker) -> None: ...
    def interrupted(self, signal_name: str, grace: float) -> None: ...
    def summary(self, result: WorkflowResult, spec: WorkflowSpec, logs: dict[str, str]) -> None: ...
    def close(self) -> None: ...


@attrs.define(eq=False)
class PlainDisplay:
    """Prefixed lines on a console, no live bars (stdout is not a TTY, or ``--no-progress``)."""

    console: Console
    width: int = 12

    def _line(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def attempt_started(self, step: str, attempt: int, attempts: int) -> None:
        suffix = f" (attempt {attempt}/{attempts})" if attempts > 1 else ""
        self._line(f"[bold cyan]==>[/] {escape(step)} started{suffix}")

    def output(self, step: str, line: str) -> None:
        self.console.print(
            f"[dim]{escape(step):>{self.width}} |[/] {escape(line)}",
            highlight=False,
            soft_wrap=True,
        )

    def attempt_failed(self, step: str, attempt: int, attempts: int, reason: str) -> None:
        again = "; retrying" if attempt < attempts else ""
        self._line(
            f"[red]✗[/] {escape(step)} attempt {attempt}/{attempts} failed: {escape(reason)}{again}"
        )

    def step_succeeded(self, step: str, attempt: int, seconds: float) -> None:
        after = f" on attempt {attempt}" if attempt > 1 else ""
        self._line(f"[green]✓[/] {escape(step)} succeeded in {seconds:.2f}s{after}")

    def refresh(self, tracker: ProgressTracker) -> None:
        return None

    def interrupted(self, signal_name: str, grace: float) -> None:
        self._line(
            f"[yellow]{signal_name}: cancelling the run (children get SIGTERM, SIGKILL after "
            f"{grace:g}s; again to kill now)[/]"
        )

    def summary(self, result: WorkflowResult, spec: WorkflowSpec, logs: dict[str, str]) -> None:
        self.console.print(_summary_table(result, spec, logs))
        self._line(_verdict(result))

    def close(self) -> None:
        return None


@attrs.define(eq=False)
class LiveDisplay:
    """Rich progress bars: one per running step and one overall with the ETA."""

    console: Console
    width: int = 12
    _plain: PlainDisplay = attrs.field(init=False)
    _progress: Progress = attrs.field(init=False)
    _overall: TaskID = attrs.field(init=False)
    _bars: dict[str, TaskID] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        self._plain = PlainDisplay(self.console, self.width)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[eta]}"),
            console=self.console,
            auto_refresh=False,  # no refresh thread: a Trio task calls refresh()
            transient=True,
        )
        self._overall = self._progress.add_task("[bold]overall[/]", total=1.0, eta="eta ?")
        self._progress.start()

    def attempt_started(self, step: str, attempt: int, attempts: int) -> None:
        self._plain.attempt_started(step, attempt, attempts)
        if step not in self._bars:
            label = f"{escape(step):<{self.width}}"
            self._bars[step] = self._progress.add_task(label, total=None, eta="")

    def output(self, step: str, line: str) -> None:
        self._plain.output(step, line)

    def attempt_failed(self, step: str, attempt: int, attempts: int, reason: str) -> None:
        self._plain.attempt_failed(step, attempt, attempts, reason)
        if attempt >= attempts:
            self._drop(step)

    def step_succeeded(self, step: str, attempt: int, seconds: float) -> None:
        self._plain.step_succeeded(step, attempt, seconds)
        self._drop(step)

    def _drop(self, step: str) -> None:
        bar = self._bars.pop(step, None)
        if bar is not None:
            self._progress.remove_task(bar)

    def refresh(self, tracker: ProgressTracker) -> None:
        snapshots = tracker.snapshots()
        for step, bar in self._bars.items():
            snap = snapshots.get(step)
            if snap is not None and snap.smoothed > 0:
                self._progress.update(
                    bar, total=1.0, completed=snap.smoothed, eta=format_eta(snap.eta)
                )
        overall = tracker.overall()
        self._progress.update(
            self._overall, completed=overall.smoothed, eta=format_eta(overall.eta)
        )
        self._progress.refresh()

    def interrupted(self, signal_name: str, grace: float) -> None:
        self._plain.interrupted(signal_name, grace)

    def summary(self, result: WorkflowResult, spec: WorkflowSpec, logs: dict[str, str]) -> None:
        self.close()
        self._plain.summary(result, spec, logs)

    def close(self) -> None:
        self._progress.stop()


@attrs.define(eq=False)
class JsonDisplay:
    """One structlog event per line (``--json``); the CLI configured the JSON renderer."""

    log: Any = attrs.field(factory=lambda: structlog.get_logger("trio_orch.cli"))

    def attempt_started(self, step: str, attempt: int, attempts: int) -> None:
        self.log.info("trio_orch.cli.step_started", step=step, attempt=attempt, attempts=attempts)

    def output(self, step: str, line: str) -> None:
        self.log.info("trio_orch.cli.step_output", step=step, line=line)

    def attempt_failed(self, step: str, attempt: int, attempts: int, reason: str) -> None:
        self.log.warning(
            "trio_orch.cli.attempt_failed",
            step=step,
            attempt=attempt,
            attempts=attempts,
            reason=reason,
            will_retry=attempt < attempts,
        )

    def step_succeeded(self, step: str, attempt: int, seconds: float) -> None:
        self.log.info("trio_orch.cli.step_succeeded", step=step, attempt=attempt, duration=seconds)

    def refresh(self, tracker: ProgressTracker) -> None:
        return None

    def interrupted(self, signal_name: str, grace: float) -> None:
        self.log.warning("trio_orch.cli.interrupted", signal=signal_name, grace=grace)

    def summary(self, result: WorkflowResult, spec: WorkflowSpec, logs: dict[str, str]) -> None:
        steps = {
            name: {
                "status": r.status.value,
                "attempts": r.attempts,
                "duration": r.duration,
                "error": _reason(r.error) or None,
                **({"log": logs[name]} if name in logs else {}),
            }
            for name, r in result.steps.items()
        }
        level = "info" if result.status is WorkflowStatus.SUCCEEDED else "error"
        getattr(self.log, level)(
            "trio_orch.cli.finished",
            workflow=result.workflow,
            status=result.status.value,
            duration=result.finished_at - result.started_at,
            steps=steps,
        )

    def close(self) -> None:
        return None


def _summary_table(result: WorkflowResult, spec: WorkflowSpec, logs: dict[str, str]) -> Table:
    table = Table(title=f"workflow {result.workflow!r}", title_justify="left")
    for column in ("step", "status", "attempts", "duration", "detail"):
        table.add_column(column, justify="right" if column in ("attempts", "duration") else "left")
    for name in spec.steps:
        step = result.steps.get(name)
        if step is None:
            continue
        style = _STYLE.get(step.status, "")
        detail = _reason(step.error) if step.status is StepStatus.FAILED else ""
        if name in logs and step.status is not StepStatus.SKIPPED:
            detail = f"{detail} (log: {logs[name]})".strip()
        table.add_row(
            escape(name),
            f"[{style}]{step.status.value}[/]",
            str(step.attempts),
            _duration(step.duration),
            escape(detail),
        )
    return table


def _verdict(result: WorkflowResult) -> str:
    took = result.finished_at - result.started_at
    if result.status is WorkflowStatus.SUCCEEDED:
        return f"[green]workflow {result.workflow!r} succeeded in {took:.2f}s[/]"
    if result.status is WorkflowStatus.CANCELLED:
        return f"[yellow]workflow {result.workflow!r} was interrupted after {took:.2f}s[/]"
    failed = ", ".join(result.failed)
    return f"[red]workflow {result.workflow!r} failed after {took:.2f}s: {escape(failed)}[/]"
