"""Workflow: scheduling, results, failure policies, retry/timeout, cancellation, events."""

from __future__ import annotations

import logging
import pickle
from functools import partial
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from trio_orch import (
    FailurePolicy,
    Jitter,
    RetryPolicy,
    Step,
    StepCancelled,
    StepContext,
    StepFailed,
    StepProgress,
    StepResult,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepStatus,
    StepSucceeded,
    Workflow,
    WorkflowDefinitionError,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowFinished,
    WorkflowResult,
    WorkflowStarted,
    WorkflowStatus,
    open_event_bus,
    open_progress_tracker,
    retry_testing,
)

NO_JITTER: dict[str, Any] = {"jitter": Jitter.NONE, "multiplier": 2.0}


def sleeper(seconds: float, value: Any = None, log: list[str] | None = None) -> Any:
    async def fn(ctx: StepContext, **_: Any) -> Any:
        if log is not None:
            log.append(f"start {ctx.name} {trio.current_time()}")
        await trio.sleep(seconds)
        return value

    return fn


async def fail(ctx: StepContext, **_: Any) -> None:
    await trio.sleep(1)
    raise ValueError(f"{ctx.name} broke")


# --- results and scheduling ------------------------------------------------------------


async def test_results_by_name_and_kwargs_rules(autojump_clock: trio.abc.Clock) -> None:
    wf = Workflow("demo")
    seen: dict[str, Any] = {}

    @wf.step()
    async def a(ctx: StepContext) -> int:
        await trio.sleep(1)
        return 1

    @wf.step(depends_on=[a])
    async def b(ctx: StepContext, a: int) -> int:
        return a + 1

    @wf.step(depends_on=[a, "b"])
    async def named_subset(ctx: StepContext, b: int) -> int:
        seen["subset_results"] = dict(ctx.results)
        return b * 10

    @wf.step(depends_on=[a, b])
    async def all_kwargs(ctx: StepContext, **kwargs: int) -> dict[str, int]:
        return kwargs

    @wf.step(depends_on=[a])
    async def optional(ctx: StepContext, a: int, extra: int = 7) -> int:
        return a + extra

    result = await wf.run()
    assert result.status is WorkflowStatus.SUCCEEDED
    assert result.ok
    assert result.values == {
        "a": 1,
        "b": 2,
        "named_subset": 20,
        "all_kwargs": {"a": 1, "b": 2},
        "optional": 8,
    }
    assert seen["subset_results"] == {"a": 1, "b": 2}
    assert result["a"] == StepResult(StepStatus.SUCCEEDED, 1, None, 1, 0.0, 1.0)
    assert (result.started_at, result.finished_at) == (0.0, 1.0)
    assert wf.last_result is result


async def test_independent_steps_run_concurrently(autojump_clock: trio.abc.Clock) -> None:
    wf = Workflow(
        "fan",
        steps=[
            Step("a", sleeper(1)),
            Step("b", sleeper(2)),
            Step("c", sleeper(1), depends_on=["a", "b"]),
            Step("d", sleeper(3), depends_on=["a"]),
        ],
    )
    result = await wf.run()
    times = {n: (r.started_at, r.finished_at) for n, r in result.steps.items()}
    assert times == {"a": (0, 1), "b": (0, 2), "c": (2, 3), "d": (1, 4)}
    assert trio.current_time() == 4


async def test_max_concurrent_bounds_running_steps(autojump_clock: trio.abc.Clock) -> None:
    running = 0
    peak = 0

    async def step(ctx: StepContext) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(1)
        running -= 1

    wf = Workflow("cap", max_concurrent=2, steps=[Step(f"s{i}", step) for i in range(5)])
    result = await wf.run()
    assert peak == 2
    assert [r.started_at for r in result.steps.values()] == [0, 0, 1, 1, 2]
    assert trio.current_time() == 3


