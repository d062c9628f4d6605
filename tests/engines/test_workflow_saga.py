"""Workflow compensation (sagas): order, timeouts, failures, cancellation, events."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from trio_orch import (
    CompensationResult,
    FailurePolicy,
    Step,
    StepCompensated,
    StepContext,
    Workflow,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowStatus,
    open_event_bus,
)


def make(log: list[str]) -> tuple[Any, Any]:
    async def do(ctx: StepContext, **_: Any) -> str:
        await trio.sleep(1)
        log.append(f"do {ctx.name}")
        return f"{ctx.name}-value"

    async def undo(ctx: StepContext, value: str) -> None:
        log.append(f"undo {ctx.name} {value} at {trio.current_time()}")
        await trio.sleep(0.5)

    return do, undo


async def boom(ctx: StepContext, **_: Any) -> None:
    await trio.sleep(1)
    raise RuntimeError("payment declined")


async def test_compensations_run_in_reverse_completion_order(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    do, undo = make(log)
    wf = Workflow(
        "trip",
        steps=[
            Step("flight", do, compensate=undo),
            Step("hotel", do, compensate=undo, depends_on=["flight"]),
            Step("car", do, depends_on=["flight"]),  # nothing to undo
            Step("pay", boom, depends_on=["hotel", "car"]),
            Step("mail", do, compensate=undo, depends_on=["pay"]),
        ],
    )
    with pytest.raises(WorkflowFailed) as info:
        await wf.run()
    result = info.value.result
    assert log[-2:] == ["undo hotel hotel-value at 3.0", "undo flight flight-value at 3.5"]
    assert list(result.compensations) == ["hotel", "flight"]
    assert result.compensations["hotel"] == CompensationResult("hotel", None, 3.0, 3.5)
    assert result.compensation_errors == {}
    assert result.finished_at == 4.0
    assert info.value.__cause__ is result["pay"].error
    assert (
        str(info.value) == "workflow 'trip' failed: step 'pay' (RuntimeError('payment declined'))"
    )


async def test_compensation_failures_are_collected_not_raised(
    autojump_clock: trio.abc.Clock,
) -> None:
    order: list[str] = []

    async def ok(ctx: StepContext, **_: Any) -> int:
        await trio.sleep(1)
        return 1

    async def undo_fails(ctx: StepContext, value: int) -> None:
        order.append(ctx.name)
        await trio.sleep(0.1)
        raise OSError("cannot undo")

    async def undo_hangs(ctx: StepContext, value: int) -> None:
        order.append(ctx.name)
        await trio.sleep(100)

    async def undo_ok(ctx: StepContext, value: int) -> None:
        order.append(ctx.name)
        await trio.sleep(0.1)

    wf = Workflow(
        "saga",
        compensation_timeout=5,
        steps=[
            Step("a", ok, compensate=undo_ok),
            Step("b", ok, compensate=undo_hangs, depends_on=["a"], compensation_timeout=2),
            Step("c", ok, compensate=undo_fails, depends_on=["b"]),
            Step("d", boom, depends_on=["c"]),
        ],
    )
    with pytest.raises(WorkflowFailed) as info:
        await wf.run()
    result = info.value.result
    assert order == ["c", "b", "a"]
    errors = result.compensation_errors
    assert list(errors) == ["c", "b"]
    assert str(errors["c"]) == "cannot undo"
    assert isinstance(errors["b"], trio.TooSlowError)
    assert str(errors["b"]) == "compensation of step 'b' timed out after 2s"
    assert result.compensations["a"].ok
    assert trio.current_time() == 4 + 0.1 + 2 + 0.1
    assert str(info.value) == (
        "workflow 'saga' failed: step 'd' (RuntimeError('payment declined')); "
        "compensations failed: 'c' (OSError('cannot undo')), "
        "'b' (TooSlowError(\"compensation of step 'b' timed out after 2s\"))"
    )
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_compensation_nursery_failing_at_its_timeout_is_recorded(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def ok(ctx: StepContext) -> int:
        await trio.sleep(1)
        return 1

    async def undo_with_nursery(ctx: StepContext, value: int) -> None:
        async def child() -> None:
            try:
                await trio.sleep(100)
            except trio.Cancelled:
                raise OSError("undo cleanup failed") from None

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
            await trio.sleep(100)

    wf = Workflow(
        "saga-group",
        steps=[
            Step("a", ok, compensate=undo_with_nursery, compensation_timeout=2),
            Step("b", boom, depends_on=["a"]),
        ],
    )
    with pytest.raises(WorkflowFailed) as info:
        await wf.run()
    error = info.value.result.compensation_errors["a"]
    assert isinstance(error, ExceptionGroup)
    assert [str(e) for e in error.exceptions] == ["undo cleanup failed"]
    assert trio.current_time() == 2 + 2


async def test_no_compensation_when_the_run_succeeds(autojump_clock: trio.abc.Clock) -> None:
    log: list[str] = []
    do, undo = make(log)
    result = await Workflow("ok", steps=[Step("a", do, compensate=undo)]).run()
    assert log == ["do a"]
    assert result.compensations == {}


async def test_failed_and_cancelled_steps_are_not_compensated(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    do, undo = make(log)

    async def slow(ctx: StepContext) -> None:
        await trio.sleep(10)

    wf = Workflow(
        "ff",
        steps=[
            Step("a", do, compensate=undo),
            Step("slow", slow, compensate=undo),
            Step("bad", boom, compensate=undo, depends_on=["a"]),
        ],
    )
    result = await wf.run(check=False)
    assert result.cancelled == ("slow",)
    assert list(result.compensations) == ["a"]


async def test_continue_policy_compensates_after_the_branches_end(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    _, undo = make(log)

    async def long(ctx: StepContext) -> str:
        await trio.sleep(3)
        log.append("do long")
        return "long-value"

    wf = Workflow(
        "cont",
        failure=FailurePolicy.CONTINUE,
        steps=[Step("bad", boom), Step("long", long, compensate=undo)],
    )
    result = await wf.run(check=False)
    assert log == ["do long", "undo long long-value at 3.0"]
    assert result.status is WorkflowStatus.FAILED


async def test_outside_cancel_runs_compensations_shielded(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    do, undo = make(log)

    async def slow(ctx: StepContext, a: str) -> None:
        await trio.sleep(10)

    wf = Workflow(
        "cancel",
        steps=[Step("a", do, compensate=undo), Step("b", slow, depends_on=["a"], compensate=undo)],
    )
    with trio.move_on_after(1.5) as scope:
        await wf.run()
    assert scope.cancelled_caught
    # the compensation ran after the cancellation, to its end, despite the cancelled scope
    assert log == ["do a", "undo a a-value at 1.5"]
    assert trio.current_time() == 2.0
    assert wf.last_result is not None
    assert wf.last_result.status is WorkflowStatus.CANCELLED
    assert list(wf.last_result.compensations) == ["a"]


async def test_compensation_events(autojump_clock: trio.abc.Clock) -> None:
    log: list[str] = []
    do, _ = make(log)

    async def bad_undo(ctx: StepContext, value: str) -> None:
        await trio.lowlevel.checkpoint()
        raise OSError("nope")

    events: list[WorkflowEvent] = []
    async with open_event_bus() as bus:
        bus.on(WorkflowEvent, events.append)
        wf = Workflow(
            "ev",
            bus=bus,
            steps=[Step("a", do, compensate=bad_undo), Step("b", boom, depends_on=["a"])],
        )
        await wf.run(check=False)
    compensated = [e for e in events if isinstance(e, StepCompensated)]
    assert len(compensated) == 1
    assert compensated[0].step == "a"
    assert str(compensated[0].error) == "nope"
    assert type(events[-1]).__name__ == "WorkflowFinished"
    assert events.index(compensated[0]) == len(events) - 2


async def test_compensation_context_has_the_step_results(autojump_clock: trio.abc.Clock) -> None:
    seen: dict[str, Any] = {}

    async def first(ctx: StepContext) -> int:
        await trio.sleep(1)
        return 1

    async def second(ctx: StepContext, first: int) -> int:
        await trio.sleep(1)
        return first + 1

    async def undo(ctx: StepContext, value: int) -> None:
        await trio.lowlevel.checkpoint()
        seen.update(name=ctx.name, results=dict(ctx.results), value=value, attempt=ctx.attempt)

    wf = Workflow(
        "ctx",
        steps=[
            Step("first", first),
            Step("second", second, depends_on=["first"], compensate=undo),
            Step("third", boom, depends_on=["second"]),
        ],
    )
    await wf.run(check=False)
    assert seen == {"name": "second", "results": {"first": 1}, "value": 2, "attempt": 1}
