"""The workflow DSL: :class:`Workflow`, its ``@wf.step`` decorator and ``await wf.run()``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast, final, overload

import attrs
import trio

from trio_orch._exceptions import WorkflowDefinitionError, WorkflowFailed
from trio_orch._groups import leaves
from trio_orch._lazy import LazyModule
from trio_orch._log import get_logger
from trio_orch._validate import (
    check_instance,
    instance_validator,
    int_validator,
    nonempty_str_validator,
    number_validator,
)
from trio_orch.engines._compensation import compensate
from trio_orch.engines._workflow_model import (
    CompensateFn,
    DependencyRef,
    FailurePolicy,
    Node,
    Plan,
    Step,
    StepAttempt,
    StepFn,
    StepResult,
    WorkflowPlan,
    WorkflowResult,
    WorkflowStatus,
    check_duplicate,
    compile_steps,
)
from trio_orch.engines._workflow_run import _Run

if TYPE_CHECKING:
    from trio_orch._log import Logger
    from trio_orch.engines import _workflow_events as ev
    from trio_orch.engines._jobs_store import JobStore
    from trio_orch.events import Event, EventBus
    from trio_orch.primitives import ProgressTask, ProgressTracker, RetryPolicy
else:  # loaded with the first event emitted: a run without a bus never imports them
    ev = LazyModule("trio_orch.engines._workflow_events")

F = TypeVar("F", bound=StepFn)

_logger = get_logger("workflow")

_AMBIGUOUS = ""  # by_fn value for a function used by several steps


def _check_bus(_: object, attribute: attrs.Attribute[Any] | None, value: object) -> None:
    if value is not None and not callable(getattr(value, "emit", None)):
        msg = f"bus must be an EventBus or None, got {value!r}"
        raise TypeError(msg)


def _check_progress(_: object, attribute: attrs.Attribute[Any] | None, value: object) -> None:
    if value is not None:  # (imported here: a workflow without a tracker never loads it)
        from trio_orch.primitives import ProgressTracker

        check_instance("progress", value, ProgressTracker, "a ProgressTracker", allow_none=True)


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


def _emitter(bus: EventBus, log: Logger) -> Callable[[Event], None]:
    """``bus.emit`` that logs a failed emit (a closed bus) at warning level, never raising."""
    emit = bus.emit

    def safe_emit(event: Event) -> None:
        try:
            emit(event)
        except Exception as exc:
            log.warning(
                "trio_orch.workflow.event_dropped", event_type=type(event).__name__, error=repr(exc)
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


def _check_targets(workflow: str, targets: object, plan: Plan) -> tuple[str, ...]:
    if isinstance(targets, str) or not isinstance(targets, Iterable):
        msg = f"targets must be a list of step names or None, got {targets!r}"
        raise TypeError(msg)
    names = tuple(cast("Iterable[object]", targets))
    for name in names:
        if not isinstance(name, str):
            msg = f"targets must be a list of step names or None, got {targets!r}"
            raise TypeError(msg)
        if name not in plan.index:
            msg = f"targets must name steps of workflow {workflow!r}, got unknown step {name!r}"
            raise ValueError(msg)
    return tuple(dict.fromkeys(cast("tuple[str, ...]", names)))


@final
@attrs.define(eq=False)
class WorkflowRun:
    """A handle on one run of a :class:`Workflow`, while it runs and after it ended.

    Get one by starting the run in a nursery, as :func:`trio.run_process` does::

        async with trio.open_nursery() as nursery:
            run = await nursery.start(wf.run)
            ...
        print(run.result)          # also after the nursery was cancelled

    Each run has its own handle, so concurrent runs of one workflow never share state.

    Attributes:
        workflow: the workflow's id.
    """

    workflow: str
    _describe: Callable[[], WorkflowPlan] = attrs.field(repr=False, alias="describe")
    _state: _Run | None = attrs.field(default=None, repr=False, alias="state")
    _plan: WorkflowPlan | None = attrs.field(default=None, init=False, repr=False)
    _result: WorkflowResult | None = attrs.field(default=None, init=False, repr=False)
    _finished: trio.Event = attrs.field(factory=trio.Event, init=False, repr=False)

    @property
    def result(self) -> WorkflowResult | None:
        """The :class:`WorkflowResult` once the run ended, ``None`` before.

        It is set however the run ended: SUCCEEDED, FAILED (also with ``check=True``, when
        :class:`WorkflowFailed` was raised) or CANCELLED by an outside cancellation (every
        unfinished step is then CANCELLED or SKIPPED, with its ``reason``).
        """
        return self._result

    @property
    def plan(self) -> WorkflowPlan:
        """The :class:`WorkflowPlan` being run (built on first use)."""
        if self._plan is None:
            self._plan = self._describe()
        return self._plan

    @property
    def finished(self) -> bool:
        """True once the run ended (its compensations included)."""
        return self._result is not None

    def step_result(self, name: str) -> StepResult:
        """The :class:`StepResult` of step ``name`` now (``PENDING``/``RUNNING`` while running).

        Raises:
            KeyError: the run has no step ``name``.
        """
        if self._result is not None:
            return self._result.steps[name]
        assert self._state is not None
        return self._state.step_result(self._state.plan.index[name])

    async def wait_finished(self) -> WorkflowResult:
        """Wait until the run ended; return its result.

        Cancellation:
            Cancelling the wait leaves the run alone.

        Checkpoints:
            Always, also when the run already ended.
        """
        await self._finished.wait()
        assert self._result is not None
        return self._result

    def _set_result(self, result: WorkflowResult) -> None:
        self._result = result
        self._state = None
        self._finished.set()


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
        last_result: deprecated (shared by concurrent runs): the :class:`WorkflowResult` of
            the latest run that ended.  Use the :class:`WorkflowRun` handle instead
            (``run = await nursery.start(wf.run)``; ``run.result``).
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
        validator=_check_progress,
    )
    compensation_timeout: float = attrs.field(
        default=30.0, kw_only=True, validator=number_validator(strict=True, allow_inf=True)
    )
    last_result: WorkflowResult | None = attrs.field(default=None, init=False, repr=False)
    _steps: dict[str, Step] = attrs.field(factory=dict, init=False, repr=False)
    _by_fn: dict[Callable[..., Any], str] = attrs.field(factory=dict, init=False, repr=False)
    _plan: Plan | None = attrs.field(default=None, init=False, repr=False)
    _subplans: dict[tuple[str, ...], Plan] = attrs.field(factory=dict, init=False, repr=False)
    #: the WorkflowPlan described from each compiled plan (by the plan's identity)
    _described_plans: dict[int, tuple[Plan, WorkflowPlan]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _log: Logger | None = attrs.field(default=None, init=False, repr=False)

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
        self._subplans.clear()
        self._described_plans.clear()
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

    def plan(self, targets: Iterable[str] | None = None) -> WorkflowPlan:
        """What :meth:`run` with the same ``targets`` would run, in order (for dry runs).

        Args:
            targets: names of the steps wanted; the plan holds them and, transitively, the
                steps they depend on.  ``None`` (the default): every step.

        Returns:
            A frozen :class:`WorkflowPlan`: the steps in :meth:`order` (restricted to the
            targets), each with ``depends_on`` resolved to step names.

        Raises:
            WorkflowDefinitionError: as :meth:`validate`.
            TypeError: ``targets`` is not a list of names.
            ValueError: a target is no step of this workflow.
        """
        plan, names = self._select(targets)
        return self._described(plan, names)

    def _select(self, targets: Iterable[str] | None) -> tuple[Plan, tuple[str, ...] | None]:
        """The compiled plan for ``targets`` (and the targets, checked and de-duplicated)."""
        full = self._compile()
        if targets is None:
            return full, None
        names = _check_targets(self.id, targets, full)
        plan = self._subplans.get(names)
        if plan is None:
            keep: set[int] = set()
            stack = [full.index[name] for name in names]
            while stack:
                i = stack.pop()
                if i not in keep:
                    keep.add(i)
                    stack.extend(full.nodes[i].deps)
            steps = [full.nodes[i].step for i in sorted(keep)]
            plan = self._subplans[names] = compile_steps(self.id, steps, self._by_fn)
        return plan, names

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
        targets: Iterable[str] | None = None,
        on_attempt: Callable[[StepAttempt], object] | None = None,
        store: JobStore | str | None = None,
        run_id: str | None = None,
        task_status: trio.TaskStatus[WorkflowRun] = trio.TASK_STATUS_IGNORED,
    ) -> WorkflowResult:
        """Run every step once, in dependency order, in a nursery; return the result.

        ``await wf.run()`` runs to the end.  ``run = await nursery.start(wf.run)`` runs it
        in ``nursery`` and returns a :class:`WorkflowRun` handle at once (after the
        definition checks, before any step starts), whose ``result`` is set however the
        run ends, an outside cancellation included.

        Args:
            inputs: a mapping every step sees as ``ctx.inputs`` (read-only).
            bus: an event bus for this run (default: the workflow's ``bus``).
            progress: a progress tracker for this run (default: the workflow's).
            check: if True (the default) a failed run raises :class:`WorkflowFailed`; if
                False it returns the FAILED result.
            targets: run only these steps and, transitively, their dependencies (as
                :meth:`plan` shows them); the result holds those steps only.  ``None``
                (the default): every step.
            on_attempt: called synchronously (in the step's task) with a
                :class:`StepAttempt` when each attempt of a step starts and when it ended
                and the retry policy decided whether another follows.  An exception it
                raises fails the step.  An attempt cancelled with the run gets no end call.
            store: a durable store (:class:`~trio_orch.SqliteJobStore`,
                :class:`~trio_orch.PostgresJobStore`) or its URL: checkpoint each step's
                result as it succeeds, under ``run_id`` (both or neither); running the same
                ``run_id`` again skips the succeeded steps and passes their stored results on
                (see :func:`~trio_orch.run_checkpointed` and docs/stores.md).
            run_id: the name of the durable run, with ``store``.
            task_status: for ``nursery.start``: receives the :class:`WorkflowRun` handle.

        Returns:
            The :class:`WorkflowResult` (also in the handle's ``result``).

        Raises:
            WorkflowDefinitionError: the definition is malformed (before any step starts).
            WorkflowFailed: a step failed (``check=True``), after the compensations ran.
                ``.result`` has the result, the first step error is its ``__cause__``.
            TypeError, ValueError: a bad argument (an unknown target, say).

        Cancellation:
            An outside cancellation cancels the running steps (CANCELLED), starts no more
            (SKIPPED), runs the compensations of the succeeded steps shielded (each bounded by
            its timeout), stores the CANCELLED result in the handle's ``result``, and
            propagates as ``trio.Cancelled``.  ``KeyboardInterrupt``/``SystemExit`` from a
            step propagate the same way, without compensations.

        Checkpoints:
            Always at least one, also for an empty workflow.
        """
        if store is not None or run_id is not None:
            if store is None or run_id is None:
                msg = f"store and run_id go together, got store={store!r} and run_id={run_id!r}"
                raise ValueError(msg)
            from trio_orch.engines._workflow_checkpoints import run_checkpointed

            return await run_checkpointed(
                self,
                store=store,
                run_id=run_id,
                inputs=inputs,
                bus=bus,
                progress=progress,
                check=check,
                targets=targets,
                on_attempt=on_attempt,
                task_status=task_status,
            )
        plan, names = self._select(targets)
        if inputs is not None and not isinstance(cast("object", inputs), Mapping):
            msg = f"inputs must be a mapping or None, got {inputs!r}"
            raise TypeError(msg)
        _check_bus(None, None, bus)
        _check_progress(None, None, progress)
        if on_attempt is not None and not callable(cast("object", on_attempt)):
            msg = f"on_attempt must be callable or None, got {on_attempt!r}"
            raise TypeError(msg)
        bus = self.bus if bus is None else bus
        tracker = self.progress if progress is None else progress
        log = self._log
        if log is None:
            log = self._log = _logger.bind(workflow=self.id)
        run = _Run(
            plan=plan,
            failure=self.failure,
            max_concurrent=self.max_concurrent,
            inputs=MappingProxyType(dict(inputs or {})),
            log=log,
            emit=None if bus is None else _emitter(bus, log),
            tracker_tasks=None if tracker is None else _track(tracker, plan),
            on_attempt=on_attempt,
        )
        handle = WorkflowRun(self.id, partial(self._described, plan, names), state=run)
        started = trio.current_time()
        if run.emit is not None:
            run.emit(ev.WorkflowStarted(self.id, len(plan.nodes), started))
        error: BaseException | None = None
        try:
            task_status.started(handle)
            await trio.lowlevel.checkpoint()
            await run.execute()
        except BaseException as exc:
            error = _collapse(exc)
        return await self._finish(run, handle, started, error, check=check)

    def _described(self, plan: Plan, targets: tuple[str, ...] | None) -> WorkflowPlan:
        cached = self._described_plans.get(id(plan))
        if cached is not None and cached[0] is plan and cached[1].targets == targets:
            return cached[1]
        steps = tuple(_by_names(plan.nodes[i]) for i in plan.order)
        described = WorkflowPlan(workflow=self.id, steps=steps, targets=targets)
        self._described_plans[id(plan)] = (plan, described)
        return described

    async def _finish(
        self,
        run: _Run,
        handle: WorkflowRun,
        started: float,
        error: BaseException | None,
        *,
        check: bool,
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
        handle._set_result(result)
        if emit is not None:
            emit(ev.WorkflowFinished(self.id, status, finished, finished - started))
        if error is not None:
            raise error
        if status is WorkflowStatus.FAILED and check:
            raise WorkflowFailed(result, first_error=run.first_error)
        return result


def _by_names(node: Node) -> Step:
    """The node's step with its dependencies named (itself when they are names already)."""
    step = node.step
    if step.depends_on == node.dep_names:
        return step
    return attrs.evolve(step, depends_on=node.dep_names)