async def test_chain_runs_in_order_and_passes_values(autojump_clock: trio.abc.Clock) -> None:
    async def inc(ctx: StepContext, **deps: int) -> int:
        await trio.sleep(0.5)
        return sum(deps.values()) + 1

    steps = [Step("s0", inc)] + [Step(f"s{i}", inc, depends_on=[f"s{i - 1}"]) for i in range(1, 10)]
    result = await Workflow("chain", steps=steps).run()
    assert result["s9"].value == 10
    assert result["s9"].finished_at == 5.0


async def test_inputs_are_read_only_in_ctx() -> None:
    wf = Workflow("inputs")

    @wf.step()
    async def read(ctx: StepContext) -> Any:
        with pytest.raises(TypeError):
            ctx.inputs["x"] = 2  # type: ignore[index]
        return ctx.inputs["x"]

    assert (await wf.run({"x": 1}))["read"].value == 1


async def test_missing_input_fails_the_step() -> None:
    wf = Workflow("inputs")

    @wf.step
    async def read(ctx: StepContext) -> Any:
        return ctx.inputs["x"]

    result = await wf.run(check=False)
    assert result.failed == ("read",)
    assert isinstance(result["read"].error, KeyError)


async def test_order_and_plan_for_dry_runs() -> None:
    async def f(ctx: StepContext, **_: Any) -> None:
        await trio.lowlevel.checkpoint()

    wf = Workflow(
        "plan",
        steps=[
            Step("deploy", f, depends_on=["build", "test"]),
            Step("build", f, depends_on=["test"], timeout=5),
            Step("test", f),
            Step("lint", f),
        ],
    )
    assert wf.order() == ["test", "lint", "build", "deploy"]
    plan = wf.plan()
    assert [s.name for s in plan] == wf.order()
    assert plan[2].depends_on == ("test",)
    assert plan[2].timeout == 5
    assert [s.name for s in wf.steps] == ["deploy", "build", "test", "lint"]


async def test_function_dependencies_resolve_to_names() -> None:
    wf = Workflow("fns")

    @wf.step(name="first")
    async def one(ctx: StepContext) -> str:
        await trio.lowlevel.checkpoint()
        return "x"

    @wf.step(depends_on=[one])
    async def two(ctx: StepContext, first: str) -> str:
        return first * 2

    assert wf.plan()[1].depends_on == ("first",)
    assert (await wf.run())["two"].value == "xx"


async def test_a_workflow_can_run_twice() -> None:
    calls = []
    wf = Workflow("again")

    @wf.step()
    async def a(ctx: StepContext) -> int:
        await trio.lowlevel.checkpoint()
        calls.append(1)
        return len(calls)

    first = await wf.run()
    second = await wf.run()
    assert (first["a"].value, second["a"].value) == (1, 2)
    assert wf.last_result is second


# --- checkpoints -------------------------------------------------------------------------


async def test_run_checkpoints_on_every_path() -> None:
    with trio.testing.assert_checkpoints():
        result = await Workflow("empty").run()
    assert result.status is WorkflowStatus.SUCCEEDED
    assert result.steps == {}

    async def trivial(ctx: StepContext) -> int:
        return 1

    with trio.testing.assert_checkpoints():
        await Workflow("trivial", steps=[Step("t", trivial)]).run()

    async def broken(ctx: StepContext) -> None:
        raise ValueError("x")

    with trio.testing.assert_checkpoints(), pytest.raises(WorkflowFailed):
        await Workflow("broken", steps=[Step("b", broken)]).run()


async def test_long_chain_of_non_checkpointing_steps_yields() -> None:
    done = 0

    async def trivial(ctx: StepContext, **_: Any) -> None:
        nonlocal done
        done += 1

    steps = [Step("s0", trivial)] + [
        Step(f"s{i}", trivial, depends_on=[f"s{i - 1}"]) for i in range(1, 200)
    ]
    seen: set[int] = set()

    async def watcher() -> None:
        while True:
            await trio.lowlevel.checkpoint()
            seen.add(done)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher)
        await Workflow("chain", steps=steps).run()
        nursery.cancel_scope.cancel()
    # the chain let the other task run in the middle (it yields every 64 steps)
    assert [v for v in sorted(seen) if 0 < v < 200]
    assert all(v % 64 == 0 for v in seen if v < 200)


