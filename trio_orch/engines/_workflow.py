"""The workflow DSL: :class:`Workflow`, its ``@wf.step`` decorator and ``await wf.run()``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast, final, overload

import attrs
import structlog
import trio

from trio_orch._exceptions import WorkflowDefinitionError
from trio_orch._groups import leaves
from trio_orch._validate import (
    check_instance,
    instance_validator,
    int_validator,
    nonempty_str_validator,
    number_validator,
)
from trio_orch.engines import _workflow_events as ev
from trio_orch.engines._compensation import compensate
from trio_orch.engines._workflow_model import (
    CompensateFn,
    DependencyRef,
    FailurePolicy,
    Plan,
    Step,
    StepFn,
    WorkflowFailed,
    WorkflowResult,
    WorkflowStatus,
    check_duplicate,
    compile_steps,
)
from trio_orch.engines._workflow_run import _Run
from trio_orch.primitives import ProgressTracker

if TYPE_CHECKING:
    from trio_orch.events import Event, EventBus
    from trio_orch.primitives import ProgressTask, RetryPolicy

F = TypeVar("F", bound=StepFn)

_AMBIGUOUS = ""  # by_fn value for a function used by several steps


def _check_bus(_: object, attribute: attrs.Attribute[Any] | None, value: object) -> None:
    if value is not None and not callable(getattr(value, "emit", None)):
        msg = f"bus must be an EventBus or None, got {value!r}"
        raise TypeError(msg)


def _collapse(exc: BaseException) -> BaseException:
    """The one exception a group of step exceptions means (Cancelled leaves give way)."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    found = leaves(exc)
    others = [e for e in found if not isinstance(e, trio.Cancelled)]
    if not others:
        return found[0]
    if len(others) == 1:
        return others[0]
    return exc


def _emitter(bus: EventBus, log: Any) -> Callable[[Event], None]:
    """``bus.emit`` that logs a failed emit (a closed bus) at warning level, never raising."""
    emit = bus.emit

    def safe_emit(event: Event) -> None:
        try:
            emit(event)
        except Exception as exc:
            log.warning(
                "trio_orch.workflow.event_dropped", event_type=type(event).__name__, error=exc
            )

    return safe_emit


def _track(tracker: ProgressTracker, plan: Plan) -> list[ProgressTask]:
    """One progress task per step, named after it; one already tracked is reused, reset to 0."""
    tasks = []
    for node in plan.nodes:
        name = node.step.name
        try:
            task = tracker.task(name)
        except KeyError:
            task = tracker.track(name, total=1.0)
        else:
            task.set(0.0)
        tasks.append(task)
    return tasks


