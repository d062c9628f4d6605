"""Sagas: undo the succeeded steps of a failed or cancelled run, newest first.

Each compensation runs shielded from cancellation and bounded by its timeout, one after the
other, in reverse completion order.  A compensation's own failure (or overrun) is recorded in a
:class:`~trio_orch.CompensationResult`, logged, and emitted; it never replaces the failure (or
cancellation) that made the workflow compensate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from trio_orch._lazy import LazyModule
from trio_orch.engines._workflow_model import CompensationResult
from trio_orch.engines._workflow_run import StepContext

if TYPE_CHECKING:
    from trio_orch.engines import _workflow_events as ev
    from trio_orch.engines._workflow_run import _Run
else:  # loaded with the first event emitted: a run without a bus never imports them
    ev = LazyModule("trio_orch.engines._workflow_events")


async def compensate(
    run: _Run, *, default_timeout: float, needed: bool = True
) -> dict[str, CompensationResult]:
    """Run the compensations of ``run``'s succeeded steps in reverse completion order.

    Args:
        run: the finished run.
        default_timeout: seconds for a compensation whose step sets no
            ``compensation_timeout``.
        needed: False to only checkpoint (the run needs no compensation).

    Returns:
        ``{step name: CompensationResult}`` in the order they ran.

    Raises:
        Nothing for a compensation's :class:`Exception`: it is recorded.  A
        ``KeyboardInterrupt``/``SystemExit`` from a compensation propagates.

    Cancellation:
        Shielded: each compensation runs to its end or its timeout even if the caller is
        cancelled; the cancellation is delivered at the caller's next checkpoint.
    """
    results: dict[str, CompensationResult] = {}
    for i in reversed(run.completed if needed else ()):
        node = run.plan.nodes[i]
        step = node.step
        if step.compensate is None:
            continue
        timeout = step.compensation_timeout or default_timeout
        ctx = StepContext(step.name, run.plan.workflow, run.attempts[i], run.inputs, run, i)
        started = trio.current_time()
        error: BaseException | None = None
        # The try is outside the scopes: a compensation's nursery that fails while the
        # timeout cancels it raises an ExceptionGroup from the scope's exit, not from the call.
        try:
            with trio.CancelScope(shield=True), trio.move_on_after(timeout) as scope:
                await step.compensate(ctx, run.values[i])
        except Exception as exc:
            error = exc
        if scope.cancelled_caught and error is None:
            msg = f"compensation of step {step.name!r} timed out after {timeout:g}s"
            error = trio.TooSlowError(msg)
        results[step.name] = CompensationResult(
            step=step.name, error=error, started_at=started, finished_at=trio.current_time()
        )
        if error is not None:
            run.log.warning(
                "trio_orch.workflow.compensation_failed", step=step.name, error=repr(error)
            )
        if run.emit is not None:
            run.emit(ev.StepCompensated(run.plan.workflow, step.name, error))
    await trio.lowlevel.cancel_shielded_checkpoint()
    return results