# --- failures ----------------------------------------------------------------------------


def _failing_dag(policy: FailurePolicy) -> Workflow:
    return Workflow(
        "dag",
        failure=policy,
        steps=[
            Step("a", fail),
            Step("b", sleeper(5, "b")),
            Step("c", sleeper(1), depends_on=["a"]),
            Step("d", sleeper(1, "d"), depends_on=["b"]),
            Step("e", sleeper(1), depends_on=["c", "d"]),
        ],
    )


async def test_fail_fast_cancels_running_and_skips_the_rest(
    autojump_clock: trio.abc.Clock,
) -> None:
    wf = _failing_dag(FailurePolicy.FAIL_FAST)
    with pytest.raises(WorkflowFailed) as info:
        await wf.run()
    assert trio.current_time() == 1
    result = info.value.result
    assert result is wf.last_result
    assert result.status is WorkflowStatus.FAILED
    statuses = {n: r.status.name for n, r in result.steps.items()}
    assert statuses == {
        "a": "FAILED",
        "b": "CANCELLED",
        "c": "SKIPPED",
        "d": "SKIPPED",
        "e": "SKIPPED",
    }
    assert result["b"].finished_at == 1
    assert result["c"].attempts == 0
    assert result["c"].started_at is None
    assert str(info.value) == "workflow 'dag' failed: step 'a' (ValueError('a broke'))"
    assert info.value.__cause__ is result["a"].error
    assert isinstance(result["a"].error, ValueError)


async def test_continue_runs_independent_branches(autojump_clock: trio.abc.Clock) -> None:
    wf = _failing_dag(FailurePolicy.CONTINUE)
    result = await wf.run(check=False)
    assert trio.current_time() == 6
    statuses = {n: r.status.name for n, r in result.steps.items()}
    assert statuses == {
        "a": "FAILED",
        "b": "SUCCEEDED",
        "c": "SKIPPED",
        "d": "SUCCEEDED",
        "e": "SKIPPED",
    }
    assert result.status is WorkflowStatus.FAILED
    assert result.failed == ("a",)
    assert result.skipped == ("c", "e")
    with pytest.raises(WorkflowFailed, match=r"^workflow 'dag' failed: step 'a' "):
        await wf.run()


async def test_several_failures_are_all_listed(autojump_clock: trio.abc.Clock) -> None:
    wf = Workflow(
        "two",
        failure=FailurePolicy.CONTINUE,
        steps=[Step("x", fail), Step("y", fail)],
    )
    with pytest.raises(WorkflowFailed) as info:
        await wf.run()
    assert str(info.value) == (
        "workflow 'two' failed: steps 'x' (ValueError('x broke')), 'y' (ValueError('y broke'))"
    )


async def test_exception_group_from_a_step_is_a_failure() -> None:
    async def group(ctx: StepContext) -> None:
        await trio.lowlevel.checkpoint()
        raise ExceptionGroup("many", [ValueError("1"), KeyError("2")])

    result = await Workflow("g", steps=[Step("g", group)]).run(check=False)
    assert result["g"].status is StepStatus.FAILED
    assert isinstance(result["g"].error, ExceptionGroup)


async def test_base_exception_from_a_step_propagates_unwrapped(
    autojump_clock: trio.abc.Clock,
) -> None:
    class Fatal(BaseException):
        pass

    async def fatal(ctx: StepContext) -> None:
        await trio.sleep(1)
        raise Fatal

    wf = Workflow("fatal", steps=[Step("f", fatal), Step("slow", sleeper(5))])
    with pytest.raises(Fatal):
        await wf.run()
    assert wf.last_result is not None
    assert wf.last_result.status is WorkflowStatus.CANCELLED
    assert wf.last_result["f"].status is StepStatus.FAILED
    assert isinstance(wf.last_result["f"].error, Fatal)
    assert wf.last_result["slow"].status is StepStatus.CANCELLED


