"""The scheduler: one run of a compiled workflow plan in a nursery.

Cost is O(steps + edges): each step keeps an indegree counter that its dependencies count
down; a step whose counter reaches zero goes to a FIFO ready queue.  Only running steps have
tasks, and a task that finishes a step goes on with the next ready one itself (spawning tasks
only for the extra ready steps), so a chain runs in one task and a wide DAG in as many tasks as
there are steps running at once.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from trio_orch._lazy import LazyModule
from trio_orch.engines._workflow_model import (
    FailurePolicy,
    Node,
    Plan,
    StepAttempt,
    StepResult,
    StepStatus,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from trio_orch._log import Logger
    from trio_orch.engines import _workflow_events as ev
    from trio_orch.events import Event
    from trio_orch.primitives import ProgressTask, RetryDetails
else:  # loaded with the first event emitted: a run without a bus never imports them
    ev = LazyModule("trio_orch.engines._workflow_events")

#: a task yields to the scheduler after this many steps in a row (fairness for steps that
#: never checkpoint themselves)
_YIELD_EVERY = 64

#: the indegree of a SKIPPED step: its dependencies never count it down to zero
_NEVER = -(1 << 62)

_PENDING = StepStatus.PENDING
_RUNNING = StepStatus.RUNNING
_SUCCEEDED = StepStatus.SUCCEEDED
_FAILED = StepStatus.FAILED
_SKIPPED = StepStatus.SKIPPED
_CANCELLED = StepStatus.CANCELLED


def _time(t: float) -> float | None:
    return None if math.isnan(t) else t


def _is_cancellation(exc: BaseException) -> bool:
    """A ``Cancelled``, or a group of nothing but (groups of) ``Cancelled``."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_cancellation(e) for e in exc.exceptions)
    return isinstance(exc, trio.Cancelled)


def _errors_beside_cancellation(
    exc: BaseException,
) -> tuple[Exception, BaseExceptionGroup[trio.Cancelled]] | None:
    """Split a group of ``Cancelled`` and plain errors into (the errors, the cancellations).

    None unless ``exc`` is such a group (no ``KeyboardInterrupt``/``SystemExit`` in it).
    """
    if not isinstance(exc, BaseExceptionGroup):
        return None
    cancelled, rest = exc.split(trio.Cancelled)
    errors: object = rest  # an ExceptionGroup when every other leaf is an Exception
    if cancelled is None or not isinstance(errors, ExceptionGroup):
        return None
    return errors, cancelled


async def _call(node: Node, ctx: StepContext, kwargs: dict[str, Any]) -> Any:
    if node.pass_context:
        return await node.step.fn(ctx, **kwargs)
    return await node.step.fn(**kwargs)


async def _attempt(node: Node, ctx: StepContext, kwargs: dict[str, Any]) -> Any:
    """One attempt, bounded by the step's ``timeout``; an overrun raises trio.TooSlowError."""
    step = node.step
    if step.timeout is None:
        return await _call(node, ctx, kwargs)
    with trio.move_on_after(step.timeout):
        return await _call(node, ctx, kwargs)
    msg = f"step {step.name!r} attempt {ctx.attempt} timed out after {step.timeout:g}s"
    raise trio.TooSlowError(msg)


@attrs.define(eq=False)
class _AttemptState:
    """Where the ``on_attempt`` calls of one step got to."""

    number: int = 0
    started: float = 0.0
    #: an attempt started and its end call has not been made
    open: bool = False
    #: when the open attempt ended and what it raised (its end call waits for the policy)
    finished: float | None = None
    error: BaseException | None = None


