"""The events a workflow run publishes on an event bus.

Pass a bus to :class:`trio_orch.Workflow` (``bus=``) or to :meth:`trio_orch.Workflow.run` and
the run emits, with the bus's non-blocking ``emit``:

* :class:`WorkflowStarted` once, before any step starts;
* per step: :class:`StepStarted`, then any :class:`StepProgress` and :class:`StepRetrying`,
  then one of :class:`StepSucceeded`, :class:`StepFailed` or :class:`StepCancelled`
  — or only :class:`StepSkipped` for a step that never started;
* :class:`StepCompensated` for each compensation that ran;
* :class:`WorkflowFinished` once, last.

All of them subclass :class:`WorkflowEvent`, so ``bus.on(WorkflowEvent, handler)`` sees every
one.  They are not logged: the stdlib logger ``trio_orch.workflow`` gets only the unusual
paths (a step failure at INFO, a failed compensation or a dropped event at WARNING; retries and
give-ups are logged by :func:`trio_orch.retry` as ``trio_orch.retry.*``).
"""

from __future__ import annotations

from typing import final

import attrs

from trio_orch.engines._workflow_model import WorkflowStatus  # noqa: TC001 - kept for attrs.resolve_types/cattrs
from trio_orch.events import SystemEvent


@attrs.frozen
class WorkflowEvent(SystemEvent):
    """Base class of every event a workflow run publishes.

    Attributes:
        workflow: the id of the workflow.
    """

    workflow: str


@final
@attrs.frozen
class WorkflowStarted(WorkflowEvent):
    """A run started.

    Attributes:
        steps: how many steps the workflow has.
        at: ``trio.current_time()`` at the start.
    """

    steps: int
    at: float


@final
@attrs.frozen
class WorkflowFinished(WorkflowEvent):
    """A run ended (after its compensations, if any).

    Attributes:
        status: the :class:`~trio_orch.WorkflowStatus`.
        at: ``trio.current_time()`` at the end.
        duration: seconds since :class:`WorkflowStarted`.
    """

    status: WorkflowStatus
    at: float
    duration: float


@final
@attrs.frozen
class StepStarted(WorkflowEvent):
    """A step started (its first attempt).

    Attributes:
        step: the step's name.
        at: ``trio.current_time()``.
    """

    step: str
    at: float


@final
@attrs.frozen
class StepProgress(WorkflowEvent):
    """A step reported progress with ``ctx.progress(fraction)``.

    Attributes:
        step: the step's name.
        fraction: the progress, in [0, 1].
    """

    step: str
    fraction: float


@final
@attrs.frozen
class StepRetrying(WorkflowEvent):
    """An attempt of a step failed and another one starts after ``delay`` seconds.

    Attributes:
        step: the step's name.
        attempt: the number of the attempt that failed (1 for the first).
        delay: the seconds slept before the next attempt.
        error: the exception of the failed attempt.
    """

    step: str
    attempt: int
    delay: float
    error: BaseException = attrs.field(eq=False)


@final
@attrs.frozen
class StepSucceeded(WorkflowEvent):
    """A step returned a value.

    Attributes:
        step: the step's name.
        attempts: attempts made.
        duration: seconds from its start.
    """

    step: str
    attempts: int
    duration: float


@final
@attrs.frozen
class StepFailed(WorkflowEvent):
    """A step's last attempt raised ``error``.

    Attributes:
        step: the step's name.
        attempts: attempts made.
        error: the exception.
    """

    step: str
    attempts: int
    error: BaseException = attrs.field(eq=False)


@final
@attrs.frozen
class StepCancelled(WorkflowEvent):
    """A running step was cancelled (fail-fast, or the run was cancelled from outside).

    Attributes:
        step: the step's name.
        attempts: attempts made.
    """

    step: str
    attempts: int


@final
@attrs.frozen
class StepSkipped(WorkflowEvent):
    """A step never started.

    Attributes:
        step: the step's name.
        reason: why: ``"dependency 'x' failed"``, ``"step 'x' failed"`` (fail-fast) or
            ``"workflow cancelled"``.
    """

    step: str
    reason: str


@final
@attrs.frozen
class StepCompensated(WorkflowEvent):
    """A succeeded step's compensation ran after the workflow failed or was cancelled.

    Attributes:
        step: the compensated step's name.
        error: ``None`` if the compensation completed, else its exception (a
            :class:`TimeoutError` if it overran its timeout).
    """

    step: str
    error: BaseException | None = attrs.field(eq=False)