# --- retry and timeout -------------------------------------------------------------------


async def test_retry_counts_attempts_on_virtual_time(autojump_clock: trio.abc.Clock) -> None:
    attempts: list[tuple[int, float]] = []

    async def flaky(ctx: StepContext) -> str:
        attempts.append((ctx.attempt, trio.current_time()))
        await trio.lowlevel.checkpoint()
        if ctx.attempt < 3:
            raise ConnectionError("flaky")
        return "ok"

    policy = RetryPolicy(max_attempts=3, initial_delay=1.0, **NO_JITTER)
    result = await Workflow("r", steps=[Step("flaky", flaky, retry=policy)]).run()
    assert attempts == [(1, 0.0), (2, 1.0), (3, 3.0)]
    assert result["flaky"].attempts == 3
    assert result["flaky"].value == "ok"
    assert (result["flaky"].started_at, result["flaky"].finished_at) == (0.0, 3.0)


async def test_retry_gives_up_with_the_last_error(autojump_clock: trio.abc.Clock) -> None:
    async def down(ctx: StepContext) -> None:
        await trio.lowlevel.checkpoint()
        raise ConnectionError(f"attempt {ctx.attempt}")

    policy = RetryPolicy(max_attempts=2, initial_delay=1.0, **NO_JITTER)
    result = await Workflow("r", steps=[Step("down", down, retry=policy)]).run(check=False)
    assert result["down"].attempts == 2
    assert str(result["down"].error) == "attempt 2"
    assert trio.current_time() == 1.0


async def test_permanent_error_is_not_retried(autojump_clock: trio.abc.Clock) -> None:
    async def bad(ctx: StepContext) -> None:
        await trio.lowlevel.checkpoint()
        raise ValueError("permanent")

    policy = RetryPolicy(max_attempts=5, initial_delay=1.0)
    result = await Workflow("r", steps=[Step("bad", bad, retry=policy)]).run(check=False)
    assert result["bad"].attempts == 1
    assert trio.current_time() == 0


async def test_timeout_without_retry_fails_with_too_slow_error(
    autojump_clock: trio.abc.Clock,
) -> None:
    wf = Workflow("t", steps=[Step("slow", sleeper(10), timeout=2)])
    result = await wf.run(check=False)
    error = result["slow"].error
    assert isinstance(error, trio.TooSlowError)
    assert str(error) == "step 'slow' attempt 1 timed out after 2s"
    assert (result["slow"].attempts, result["slow"].finished_at) == (1, 2.0)


async def test_timed_out_attempts_are_retried(autojump_clock: trio.abc.Clock) -> None:
    async def slow_then_fast(ctx: StepContext) -> int:
        await trio.sleep(10 if ctx.attempt < 3 else 1)
        return ctx.attempt

    policy = RetryPolicy(max_attempts=3, initial_delay=1.0, **NO_JITTER)
    wf = Workflow("t", steps=[Step("s", slow_then_fast, retry=policy, timeout=2)])
    result = await wf.run()
    # 2 (timeout) + 1 (delay) + 2 (timeout) + 2 (delay) + 1 (success)
    assert (result["s"].value, result["s"].attempts, result["s"].finished_at) == (3, 3, 8.0)


async def test_user_on_retry_hook_still_runs(autojump_clock: trio.abc.Clock) -> None:
    seen: list[Any] = []

    async def flaky(ctx: StepContext) -> None:
        await trio.lowlevel.checkpoint()
        if ctx.attempt == 1:
            raise ConnectionError("x")

    policy = RetryPolicy(max_attempts=2, initial_delay=0.5, on_retry=seen.append, **NO_JITTER)
    await Workflow("h", steps=[Step("f", flaky, retry=policy)]).run()
    assert [(d.attempt, d.delay) for d in seen] == [(1, 0.5)]


# --- outside cancellation ----------------------------------------------------------------