@final
@attrs.define(eq=False)
class StepContext:
    """What a running step knows about itself; its first positional argument.

    A step function without any positional parameter is called without it.

    Attributes:
        name: the step's name.
        workflow: the workflow's id.
        attempt: the number of the current attempt (1 for the first).
        results: ``{dependency name: its value}`` for every dependency of this step.
        inputs: the mapping passed to :meth:`trio_orch.Workflow.run` (empty by default).
    """

    name: str
    workflow: str
    attempt: int
    inputs: Mapping[str, Any]
    _run: _Run = attrs.field(repr=False, alias="run")
    _index: int = attrs.field(repr=False, alias="index")
    _results: Mapping[str, Any] | None = attrs.field(default=None, init=False, repr=False)
    _log: Logger | None = attrs.field(default=None, init=False, repr=False)
    _log_attempt: int = attrs.field(default=0, init=False, repr=False)

    @property
    def results(self) -> Mapping[str, Any]:
        """``{dependency name: its value}`` for every dependency of this step (read-only)."""
        if self._results is None:
            node = self._run.plan.nodes[self._index]
            values = self._run.values
            self._results = MappingProxyType(
                {name: values[d] for name, d in zip(node.dep_names, node.deps, strict=True)}
            )
        return self._results

    @property
    def log(self) -> Logger:
        """A logger (stdlib ``trio_orch.workflow``, through structlog) bound to ``workflow``,
        ``step`` and ``attempt``: ``ctx.log.info("event", key=value)``."""
        if self._log is None or self._log_attempt != self.attempt:
            self._log = self._run.log.bind(step=self.name, attempt=self.attempt)
            self._log_attempt = self.attempt
        return self._log

    def progress(self, fraction: float) -> None:
        """Report this step's progress, ``fraction`` in [0, 1].

        It feeds the progress tracker and emits :class:`StepProgress` on the bus, if the run
        has them.  Sync, O(1), never blocks; not a checkpoint.

        Raises:
            TypeError: ``fraction`` is not a number.
            ValueError: ``fraction`` is not in [0, 1].
        """
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            msg = f"fraction must be a number in [0, 1], got {fraction!r}"
            raise TypeError(msg)
        if not 0.0 <= fraction <= 1.0:
            msg = f"fraction must be in [0, 1], got {fraction!r}"
            raise ValueError(msg)
        self._run.report_progress(self._index, float(fraction))


