"""The values of the workflow engine: steps, statuses, results, and definition checks.

Nothing here runs anything: :mod:`trio_orch.engines._workflow_run` schedules what this module
describes.  :func:`compile_steps` turns a list of :class:`Step` into a :class:`Plan` (integer
indices, dependents lists, indegrees, a topological order), raising
:class:`~trio_orch.WorkflowDefinitionError` for every malformed definition.
"""

from __future__ import annotations

import enum
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias, final

import attrs

from trio_orch._exceptions import WorkflowDefinitionError
from trio_orch._validate import (
    callable_validator,
    check_instance,
    nonempty_str_validator,
    number_validator,
)

if TYPE_CHECKING:
    from trio_orch.primitives import RetryPolicy

#: A step function: ``async def fn(ctx, **dependency_results) -> value``.
StepFn: TypeAlias = Callable[..., Awaitable[Any]]
#: A compensation: ``async def undo(ctx, value) -> None``.
CompensateFn: TypeAlias = Callable[[Any, Any], Awaitable[Any]]
#: A dependency given by name or by the (decorated) step function itself.
DependencyRef: TypeAlias = "str | StepFn"


@final
class StepStatus(enum.Enum):
    """Where one step of a run is.

    ``PENDING`` (not started yet), ``RUNNING``, and the final states ``SUCCEEDED``,
    ``FAILED`` (its last attempt raised), ``SKIPPED`` (never started: a dependency failed, or
    the run ended first) and ``CANCELLED`` (it was running when the run was cancelled).
    """

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@final
class WorkflowStatus(enum.Enum):
    """How a run ended: every step ``SUCCEEDED``, some step ``FAILED``, or ``CANCELLED``."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@final
class FailurePolicy(enum.Enum):
    """What a step failure does to the rest of the run.

    ``FAIL_FAST``: the first failure cancels the running steps (they end ``CANCELLED``) and
    nothing else starts (``SKIPPED``).  ``CONTINUE``: independent branches run to the end;
    only the (transitive) dependents of a failed step are ``SKIPPED``.
    """

    FAIL_FAST = "fail_fast"
    CONTINUE = "continue"


# A timeout in seconds: > 0 or None (inf allowed: never times out).
_TIMEOUT = number_validator(strict=True, allow_none=True, allow_inf=True)


def _check_retry(_step: object, _attribute: object, value: RetryPolicy | None) -> None:
    if value is not None:
        # Imported here: a workflow without retries (most of ``trio-orch run``'s) never loads
        # the retry machinery; whoever made ``value`` has loaded it already.
        from trio_orch.primitives import RetryPolicy

        check_instance("retry", value, RetryPolicy, "a RetryPolicy", allow_none=True)


def _to_deps(value: object) -> tuple[DependencyRef, ...]:
    if isinstance(value, str) or callable(value):
        msg = f"depends_on must be a list of step names or step functions, got {value!r}"
        raise TypeError(msg)
    if not isinstance(value, Iterable):
        msg = f"depends_on must be a list of step names or step functions, got {value!r}"
        raise TypeError(msg)
    deps = tuple(value)
    for dep in deps:
        if not (isinstance(dep, str) or callable(dep)):
            msg = f"depends_on items must be step names or step functions, got {dep!r}"
            raise TypeError(msg)
    return deps


@final
@attrs.frozen
class Step:
    """One step of a workflow, in data form: ``Step("build", build, depends_on=["test"])``.

    ``@wf.step(...)`` builds the same object from a decorated function.

    Args:
        name: unique within the workflow; dependents receive this step's value under it.
        fn: ``async def fn(ctx: StepContext, **dependency_results)``.  It is called with the
            :class:`StepContext` as the only positional argument and, as keyword arguments,
            the results of those dependencies that its signature names (all of them if it
            takes ``**kwargs``).  Every dependency result is also in ``ctx.results``.
        depends_on: step names, or step functions decorated with ``@wf.step``, that must
            succeed before this step starts.
        retry: a :class:`~trio_orch.RetryPolicy` for this step's attempts, or ``None`` for a
            single attempt.
        timeout: seconds each attempt may take, or ``None``.  A timed-out attempt fails with
            :class:`trio.TooSlowError` (retried when the policy's ``retry_on`` accepts it, as
            the default :func:`~trio_orch.is_transient` does).
        compensate: ``async def undo(ctx, value)``, run if the workflow fails after this step
            succeeded (saga style; see :class:`Workflow`).
        compensation_timeout: seconds the compensation may take (default: the workflow's).

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: ``name`` is empty or a timeout is not > 0.
    """

    name: str = attrs.field(validator=nonempty_str_validator())
    fn: StepFn = attrs.field(validator=callable_validator())
    depends_on: tuple[DependencyRef, ...] = attrs.field(
        default=(), converter=_to_deps, kw_only=True
    )
    retry: RetryPolicy | None = attrs.field(
        default=None,
        kw_only=True,
        validator=_check_retry,
    )
    timeout: float | None = attrs.field(default=None, kw_only=True, validator=_TIMEOUT)
    compensate: CompensateFn | None = attrs.field(
        default=None, kw_only=True, validator=callable_validator(allow_none=True)
    )
    compensation_timeout: float | None = attrs.field(default=None, kw_only=True, validator=_TIMEOUT)

    @property
    def dependencies(self) -> tuple[str, ...]:
        """``depends_on`` as names (step functions are shown by their ``__name__``)."""
        return tuple(d if isinstance(d, str) else _fn_name(d) for d in self.depends_on)


def _fn_name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__name__", repr(fn)))


@final
@attrs.frozen
class StepResult:
    """What one step did in a run.

    Attributes:
        status: the final :class:`StepStatus` (``PENDING``/``RUNNING`` only in a snapshot).
        value: what the step returned (``None`` unless ``SUCCEEDED``).
        error: the exception of its last attempt (``FAILED``), else ``None``.
        attempts: how many attempts started (0 if it never started).
        started_at: ``trio.current_time()`` when it started, or ``None``.
        finished_at: ``trio.current_time()`` when it ended, or ``None``.
        reason: why a ``SKIPPED`` or ``CANCELLED`` step did not finish (``"dependency 'a'
            failed"``, ``"step 'a' failed"`` under fail-fast, ``"workflow cancelled"``);
            ``None`` for the other statuses.
    """

    status: StepStatus
    value: Any = None
    error: BaseException | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = attrs.field(default=None, kw_only=True)

    @property
    def duration(self) -> float | None:
        """``finished_at - started_at``, or ``None`` if the step did not run to an end."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@final
@attrs.frozen
class CompensationResult:
    """What one compensation did after a failed or cancelled run.

    Attributes:
        step: the name of the step it compensated.
        error: ``None`` if it completed; the exception it raised, or a
            :class:`trio.TooSlowError` if it overran its ``compensation_timeout``.
        started_at: ``trio.current_time()`` when it started.
        finished_at: ``trio.current_time()`` when it ended.
    """

    step: str
    error: BaseException | None
    started_at: float
    finished_at: float

    @property
    def ok(self) -> bool:
        """True if the compensation completed without error."""
        return self.error is None


@final
@attrs.frozen
class WorkflowResult:
    """What a whole run did: ``WorkflowResult(status, steps={name: StepResult(...)})``.

    :meth:`Workflow.run` fills in every attribute; the keyword-only ones have defaults only
    so that results can be built by hand (in tests, say).

    Attributes:
        status: the :class:`WorkflowStatus`.
        steps: ``{name: StepResult}`` for every step, in definition order (read-only).
        workflow: the workflow's id.
        started_at: ``trio.current_time()`` when the run started.
        finished_at: ``trio.current_time()`` when it ended (after any compensations).
        compensations: ``{name: CompensationResult}`` in the order the compensations ran
            (reverse completion order of the succeeded steps); empty if none ran.
    """

    status: WorkflowStatus
    steps: Mapping[str, StepResult]
    workflow: str = attrs.field(default="", kw_only=True)
    started_at: float = attrs.field(default=0.0, kw_only=True)
    finished_at: float = attrs.field(default=0.0, kw_only=True)
    compensations: Mapping[str, CompensationResult] = attrs.field(factory=dict, kw_only=True)

    def __getitem__(self, name: str) -> StepResult:
        """The :class:`StepResult` of step ``name`` (``KeyError`` if there is none)."""
        return self.steps[name]

    @property
    def ok(self) -> bool:
        """True if every step succeeded."""
        return self.status is WorkflowStatus.SUCCEEDED

    @property
    def values(self) -> dict[str, Any]:
        """``{name: value}`` of the steps that succeeded."""
        return {n: r.value for n, r in self.steps.items() if r.status is StepStatus.SUCCEEDED}

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the steps that failed, in definition order."""
        return self._named(StepStatus.FAILED)

    @property
    def skipped(self) -> tuple[str, ...]:
        """Names of the steps that never started, in definition order."""
        return self._named(StepStatus.SKIPPED)

    @property
    def cancelled(self) -> tuple[str, ...]:
        """Names of the steps that were cancelled while running, in definition order."""
        return self._named(StepStatus.CANCELLED)

    @property
    def compensation_errors(self) -> dict[str, BaseException]:
        """``{step: error}`` of the compensations that failed or timed out."""
        return {n: c.error for n, c in self.compensations.items() if c.error is not None}

    def _named(self, status: StepStatus) -> tuple[str, ...]:
        return tuple(n for n, r in self.steps.items() if r.status is status)


@final
@attrs.frozen
class StepAttempt:
    """One attempt of a step, as the ``on_attempt`` hook of :meth:`Workflow.run` sees it.

    The hook is called twice per attempt: when it starts (``finished_at`` is ``None``) and
    when it has ended and the step's retry policy has decided what comes next
    (``finished_at`` set; ``will_retry`` says whether another attempt follows).

    Attributes:
        workflow: the workflow's id.
        step: the step's name.
        attempt: the attempt's number (1 for the first).
        max_attempts: the attempts the step's retry policy allows (1 without one).
        started_at: ``trio.current_time()`` when the attempt started.
        finished_at: ``trio.current_time()`` when it ended; ``None`` in the start call.
        error: what the attempt raised (a :class:`trio.TooSlowError` if it overran the
            step's ``timeout``); ``None`` if it succeeded or is running.
        will_retry: True if the policy will start another attempt (after its backoff).
    """

    workflow: str
    step: str
    attempt: int
    max_attempts: int
    started_at: float
    finished_at: float | None = None
    error: BaseException | None = None
    will_retry: bool = False

    @property
    def running(self) -> bool:
        """True in the call made when the attempt starts."""
        return self.finished_at is None

    @property
    def duration(self) -> float | None:
        """``finished_at - started_at``, or ``None`` while running."""
        return None if self.finished_at is None else self.finished_at - self.started_at


@final
@attrs.frozen
class WorkflowPlan:
    """What :meth:`Workflow.run` would run, in order: :meth:`Workflow.plan` returns it.

    A read-only sequence of :class:`Step`, dependencies first (ties in definition order),
    each with ``depends_on`` resolved to step names (a function reference becomes its step's
    name, a repeated dependency is listed once).

    Attributes:
        workflow: the workflow's id.
        steps: the steps in execution order.
        targets: the steps asked for (``None``: all of them); ``steps`` holds them and
            everything they depend on, transitively.
    """

    workflow: str
    steps: tuple[Step, ...]
    targets: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index: int) -> Step:
        return self.steps[index]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __contains__(self, name: object) -> bool:
        return any(step.name == name for step in self.steps)

    @property
    def names(self) -> tuple[str, ...]:
        """The step names, in execution order."""
        return tuple(step.name for step in self.steps)

    def step(self, name: str) -> Step:
        """The planned step called ``name``.

        Raises:
            KeyError: no step of the plan has that name.
        """
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def dependents(self, name: str) -> tuple[str, ...]:
        """Names of the planned steps that depend on ``name`` directly, in plan order."""
        return tuple(step.name for step in self.steps if name in step.depends_on)


# --- compiled plans ----------------------------------------------------------------------


@final
@attrs.frozen
class Node:
    """A step compiled for scheduling: integer dependencies and what to pass to ``fn``."""

    index: int
    step: Step
    deps: tuple[int, ...]
    dep_names: tuple[str, ...]
    #: names of the dependency results passed as keyword arguments
    kwargs: tuple[str, ...]
    #: the function takes a positional argument: the StepContext goes there
    pass_context: bool = True
    #: (name, index) of the dependencies in ``kwargs``
    kw_pairs: tuple[tuple[str, int], ...] = attrs.field(init=False)
    #: no retry policy and no timeout: a single plain call
    simple: bool = attrs.field(init=False)

    @kw_pairs.default
    def _kw_pairs(self) -> tuple[tuple[str, int], ...]:
        where = dict(zip(self.dep_names, self.deps, strict=True))
        return tuple((name, where[name]) for name in self.kwargs)

    @simple.default
    def _simple(self) -> bool:
        return self.step.retry is None and self.step.timeout is None


@final
class HotStep:
    """All that the scheduler reads of a step, in one small object (named slots).

    A uniform random DAG runs its steps in an order unrelated to where they are in memory,
    so at 100,000 steps (a plan bigger than the CPU caches) each object read per step is a
    cache miss: one compact object per step keeps that to one or two.
    """

    __slots__ = ("dependents", "fn", "kw_pairs", "name", "pass_context", "simple")

    def __init__(self, node: Node, dependents: tuple[int, ...]) -> None:
        self.name: str = node.step.name
        self.fn: StepFn = node.step.fn
        #: (name, index) of the dependency results passed as keyword arguments
        self.kw_pairs: tuple[tuple[str, int], ...] = node.kw_pairs
        #: the function takes the StepContext positionally
        self.pass_context: bool = node.pass_context
        #: no retry policy and no timeout: a single plain call
        self.simple: bool = node.simple
        #: indices of the steps that depend on this one
        self.dependents: tuple[int, ...] = dependents


@final
@attrs.frozen
class Plan:
    """A validated workflow: nodes in definition order, dependents lists, a topological order."""

    workflow: str
    nodes: tuple[Node, ...]
    dependents: tuple[tuple[int, ...], ...]
    order: tuple[int, ...]
    #: step name -> index
    index: Mapping[str, int] = attrs.field(init=False, eq=False, repr=False)
    #: per step, all that the scheduler reads of it (see :class:`HotStep`)
    hot: tuple[HotStep, ...] = attrs.field(init=False, eq=False, repr=False)
    #: each step's number of dependencies, copied by each run as its countdown
    indegrees: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)

    @indegrees.default
    def _indegrees(self) -> tuple[int, ...]:
        return tuple(len(node.deps) for node in self.nodes)

    @hot.default
    def _hot(self) -> tuple[HotStep, ...]:
        return tuple(HotStep(n, js) for n, js in zip(self.nodes, self.dependents, strict=True))

    @index.default
    def _index(self) -> Mapping[str, int]:
        return {node.step.name: node.index for node in self.nodes}


def _error(workflow: str, message: str) -> WorkflowDefinitionError:
    return WorkflowDefinitionError(message, workflow=workflow)


def check_duplicate(workflow: str, names: Mapping[str, object], name: str) -> None:
    """Raise :class:`WorkflowDefinitionError` if ``name`` is already in ``names``."""
    if name in names:
        msg = f"duplicate step name {name!r} in workflow {workflow!r}"
        raise _error(workflow, msg)


def compile_steps(
    workflow: str, steps: Iterable[Step], by_fn: Mapping[Callable[..., Any], str]
) -> Plan:
    """Validate ``steps`` and compile them into a :class:`Plan`.

    Args:
        workflow: the workflow id (for messages).
        steps: the steps, in definition order.
        by_fn: step functions registered with the workflow, to resolve function references.

    Raises:
        WorkflowDefinitionError: duplicate name, unknown dependency, cycle, bad signature.
    """
    steps = tuple(steps)
    # One int object per index, allocated together: the plan's tuples all share them, so the
    # scheduler's hot loop touches one dense block, not ints scattered over the whole plan
    # (which at 100,000 steps is far bigger than the CPU caches).
    ids = list(range(len(steps)))
    index: dict[str, int] = {}
    for i, step in zip(ids, steps, strict=True):
        check_duplicate(workflow, index, step.name)
        index[step.name] = i
    nodes = []
    dependents: list[list[int]] = [[] for _ in steps]
    signatures: dict[object, _Signature | None] = {}
    for i, step in zip(ids, steps, strict=True):
        names = _resolve(workflow, step, index, by_fn)
        deps = tuple(index[n] for n in names)
        for d in deps:
            dependents[d].append(i)
        key = _signature_key(step.fn)
        try:
            sig = signatures[key]
        except KeyError:
            sig = signatures[key] = _signature(step.fn)
        except TypeError:  # an unhashable callable
            sig = _signature(step.fn)
        kwargs = _kwargs_for(workflow, step, names, sig)
        nodes.append(
            Node(
                index=i,
                step=step,
                deps=deps,
                dep_names=names,
                kwargs=kwargs,
                pass_context=sig is None or sig.takes_context,
            )
        )
    order = _topological(workflow, nodes, dependents)
    return Plan(
        workflow=workflow,
        nodes=tuple(nodes),
        dependents=tuple(tuple(d) for d in dependents),
        order=order,
    )


def _resolve(
    workflow: str,
    step: Step,
    index: Mapping[str, int],
    by_fn: Mapping[Callable[..., Any], str],
) -> tuple[str, ...]:
    names: list[str] = []
    for dep in step.depends_on:
        if isinstance(dep, str):
            name = dep
        else:
            found = by_fn.get(dep)
            if found is None:
                msg = (
                    f"step {step.name!r} depends on {_fn_name(dep)!r}, "
                    f"which is not a step of workflow {workflow!r}"
                )
                raise _error(workflow, msg)
            name = found
        if name not in index:
            msg = f"step {step.name!r} depends on unknown step {name!r}"
            raise _error(workflow, msg)
        if name not in names:
            names.append(name)
    return tuple(names)


def _signature_key(fn: Callable[..., Any]) -> object:
    """What ``fn``'s signature depends on: the function itself, or for a
    :func:`functools.partial` its function and how many arguments it binds (many steps built
    from one function then share one inspection)."""
    if isinstance(fn, partial):
        return (partial, fn.func, len(fn.args), tuple(fn.keywords))
    return fn


@attrs.frozen
class _Signature:
    """What the workflow needs to know about a step function's signature."""

    takes_context: bool
    var_keyword: bool
    named: frozenset[str]
    required: tuple[str, ...]


_P = inspect.Parameter
_POSITIONAL = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD, _P.VAR_POSITIONAL)


def _signature(fn: Callable[..., Any]) -> _Signature | None:
    """``fn``'s signature summary, or None if it cannot be inspected."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # not introspectable (some builtins)
        return None
    params = list(sig.parameters.values())
    takes_context = bool(params) and params[0].kind in _POSITIONAL
    rest = params[1:] if takes_context else params
    return _Signature(
        takes_context=takes_context,
        var_keyword=any(p.kind is _P.VAR_KEYWORD for p in params),
        named=frozenset(p.name for p in rest if p.kind is not _P.POSITIONAL_ONLY),
        required=tuple(
            p.name
            for p in rest
            if p.default is _P.empty and p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD)
        ),
    )


def _kwargs_for(
    workflow: str, step: Step, deps: tuple[str, ...], sig: _Signature | None
) -> tuple[str, ...]:
    """The dependency names to pass as keywords: those the signature names, or all of them."""
    if sig is None or sig.var_keyword:
        return deps
    for name in sig.required:
        if name not in deps:
            msg = (
                f"step {step.name!r}: parameter {name!r} is not one of its dependencies "
                f"{list(deps)!r}"
            )
            raise _error(workflow, msg)
    return tuple(d for d in deps if d in sig.named)


def _topological(workflow: str, nodes: list[Node], dependents: list[list[int]]) -> tuple[int, ...]:
    """Kahn's algorithm, FIFO in definition order; name a cycle if one is left over."""
    indegree = [len(n.deps) for n in nodes]
    ready = deque(i for i, d in enumerate(indegree) if d == 0)
    order: list[int] = []
    while ready:
        i = ready.popleft()
        order.append(i)
        for j in dependents[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
    if len(order) < len(nodes):
        cycle = _find_cycle(nodes, {i for i, d in enumerate(indegree) if d > 0})
        k = cycle.index(min(cycle[:-1]))
        cycle = [*cycle[k:-1], *cycle[:k], cycle[k]]
        path = " -> ".join(repr(nodes[i].step.name) for i in cycle)
        msg = f"dependency cycle in workflow {workflow!r}: {path}"
        raise _error(workflow, msg)
    return tuple(order)


def _find_cycle(nodes: list[Node], left: set[int]) -> list[int]:
    """One cycle among ``left`` (every node there sits on or behind a cycle), first to last."""
    # Walk dependency edges from the smallest leftover node: every leftover node has a
    # leftover dependency, so the walk must revisit a node; the revisited stretch is a cycle.
    start = min(left)
    seen: dict[int, int] = {}
    path: list[int] = []
    i = start
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        i = next(d for d in nodes[i].deps if d in left)
    cycle = path[seen[i] :]
    # Show it in execution direction (dependency first), closing the loop.
    cycle.reverse()
    return [*cycle, cycle[0]]