async def test_outside_cancel_propagates_and_keeps_partial_result(
    autojump_clock: trio.abc.Clock,
) -> None:
    wf = Workflow(
        "cx",
        steps=[
            Step("a", sleeper(1, "a")),
            Step("b", sleeper(5), depends_on=["a"]),
            Step("c", sleeper(1), depends_on=["b"]),
        ],
    )
    caught = False
    with trio.move_on_after(1.5) as scope:
        try:
            await wf.run()
        except trio.Cancelled:
            caught = True
            raise
    assert scope.cancelled_caught
    assert caught
    result = wf.last_result
    assert result is not None
    assert result.status is WorkflowStatus.CANCELLED
    assert {n: r.status.name for n, r in result.steps.items()} == {
        "a": "SUCCEEDED",
        "b": "CANCELLED",
        "c": "SKIPPED",
    }
    assert result["b"].finished_at == 1.5
    assert result.finished_at == 1.5


async def test_cancel_before_any_step_starts(autojump_clock: trio.abc.Clock) -> None:
    started = []

    async def mark(ctx: StepContext) -> None:
        started.append(ctx.name)
        await trio.lowlevel.checkpoint()

    wf = Workflow("early", steps=[Step("a", mark)])
    with trio.CancelScope() as scope:
        scope.cancel()
        await wf.run()
    assert started == []
    assert wf.last_result is not None
    assert wf.last_result["a"].status is StepStatus.SKIPPED


async def test_cancel_while_waiting_for_a_retry(autojump_clock: trio.abc.Clock) -> None:
    async def down(ctx: StepContext) -> None:
        await trio.lowlevel.checkpoint()
        raise ConnectionError("down")

    policy = RetryPolicy(max_attempts=5, initial_delay=10.0, **NO_JITTER)
    wf = Workflow("rx", steps=[Step("d", down, retry=policy)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wf.run)
        await trio.sleep(3)
        nursery.cancel_scope.cancel()  # no deadline: retry does not give up early
    assert wf.last_result is not None
    assert wf.last_result["d"].status is StepStatus.CANCELLED
    assert wf.last_result["d"].attempts == 1
    assert trio.current_time() == 3


# --- events and progress -----------------------------------------------------------------


async def test_events_sequence_on_a_bus(autojump_clock: trio.abc.Clock) -> None:
    async def progressing(ctx: StepContext) -> int:
        ctx.progress(0.5)
        await trio.sleep(2)
        if ctx.attempt == 1:
            raise ConnectionError("again")
        return 1

    policy = RetryPolicy(max_attempts=2, initial_delay=1.0, **NO_JITTER)
    events: list[WorkflowEvent] = []
    async with open_event_bus() as bus:
        bus.on(WorkflowEvent, events.append)
        wf = Workflow(
            "ev",
            failure=FailurePolicy.CONTINUE,
            bus=bus,
            steps=[
                Step("p", progressing, retry=policy),
                Step("f", fail),
                Step("s", sleeper(1), depends_on=["f"]),
            ],
        )
        await wf.run(check=False)
    assert events[0] == WorkflowStarted("ev", 3, 0.0)
    assert events[-1] == WorkflowFinished("ev", WorkflowStatus.FAILED, 5.0, 5.0)

    def of(step: str) -> list[WorkflowEvent]:
        return [e for e in events if getattr(e, "step", None) == step]

    p = of("p")
    assert [type(e).__name__ for e in p] == [
        "StepStarted",
        "StepProgress",
        "StepRetrying",
        "StepProgress",
        "StepSucceeded",
    ]
    assert p[0] == StepStarted("ev", "p", 0.0)
    assert p[1] == p[3] == StepProgress("ev", "p", 0.5)
    retrying = p[2]
    assert isinstance(retrying, StepRetrying)
    assert (retrying.attempt, retrying.delay, str(retrying.error)) == (1, 1.0, "again")
    assert p[4] == StepSucceeded("ev", "p", 2, 5.0)
    f = of("f")
    assert [type(e).__name__ for e in f] == ["StepStarted", "StepFailed"]
    assert isinstance(f[1], StepFailed)
    assert (f[1].attempts, str(f[1].error)) == (1, "f broke")
    assert of("s") == [StepSkipped("ev", "s", "dependency 'f' failed")]
    # the run's own order: f failed (t=1) before p retried (t=2)
    assert events.index(f[1]) < events.index(of("s")[0]) < events.index(retrying)


async def test_cancelled_and_skipped_events_on_fail_fast(autojump_clock: trio.abc.Clock) -> None:
    events: list[WorkflowEvent] = []
    async with open_event_bus() as bus:
        bus.on(WorkflowEvent, events.append)
        await _failing_dag(FailurePolicy.FAIL_FAST).run(bus=bus, check=False)
    assert StepCancelled("dag", "b", 1) in events
    skipped = {e.step: e.reason for e in events if isinstance(e, StepSkipped)}
    assert skipped == {
        "c": "dependency 'a' failed",
        "e": "dependency 'a' failed",
        "d": "step 'a' failed",
    }


async def test_closed_bus_does_not_break_the_run() -> None:
    async with open_event_bus() as bus:
        pass
    result = await Workflow("closed", bus=bus, steps=[Step("s", sleeper(0, 1))]).run()
    assert result["s"].value == 1


async def test_progress_feeds_a_tracker(autojump_clock: trio.abc.Clock) -> None:
    async def half(ctx: StepContext) -> None:
        ctx.progress(0.25)
        await trio.sleep(1)
        ctx.progress(0.5)
        await trio.sleep(1)

    async with open_progress_tracker(tick=0.5) as tracker:
        wf = Workflow("prog", progress=tracker, steps=[Step("h", half)])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wf.run)
            await trio.sleep(1.5)
            assert tracker.task("h").fraction == 0.5
        assert tracker.task("h").fraction == 1.0
        await wf.run()  # a re-run reuses the task
        assert tracker.task("h").fraction == 1.0