@attrs.define(eq=False)
class _Run:
    """The state of one run.  Lists are indexed by step index (definition order)."""

    plan: Plan
    failure: FailurePolicy
    max_concurrent: int | None
    inputs: Mapping[str, Any]
    log: Logger
    emit: Callable[[Event], object] | None
    tracker_tasks: list[ProgressTask] | None
    on_attempt: Callable[[StepAttempt], object] | None = None
    status: list[StepStatus] = attrs.field(init=False)
    values: list[Any] = attrs.field(init=False)
    errors: list[BaseException | None] = attrs.field(init=False)
    attempts: list[int] = attrs.field(init=False)
    #: start and end times, NaN for none: C doubles, not 200,000 float objects at 100,000
    #: steps (they would make the run's working set much bigger than the CPU caches)
    started: array[float] = attrs.field(init=False)
    finished: array[float] = attrs.field(init=False)
    #: dependencies not yet succeeded; ``_NEVER`` once SKIPPED
    indegree: list[int] = attrs.field(init=False)
    ready: deque[int] = attrs.field(init=False, factory=deque)
    #: indices of the succeeded steps in completion order (compensations run in reverse)
    completed: list[int] = attrs.field(init=False, factory=list)
    #: the first step error, in completion order
    first_error: BaseException | None = attrs.field(init=False, default=None)
    running: int = attrs.field(init=False, default=0)
    stopping: bool = attrs.field(init=False, default=False)
    skip_reason: str = attrs.field(init=False, default="workflow failed")
    #: why a SKIPPED or CANCELLED step did not finish, by index
    reasons: dict[int, str] = attrs.field(init=False, factory=dict)
    nursery: trio.Nursery | None = attrs.field(init=False, default=None)
    #: ``trio.current_time`` without its two wrappers (the scheduler's hot path)
    now: Callable[[], float] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        n = len(self.plan.nodes)
        self.status = [_PENDING] * n
        self.values = [None] * n
        self.errors = [None] * n
        self.attempts = [0] * n
        self.started = array("d", [math.nan]) * n
        self.finished = array("d", [math.nan]) * n
        self.indegree = list(self.plan.indegrees)
        self.now = trio.lowlevel.current_clock().current_time

    # --- the loop -------------------------------------------------------------------------

    async def execute(self) -> None:
        """Run every step that can run; return when none is running any more.

        Raises whatever escapes a step that is not an :class:`Exception` (``Cancelled``,
        ``KeyboardInterrupt``, ...), as a :class:`BaseExceptionGroup`.
        """
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self.ready.extend(i for i, d in enumerate(self.indegree) if d == 0)
            self._spawn()

    def _spawn(self) -> None:
        """Start a task for each ready step that fits under ``max_concurrent``."""
        assert self.nursery is not None
        cap = self.max_concurrent
        while self.ready and (cap is None or self.running < cap) and not self.stopping:
            self.running += 1
            self.nursery.start_soon(self._worker, self.ready.popleft())

    def _take(self) -> int | None:
        """The next ready step for a task that just finished one, or None."""
        # The caller just freed its own slot, so max_concurrent always leaves room for it.
        if self.stopping or not self.ready:
            return None
        self.running += 1
        return self.ready.popleft()

    async def _worker(self, i: int) -> None:
        ran = 0
        while True:
            await self._run_step(i)
            self.running -= 1
            nxt = self._take()
            self._spawn()
            if nxt is None:
                return
            ran += 1
            if ran % _YIELD_EVERY == 0:
                await trio.lowlevel.checkpoint()
            else:
                await trio.lowlevel.checkpoint_if_cancelled()
            i = nxt

    async def _run_step(self, i: int) -> None:
        hot = self.plan.hot[i]
        values = self.values
        ctx = StepContext(hot.name, self.plan.workflow, 1, self.inputs, self, i)
        kwargs = {name: values[d] for name, d in hot.kw_pairs}
        now = self.now()
        self.status[i] = _RUNNING
        self.started[i] = now
        if self.emit is not None:
            self.emit(ev.StepStarted(self.plan.workflow, hot.name, now))
        try:
            if hot.simple and self.on_attempt is None:
                self.attempts[i] = 1
                if hot.pass_context:
                    value = await hot.fn(ctx, **kwargs)
                else:
                    value = await hot.fn(**kwargs)
            else:
                value = await self._attempts(self.plan.nodes[i], ctx, kwargs)
        except Exception as exc:
            self._failed(i, exc)
            await trio.lowlevel.cancel_shielded_checkpoint()
        except BaseException as exc:
            if _is_cancellation(exc):
                self._cancelled(i)
                raise
            split = _errors_beside_cancellation(exc)
            if split is None:  # KeyboardInterrupt, SystemExit...: recorded, then it ends the run
                self.status[i] = _FAILED
                self.errors[i] = exc
                self.finished[i] = self.now()
                raise
            # The step's own nursery failed while being cancelled: the step FAILED, and only
            # the cancellation goes on (to the run's nursery, or out of the run).
            self._failed(i, split[0])
            raise split[1] from None
        else:
            self._succeeded(i, value)

    async def _attempts(self, node: Node, ctx: StepContext, kwargs: dict[str, Any]) -> Any:
        """Run a step's attempts with :func:`trio_orch.retry` and its per-attempt timeout.

        With an ``on_attempt`` hook, each attempt is reported when it starts and, once the
        policy has decided whether another follows, when it ends.
        """
        step = node.step
        policy = step.retry
        i = node.index
        attempts = self.attempts
        hook = self.on_attempt
        state = _AttemptState()
        max_attempts = 1 if policy is None else policy.max_attempts
        user_hook = None if policy is None else policy.on_retry

        def report_end(will_retry: bool, error: BaseException | None) -> None:
            if hook is not None and state.open:
                state.open = False
                finished = self.now() if state.finished is None else state.finished
                hook(
                    StepAttempt(
                        self.plan.workflow,
                        step.name,
                        state.number,
                        max_attempts,
                        state.started,
                        finished,
                        error,
                        will_retry,
                    )
                )

        async def attempt() -> Any:
            attempts[i] += 1
            ctx.attempt = attempts[i]
            if hook is None:
                return await _attempt(node, ctx, kwargs)
            state.number, state.started = ctx.attempt, self.now()
            state.finished, state.open = None, True
            hook(
                StepAttempt(self.plan.workflow, step.name, ctx.attempt, max_attempts, state.started)
            )
            try:
                value = await _attempt(node, ctx, kwargs)
            except Exception as exc:
                state.finished, state.error = self.now(), exc
                raise
            report_end(False, None)
            return value

        def on_retry(details: RetryDetails) -> None:
            nonlocal max_attempts
            max_attempts = details.max_attempts
            if user_hook is not None:
                user_hook(details)
            report_end(True, details.error)
            if self.emit is not None:
                self.emit(
                    ev.StepRetrying(
                        self.plan.workflow, step.name, details.attempt, details.delay, details.error
                    )
                )

        try:
            if policy is None:
                return await attempt()
            from trio_orch.primitives import retry  # (a run without retries never loads it)

            attempt.__qualname__ = attempt.__name__ = f"{self.plan.workflow}.{step.name}"
            return await retry(attempt, policy=attrs.evolve(policy, on_retry=on_retry))
        except Exception as exc:
            # The last attempt's own error, or (it was cancelled by the policy's timeout) the
            # TooSlowError that ended the retries.
            report_end(False, state.error if state.finished is not None else exc)
            raise

    # --- bookkeeping (sync) ---------------------------------------------------------------

    def _succeeded(self, i: int, value: Any) -> None:
        now = self.now()
        self.status[i] = _SUCCEEDED
        self.values[i] = value
        self.finished[i] = now
        self.completed.append(i)
        hot = self.plan.hot[i]
        name = hot.name
        if self.emit is not None:
            started = self.started[i]
            self.emit(ev.StepSucceeded(self.plan.workflow, name, self.attempts[i], now - started))
        if self.tracker_tasks is not None:
            self.tracker_tasks[i].done()
        indegree = self.indegree
        ready = self.ready
        for j in hot.dependents:
            indegree[j] -= 1
            if not indegree[j]:  # a SKIPPED step's count never gets back to zero
                ready.append(j)

    def _failed(self, i: int, exc: Exception) -> None:
        self.status[i] = _FAILED
        self.errors[i] = exc
        self.finished[i] = self.now()
        if self.first_error is None:
            self.first_error = exc
        name = self.plan.nodes[i].step.name
        self.log.info(
            "trio_orch.workflow.step_failed", step=name, attempts=self.attempts[i], error=repr(exc)
        )
        if self.emit is not None:
            self.emit(ev.StepFailed(self.plan.workflow, name, self.attempts[i], exc))
        if self.failure is FailurePolicy.FAIL_FAST:
            self.stop(f"step {name!r} failed")
        else:
            self._skip_dependents(i)

    def _cancelled(self, i: int) -> None:
        self.status[i] = _CANCELLED
        self.finished[i] = self.now()
        self.reasons[i] = self.skip_reason if self.stopping else "workflow cancelled"
        name = self.plan.nodes[i].step.name
        if self.emit is not None:
            self.emit(ev.StepCancelled(self.plan.workflow, name, self.attempts[i]))

    def _skip_dependents(self, i: int) -> None:
        """Mark every transitive dependent of failed step ``i`` SKIPPED (each one once)."""
        reason = f"dependency {self.plan.nodes[i].step.name!r} failed"
        stack = [i]
        while stack:
            for j in self.plan.dependents[stack.pop()]:
                if self.status[j] is _PENDING:
                    self._skip(j, reason)
                    stack.append(j)

    def _skip(self, j: int, reason: str) -> None:
        self.status[j] = _SKIPPED
        self.indegree[j] = _NEVER
        self.reasons[j] = reason
        name = self.plan.nodes[j].step.name
        if self.emit is not None:
            self.emit(ev.StepSkipped(self.plan.workflow, name, reason))

    def stop(self, reason: str) -> None:
        """Start no more steps and cancel the running ones (fail-fast)."""
        if not self.stopping:
            self.stopping = True
            self.skip_reason = reason
            assert self.nursery is not None
            self.nursery.cancel_scope.cancel(reason=reason)

    def report_progress(self, i: int, fraction: float) -> None:
        """``ctx.progress``: feed the tracker and the bus."""
        if self.tracker_tasks is not None:
            task = self.tracker_tasks[i]
            task.set(fraction * task.total)
        if self.emit is not None:
            self.emit(ev.StepProgress(self.plan.workflow, self.plan.nodes[i].step.name, fraction))

    # --- the end --------------------------------------------------------------------------

    def settle(self, reason: str) -> None:
        """Mark steps that never started SKIPPED and still-running ones CANCELLED.

        A step that depends on a failed one is skipped because of that dependency; the
        others because of ``reason``.
        """
        for i, status in enumerate(self.status):
            if status is _FAILED:
                self._skip_dependents(i)
        for i, status in enumerate(self.status):
            if status is _PENDING:
                self._skip(i, reason)
            elif status is _RUNNING:  # pragma: no cover - every step task records its own end
                self._cancelled(i)

    def outcome(self, cancelled: bool) -> WorkflowStatus:
        """The workflow's status, given whether the run was cancelled from outside."""
        if cancelled:
            return WorkflowStatus.CANCELLED
        if self.first_error is not None:
            return WorkflowStatus.FAILED
        return WorkflowStatus.SUCCEEDED

    def failed_names(self) -> list[str]:
        """Names of the FAILED steps, in definition order."""
        nodes = self.plan.nodes
        return [nodes[i].step.name for i, s in enumerate(self.status) if s is _FAILED]

    def step_results(self) -> Mapping[str, StepResult]:
        """``{name: StepResult}`` in definition order (built lazily, once the run is over).

        Drops the run's references to the nursery, bus, tracker and hook: the result outlives
        them.
        """
        self.nursery = None
        self.emit = None
        self.tracker_tasks = None
        self.on_attempt = None
        return _StepResults(self)

    def step_result(self, i: int) -> StepResult:
        """The :class:`StepResult` of step ``i`` now."""
        return StepResult(
            status=self.status[i],
            value=self.values[i],
            error=self.errors[i],
            attempts=self.attempts[i],
            started_at=_time(self.started[i]),
            finished_at=_time(self.finished[i]),
            reason=self.reasons.get(i),
        )


class _StepResults(Mapping[str, StepResult]):
    """A read-only ``{name: StepResult}`` that builds each StepResult on first access.

    A 100,000-step run then does not pay for 100,000 result objects nobody reads.  It is
    made when the run is over, so the state it reads no longer changes.
    """

    __slots__ = ("_cache", "_run")

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._cache: dict[str, StepResult] = {}

    def __getitem__(self, name: str) -> StepResult:
        try:
            return self._cache[name]
        except KeyError:
            i = self._run.plan.index[name]  # KeyError for an unknown name
            result = self._cache[name] = self._run.step_result(i)
            return result

    def __iter__(self) -> Iterator[str]:
        return (node.step.name for node in self._run.plan.nodes)

    def __len__(self) -> int:
        return len(self._run.plan.nodes)

    def __repr__(self) -> str:
        return repr(dict(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))