@final
@attrs.define(eq=False)
class Workflow:
    """A DAG of async steps, run in a nursery; a step starts once its dependencies succeed.

    Decorator form::

        wf = Workflow("build-deploy", max_concurrent=None, failure=FailurePolicy.FAIL_FAST)

        @wf.step()
        async def test(ctx: StepContext) -> Report: ...

        @wf.step(depends_on=[test], retry=RetryPolicy(max_attempts=3), timeout=600)
        async def build(ctx: StepContext, test: Report) -> Artifact: ...

        result = await wf.run()

    Data form: ``Workflow("id", steps=[Step("test", run_tests), Step("build", build,
    depends_on=["test"])])``.

    A step function is called as ``fn(ctx, **kwargs)`` where ``kwargs`` holds the results of
    the dependencies whose names its signature has (all of them if it takes ``**kwargs``);
    ``ctx.results`` always has all of them.  A required parameter that is not a dependency is
    a :class:`~trio_orch.WorkflowDefinitionError`.

    Args:
        id: the workflow's name (in results, events, logs).
        steps: steps in data form, added in order (more can be added with :meth:`add` or
            :meth:`step`).
        max_concurrent: at most this many steps run at once; ``None``: no limit.
        failure: :class:`FailurePolicy` (default ``FAIL_FAST``).
        bus: an event bus to emit :class:`WorkflowEvent` events on (default: none).
        progress: a progress tracker (:func:`trio_orch.open_progress_tracker`) that gets one
            task per step, fed by ``ctx.progress`` (default: none).
        compensation_timeout: seconds a compensation may take unless its step sets its own.

    Raises:
        WorkflowDefinitionError: a definition error in ``steps`` (cycle, unknown dependency,
            duplicate name, step signature).
        TypeError, ValueError: a bad argument.

    Attributes:
        last_result: the :class:`WorkflowResult` of the latest run that ended, also when it
            ended by cancellation (then every unfinished step is CANCELLED or SKIPPED).
    """

    id: str = attrs.field(validator=nonempty_str_validator())
    _initial: Iterable[Step] = attrs.field(default=(), alias="steps", kw_only=True, repr=False)
    max_concurrent: int | None = attrs.field(
        default=None, kw_only=True, validator=int_validator(minimum=1, allow_none=True)
    )
    failure: FailurePolicy = attrs.field(
        default=FailurePolicy.FAIL_FAST,
        kw_only=True,
        validator=instance_validator(FailurePolicy, "a FailurePolicy"),
    )
    bus: EventBus | None = attrs.field(default=None, kw_only=True, repr=False, validator=_check_bus)
    progress: ProgressTracker | None = attrs.field(
        default=None,
        kw_only=True,
        repr=False,
        validator=instance_validator(ProgressTracker, "a ProgressTracker", allow_none=True),
    )
    compensation_timeout: float = attrs.field(
        default=30.0, kw_only=True, validator=number_validator(strict=True, allow_inf=True)
    )
    last_result: WorkflowResult | None = attrs.field(default=None, init=False, repr=False)
    _steps: dict[str, Step] = attrs.field(factory=dict, init=False, repr=False)
    _by_fn: dict[Callable[..., Any], str] = attrs.field(factory=dict, init=False, repr=False)
    _plan: Plan | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        initial = self._initial
        if isinstance(cast("object", initial), Step) or not isinstance(initial, Iterable):
            msg = f"steps must be a list of Step, got {initial!r}"
            raise TypeError(msg)
        self._initial = ()
        for step in initial:
            self.add(step)
        if self._steps:
            self.validate()

    # --- definition -----------------------------------------------------------------------

    def add(self, step: Step) -> Step:
        """Add ``step`` (data form); return it.

        Raises:
            TypeError: ``step`` is not a :class:`Step`.
            WorkflowDefinitionError: a step with that name exists.
        """
        if not isinstance(cast("object", step), Step):
            msg = f"step must be a Step, got {step!r}"
            raise TypeError(msg)
        check_duplicate(self.id, self._steps, step.name)
        self._steps[step.name] = step
        # an unhashable callable cannot be a dependency reference
        with contextlib.suppress(TypeError):
            self._by_fn[step.fn] = _AMBIGUOUS if step.fn in self._by_fn else step.name
        self._plan = None
        return step

    @overload
    def step(self, fn: F, /) -> F: ...

    @overload
    def step(
        self,
        fn: str | None = None,
        /,
        *,
        name: str | None = None,
        depends_on: Iterable[DependencyRef] = (),
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        compensate: CompensateFn | None = None,
        compensation_timeout: float | None = None,
    ) -> Callable[[F], F]: ...

    def step(
        self,
        fn: F | str | None = None,
        /,
        *,
        name: str | None = None,
        depends_on: Iterable[DependencyRef] = (),
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        compensate: CompensateFn | None = None,
        compensation_timeout: float | None = None,
    ) -> F | Callable[[F], F]:
        """Decorator: add the decorated async function as a step; return it unchanged.

        Usable as ``@wf.step()`` / ``@wf.step(depends_on=[...], ...)``, bare ``@wf.step``,
        or ``@wf.step("name", ...)``.  The arguments are those of :class:`Step`; ``name``
        defaults to the function's ``__name__``.  ``depends_on`` takes step names or
        functions decorated earlier.

        Raises:
            WorkflowDefinitionError: a step with that name exists.
            TypeError, ValueError: a bad argument (as for :class:`Step`).
        """

        def decorate(fn: F) -> F:
            self.add(
                Step(
                    name if name is not None else str(getattr(fn, "__name__", "")),
                    fn,
                    depends_on=depends_on,
                    retry=retry,
                    timeout=timeout,
                    compensate=compensate,
                    compensation_timeout=compensation_timeout,
                )
            )
            return fn

        if isinstance(fn, str):
            name, fn = fn, None
        if fn is not None:
            return decorate(fn)
        return decorate

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps, in definition order."""
        return tuple(self._steps.values())

    def validate(self) -> None:
        """Check the definition now; :meth:`run` does it too.

        Raises:
            WorkflowDefinitionError: a cycle (naming the steps on it), an unknown dependency,
                a function dependency that is no step of this workflow, or a step function
                that cannot take the StepContext positionally or has a required parameter
                that is not one of its dependencies.
        """
        self._compile()

    def order(self) -> list[str]:
        """Step names in a topological order (dependencies first; ties in definition order).

        Raises:
            WorkflowDefinitionError: as :meth:`validate`.
        """
        plan = self._compile()
        return [plan.nodes[i].step.name for i in plan.order]

    def plan(self) -> list[Step]:
        """The steps in :meth:`order`, with ``depends_on`` resolved to names (for dry runs).

        Raises:
            WorkflowDefinitionError: as :meth:`validate`.
        """
        plan = self._compile()
        return [
            attrs.evolve(plan.nodes[i].step, depends_on=plan.nodes[i].dep_names) for i in plan.order
        ]

    def _compile(self) -> Plan:
        if self._plan is None:
            for fn, name in self._by_fn.items():
                if name == _AMBIGUOUS and any(fn in s.depends_on for s in self._steps.values()):
                    msg = (
                        f"step function {getattr(fn, '__name__', fn)!r} is used by several "
                        f"steps of workflow {self.id!r}; depend on it by name"
                    )
                    raise WorkflowDefinitionError(msg, workflow=self.id)
            self._plan = compile_steps(self.id, self._steps.values(), self._by_fn)
        return self._plan

    # --- running --------------------------------------------------------------------------

    async def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        bus: EventBus | None = None,
        progress: ProgressTracker | None = None,
        check: bool = True,
    ) -> WorkflowResult:
        """Run every step once, in dependency order, in a nursery; return the result.

        Args:
            inputs: a mapping every step sees as ``ctx.inputs`` (read-only).
            bus: an event bus for this run (default: the workflow's ``bus``).
            progress: a progress tracker for this run (default: the workflow's).
            check: if True (the default) a failed run raises :class:`WorkflowFailed`; if
                False it returns the FAILED result.

        Returns:
            The :class:`WorkflowResult` (also stored in :attr:`last_result`).

        Raises:
            WorkflowDefinitionError: the definition is malformed (before any step starts).
            WorkflowFailed: a step failed (``check=True``), after the compensations ran.
                ``.result`` has the result, the first step error is its ``__cause__``.

        Cancellation:
            An outside cancellation cancels the running steps (CANCELLED), starts no more
            (SKIPPED), runs the compensations of the succeeded steps shielded (each bounded by
            its timeout), stores the CANCELLED result in :attr:`last_result`, and propagates
            as ``trio.Cancelled``.  ``KeyboardInterrupt``/``SystemExit`` from a step
            propagate the same way, without compensations.

        Checkpoints:
            Always at least one, also for an empty workflow.
        """
        plan = self._compile()
        if inputs is not None and not isinstance(cast("object", inputs), Mapping):
            msg = f"inputs must be a mapping or None, got {inputs!r}"
            raise TypeError(msg)
        _check_bus(None, None, bus)
        check_instance("progress", progress, ProgressTracker, "a ProgressTracker", allow_none=True)
        bus = self.bus if bus is None else bus
        tracker = self.progress if progress is None else progress
        log = structlog.get_logger().bind(workflow=self.id)
        run = _Run(
            plan=plan,
            failure=self.failure,
            max_concurrent=self.max_concurrent,
            inputs=MappingProxyType(dict(inputs or {})),
            log=log,
            emit=None if bus is None else _emitter(bus, log),
            tracker_tasks=None if tracker is None else _track(tracker, plan),
        )
        started = trio.current_time()
        log.debug("trio_orch.workflow.started", steps=len(plan.nodes))
        if run.emit is not None:
            run.emit(ev.WorkflowStarted(self.id, len(plan.nodes), started))
        error: BaseException | None = None
        try:
            await trio.lowlevel.checkpoint()
            await run.execute()
        except BaseException as exc:
            error = _collapse(exc)
        return await self._finish(run, started, error, check=check)

    async def _finish(
        self, run: _Run, started: float, error: BaseException | None, *, check: bool
    ) -> WorkflowResult:
        run.settle("workflow cancelled" if error is not None else run.skip_reason)
        status = run.outcome(cancelled=error is not None)
        undo = status is not WorkflowStatus.SUCCEEDED and (
            error is None or isinstance(error, trio.Cancelled)
        )
        compensations = await compensate(
            run, default_timeout=self.compensation_timeout, needed=undo
        )
        finished = trio.current_time()
        emit = run.emit
        result = WorkflowResult(
            workflow=self.id,
            status=status,
            steps=run.step_results(),
            started_at=started,
            finished_at=finished,
            compensations=compensations,
        )
        self.last_result = result
        run.log.info(
            "trio_orch.workflow.finished",
            status=status.value,
            steps=len(run.plan.nodes),
            failed=run.failed_names(),
            duration=finished - started,
        )
        if emit is not None:
            emit(ev.WorkflowFinished(self.id, status, finished, finished - started))
        if error is not None:
            raise error
        if status is WorkflowStatus.FAILED and check:
            raise WorkflowFailed(result, first_error=run.first_error)
        return result