async def test_progress_rejects_bad_fractions() -> None:
    errors: list[BaseException] = []

    async def bad(ctx: StepContext) -> None:
        await trio.lowlevel.checkpoint()
        for value in (1.5, -0.1, "half", True):
            try:
                ctx.progress(value)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                errors.append(exc)

    await Workflow("p", steps=[Step("b", bad)]).run()
    assert [str(e) for e in errors] == [
        "fraction must be in [0, 1], got 1.5",
        "fraction must be in [0, 1], got -0.1",
        "fraction must be a number in [0, 1], got 'half'",
        "fraction must be a number in [0, 1], got True",
    ]


async def test_step_context_log_is_bound(caplog: pytest.LogCaptureFixture) -> None:
    import structlog.testing

    async def logs(ctx: StepContext) -> None:
        await trio.lowlevel.checkpoint()
        ctx.log.info("hello")

    caplog.set_level(logging.DEBUG, logger="trio_orch.workflow")
    with structlog.testing.capture_logs() as logs_seen:
        await Workflow("lg", steps=[Step("s", logs)]).run()
    # per-step happenings are bus events, not log lines: only the step's own line is logged
    assert logs_seen == [
        {"event": "hello", "workflow": "lg", "step": "s", "attempt": 1, "log_level": "info"}
    ]


def test_step_result_duration() -> None:
    assert StepResult(StepStatus.SUCCEEDED, started_at=1.0, finished_at=3.5).duration == 2.5
    assert StepResult(StepStatus.SKIPPED).duration is None


def test_events_are_frozen() -> None:
    event = StepStarted("w", "s", 0.0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.step = "x"  # type: ignore[misc]


async def test_a_step_failing_while_being_cancelled_is_failed(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def stubborn(ctx: StepContext) -> None:
        try:
            await trio.sleep(10)
        except trio.Cancelled:
            raise RuntimeError("cleanup failed") from None

    wf = Workflow("both", steps=[Step("x", fail), Step("stubborn", stubborn)])
    with pytest.raises(WorkflowFailed) as info:
        await wf.run()
    result = info.value.result
    assert result.failed == ("x", "stubborn")
    assert len(result.steps) == 2
    assert info.value.__cause__ is result["x"].error
    assert str(info.value) == (
        "workflow 'both' failed: steps 'x' (ValueError('x broke')), "
        "'stubborn' (RuntimeError('cleanup failed'))"
    )
    assert repr(result.steps).startswith("{'x': StepResult(status=<StepStatus.FAILED")


async def _nursery_failing_on_cancel(ctx: StepContext) -> None:
    async def child() -> None:
        try:
            await trio.sleep(10)
        except trio.Cancelled:
            raise RuntimeError("cleanup failed") from None

    async with trio.open_nursery() as nursery:
        nursery.start_soon(child)
        await trio.sleep(10)  # its Cancelled joins the child's error in a BaseExceptionGroup


async def test_a_step_nursery_failing_while_cancelled_is_failed(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def x(ctx: StepContext) -> None:
        await trio.sleep(1)
        raise ValueError("x broke")

    wf = Workflow("inner-fail", steps=[Step("x", x), Step("inner", _nursery_failing_on_cancel)])
    with pytest.raises(WorkflowFailed) as info:
        await wf.run()
    result = info.value.result
    assert result.status is WorkflowStatus.FAILED
    assert result.failed == ("x", "inner")
    error = result["inner"].error
    assert isinstance(error, ExceptionGroup)
    assert [str(e) for e in error.exceptions] == ["cleanup failed"]
    assert trio.current_time() == 1.0


async def test_a_step_nursery_failing_under_outside_cancel_still_cancels(
    autojump_clock: trio.abc.Clock,
) -> None:
    wf = Workflow("inner-cancel", steps=[Step("inner", _nursery_failing_on_cancel)])
    with trio.move_on_after(1) as scope:
        await wf.run()
    assert scope.cancelled_caught
    assert wf.last_result is not None
    assert wf.last_result.status is WorkflowStatus.CANCELLED
    assert wf.last_result["inner"].status is StepStatus.FAILED


async def test_two_base_exceptions_propagate_as_a_group(autojump_clock: trio.abc.Clock) -> None:
    class Fatal(BaseException):
        pass

    async def fatal(ctx: StepContext) -> None:
        await trio.sleep(1)
        raise Fatal("a")

    async def fatal_on_cancel(ctx: StepContext) -> None:
        try:
            await trio.sleep(10)
        except trio.Cancelled:
            raise Fatal("b") from None

    wf = Workflow("fatal2", steps=[Step("a", fatal), Step("b", fatal_on_cancel)])
    with pytest.raises(BaseExceptionGroup) as info:
        await wf.run()
    assert sorted(str(e) for e in info.value.exceptions) == ["a", "b"]
    assert wf.last_result is not None
    assert wf.last_result.status is WorkflowStatus.CANCELLED
    assert wf.last_result.failed == ("a", "b")


async def test_step_with_its_own_nursery_is_cancelled_cleanly(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def fan_out(ctx: StepContext) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 10)
            nursery.start_soon(trio.sleep, 10)

    wf = Workflow("inner", steps=[Step("fan", fan_out)])
    with trio.move_on_after(1):
        await wf.run()
    assert wf.last_result is not None
    assert wf.last_result["fan"].status is StepStatus.CANCELLED


async def test_ctx_results_and_log_are_cached_per_attempt(autojump_clock: trio.abc.Clock) -> None:
    seen: list[Any] = []

    async def first(ctx: StepContext) -> int:
        await trio.lowlevel.checkpoint()
        return 1

    async def second(ctx: StepContext, first: int) -> None:
        await trio.lowlevel.checkpoint()
        seen.append((ctx.results is ctx.results, ctx.log is ctx.log, ctx.log))
        if ctx.attempt == 1:
            raise ConnectionError("again")

    policy = RetryPolicy(max_attempts=2, initial_delay=1.0, **NO_JITTER)
    wf = Workflow(
        "cache",
        steps=[Step("first", first), Step("second", second, depends_on=["first"], retry=policy)],
    )
    await wf.run()
    assert [s[:2] for s in seen] == [(True, True), (True, True)]
    assert seen[0][2] is not seen[1][2]  # rebound for the new attempt


async def test_no_context_function_with_timeout_and_retry(autojump_clock: trio.abc.Clock) -> None:
    calls = 0

    async def plain() -> int:
        nonlocal calls
        calls += 1
        await trio.sleep(5 if calls == 1 else 1)
        return calls

    policy = RetryPolicy(max_attempts=2, initial_delay=1.0, **NO_JITTER)
    wf = Workflow("plain", steps=[Step("p", plain, timeout=2, retry=policy)])
    result = await wf.run()
    assert (result["p"].value, result["p"].attempts, trio.current_time()) == (2, 2, 4.0)


def test_results_can_be_built_by_hand() -> None:
    step = StepResult(StepStatus.SUCCEEDED, value=1, attempts=1)
    result = WorkflowResult(WorkflowStatus.SUCCEEDED, steps={"a": step})
    assert result["a"] is step
    assert result.ok
    assert result.values == {"a": 1}
    assert result.compensations == {}
    assert (result.workflow, result.started_at, result.finished_at) == ("", 0.0, 0.0)


def test_errors_pickle() -> None:
    failed = WorkflowFailed(
        WorkflowResult(
            WorkflowStatus.FAILED,
            steps={"x": StepResult(StepStatus.FAILED, error=ValueError("x broke"))},
            workflow="p",
        )
    )
    copy = pickle.loads(pickle.dumps(failed))
    assert str(copy) == str(failed) == "workflow 'p' failed: step 'x' (ValueError('x broke'))"
    error = WorkflowDefinitionError("bad", workflow="w")
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.workflow) == ("bad", "w")


async def test_real_result_pickles(autojump_clock: trio.abc.Clock) -> None:
    result = await Workflow("p", steps=[Step("x", fail)]).run(check=False)
    copy = pickle.loads(pickle.dumps(WorkflowFailed(result)))
    assert copy.result.failed == ("x",)
    assert dict(copy.result.steps).keys() == {"x"}


async def test_progress_uses_pre_tracked_tasks(autojump_clock: trio.abc.Clock) -> None:
    async def quarter(ctx: StepContext) -> None:
        ctx.progress(0.25)
        await trio.sleep(1)

    async with open_progress_tracker(tick=0.5) as tracker:
        task = tracker.track("q", total=200, weight=3)
        wf = Workflow("pre", steps=[Step("q", quarter)])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(wf.run, progress=tracker))
            await trio.sleep(0.5)
            assert (task.value, task.fraction) == (50, 0.25)
        assert tracker.task("q") is task
        assert task.value == 200


async def test_retry_testing_removes_the_backoff(autojump_clock: trio.abc.Clock) -> None:
    async def flaky(ctx: StepContext) -> int:
        await trio.lowlevel.checkpoint()
        if ctx.attempt < 3:
            raise ConnectionError("flaky")
        return ctx.attempt

    policy = RetryPolicy(max_attempts=3, initial_delay=10.0)
    with retry_testing():
        result = await Workflow("t", steps=[Step("f", flaky, retry=policy)]).run()
    assert (result["f"].value, trio.current_time()) == (3, 0.0)


async def test_only_running_steps_have_tasks(autojump_clock: trio.abc.Clock) -> None:
    counts: dict[str, int] = {}

    async def count(ctx: StepContext, **_: Any) -> None:
        nursery = trio.lowlevel.current_task().parent_nursery
        assert nursery is not None
        counts[ctx.name] = len(nursery.child_tasks)
        await trio.sleep(1)

    roots = [Step(f"r{i}", count) for i in range(3)]
    chain = [Step("c0", count, depends_on=["r0", "r1", "r2"])] + [
        Step(f"c{i}", count, depends_on=[f"c{i - 1}"]) for i in range(1, 50)
    ]
    await Workflow("tasks", steps=roots + chain).run()
    assert counts["r0"] == 3  # three running roots, no task for the 50 waiting steps
    assert {counts[f"c{i}"] for i in range(50)} == {1}
