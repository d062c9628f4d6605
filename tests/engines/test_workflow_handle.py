"""Workflow runs as handles, the public plan, the attempt hook, and quiet logging."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

from trio_orch import (
    FailurePolicy,
    Jitter,
    RetryPolicy,
    Step,
    StepAttempt,
    StepContext,
    StepStatus,
    TransientError,
    Workflow,
    WorkflowDefinitionError,
    WorkflowFailed,
    WorkflowPlan,
    WorkflowRun,
    WorkflowStatus,
)


def sleeper(seconds: float, value: Any = None) -> Any:
    async def fn(ctx: StepContext, **_: Any) -> Any:
        await trio.sleep(seconds)
        return value

    return fn


async def boom(ctx: StepContext, **_: Any) -> None:
    await trio.sleep(1)
    raise ValueError(f"{ctx.name} broke")


def diamond() -> Workflow:
    return Workflow(
        "d",
        steps=[
            Step("a", sleeper(1, "a")),
            Step("b", sleeper(2, "b"), depends_on=["a"]),
            Step("c", sleeper(3, "c"), depends_on=["a"]),
            Step("d", sleeper(1, "d"), depends_on=["b", "c", "b"]),
            Step("lone", sleeper(1, "lone")),
        ],
    )


# --- the run handle -----------------------------------------------------------------------------


async def test_a_started_run_gives_a_live_handle(autojump_clock: trio.abc.Clock) -> None:
    wf = diamond()
    async with trio.open_nursery() as nursery:
        run = await nursery.start(wf.run)
        assert isinstance(run, WorkflowRun)
        assert (run.workflow, run.result, run.finished) == ("d", None, False)
        assert run.step_result("a").status is StepStatus.PENDING
        await trio.sleep(1.5)
        assert run.step_result("a").status is StepStatus.SUCCEEDED
        assert run.step_result("b").status is StepStatus.RUNNING
        with pytest.raises(KeyError):
            run.step_result("nope")
        result = await run.wait_finished()
    assert run.finished
    assert run.result is result
    assert result.ok
    assert run.step_result("d").value == "d"
    assert run.plan.names == ("a", "lone", "b", "c", "d")
    assert trio.current_time() == 5
    with trio.testing.assert_checkpoints():
        assert await run.wait_finished() is result


async def test_the_handle_has_the_result_after_an_outside_cancellation(
    autojump_clock: trio.abc.Clock,
) -> None:
    wf = diamond()
    with trio.move_on_after(2.5):
        async with trio.open_nursery() as nursery:
            run = await nursery.start(wf.run)
    result = run.result
    assert result is not None
    assert result.status is WorkflowStatus.CANCELLED
    assert result["b"].status is StepStatus.CANCELLED
    assert result["b"].reason == "workflow cancelled"
    assert result["d"].status is StepStatus.SKIPPED
    assert result["d"].reason == "workflow cancelled"
    assert result["a"].reason is None


async def test_concurrent_runs_have_their_own_results(autojump_clock: trio.abc.Clock) -> None:
    async def value(ctx: StepContext) -> Any:
        await trio.sleep(ctx.inputs["t"])
        return ctx.inputs["t"]

    wf = Workflow("c", steps=[Step("v", value)])
    async with trio.open_nursery() as nursery:
        slow = await nursery.start(wf.run, {"t": 2})
        fast = await nursery.start(wf.run, {"t": 1})
    assert slow.result is not None
    assert fast.result is not None
    assert (slow.result["v"].value, fast.result["v"].value) == (2, 1)
    assert wf.last_result is slow.result  # deprecated: the latest run that ended


async def test_definition_errors_come_out_of_start() -> None:
    wf = Workflow("bad")
    wf.add(Step("a", sleeper(0), depends_on=["a"]))
    async with trio.open_nursery() as nursery:
        with pytest.raises(WorkflowDefinitionError, match="dependency cycle"):
            await nursery.start(wf.run)


async def test_a_failed_run_with_check_false_in_a_nursery(autojump_clock: trio.abc.Clock) -> None:
    wf = Workflow("f", steps=[Step("x", boom)])
    async with trio.open_nursery() as nursery:
        run = await nursery.start(lambda task_status: wf.run(check=False, task_status=task_status))
    assert run.result is not None
    assert run.result.failed == ("x",)


# --- the plan ------------------------------------------------------------------------------------


def test_plan_is_ordered_and_frozen() -> None:
    plan = diamond().plan()
    assert isinstance(plan, WorkflowPlan)
    assert plan.names == ("a", "lone", "b", "c", "d")
    assert plan.targets is None
    assert len(plan) == 5
    assert plan[4].depends_on == ("b", "c")  # a repeated dependency counts once
    assert [s.name for s in plan] == list(plan.names)
    assert "c" in plan
    assert "x" not in plan
    assert plan.step("d").dependencies == ("b", "c")
    assert plan.dependents("a") == ("b", "c")
    with pytest.raises(KeyError):
        plan.step("x")
    with pytest.raises(AttributeError):
        plan.workflow = "other"  # type: ignore[misc]


def test_plan_with_targets_holds_their_dependencies() -> None:
    wf = diamond()
    plan = wf.plan(["c", "c"])
    assert (plan.names, plan.targets) == (("a", "c"), ("c",))
    assert wf.plan(["lone", "b"]).names == ("a", "lone", "b")
    assert wf.plan(["c"]) == plan


@pytest.mark.parametrize(
    ("targets", "error", "message"),
    [
        ("a", TypeError, "targets must be a list of step names or None, got 'a'"),
        ([1], TypeError, "targets must be a list of step names or None, got [1]"),
        (3, TypeError, "targets must be a list of step names or None, got 3"),
        (["zz"], ValueError, "targets must name steps of workflow 'd', got unknown step 'zz'"),
    ],
)
def test_bad_targets(targets: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=rf"^{__import__('re').escape(message)}$"):
        diamond().plan(targets)


async def test_run_with_targets_runs_only_those(autojump_clock: trio.abc.Clock) -> None:
    wf = diamond()
    result = await wf.run(targets=["b"])
    assert list(result.steps) == ["a", "b"]
    assert trio.current_time() == 3
    wf.add(Step("e", sleeper(1), depends_on=["b"]))  # the cached sub-plans are dropped
    assert list((await wf.run(targets=["e"])).steps) == ["a", "b", "e"]


# --- the attempt hook ----------------------------------------------------------------------------


def _calls(seen: list[StepAttempt]) -> list[tuple[Any, ...]]:
    return [
        (a.step, a.attempt, a.max_attempts, a.started_at, a.finished_at, a.will_retry, a.error)
        for a in seen
    ]


async def test_on_attempt_sees_each_attempt_start_and_end(autojump_clock: trio.abc.Clock) -> None:
    async def slow_then_fast(ctx: StepContext) -> int:
        await trio.sleep(10 if ctx.attempt == 1 else 1)
        return ctx.attempt

    seen: list[StepAttempt] = []
    policy = RetryPolicy(max_attempts=3, initial_delay=0.5, jitter=Jitter.NONE)
    wf = Workflow(
        "h",
        steps=[
            Step("plain", sleeper(1)),
            Step("flaky", slow_then_fast, retry=policy, timeout=2, depends_on=["plain"]),
        ],
    )
    result = await wf.run(on_attempt=seen.append)
    assert result["flaky"].value == 2
    calls = _calls(seen)
    errors = [c[-1] for c in calls]
    assert [c[:-1] for c in calls] == [
        ("plain", 1, 1, 0.0, None, False),
        ("plain", 1, 1, 0.0, 1.0, False),
        ("flaky", 1, 3, 1.0, None, False),
        ("flaky", 1, 3, 1.0, 3.0, True),
        ("flaky", 2, 3, 3.5, None, False),
        ("flaky", 2, 3, 3.5, 4.5, False),
    ]
    assert isinstance(errors[3], trio.TooSlowError)
    assert str(errors[3]) == "step 'flaky' attempt 1 timed out after 2s"
    assert [errors[i] for i in (0, 1, 2, 4, 5)] == [None] * 5
    assert seen[0].running
    assert seen[0].duration is None
    assert seen[3].duration == 2.0


async def test_on_attempt_on_give_up_and_on_a_policy_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def flaky(ctx: StepContext) -> None:
        await trio.sleep(1)
        raise TransientError(f"{ctx.name} broke")

    seen: list[StepAttempt] = []
    policy = RetryPolicy(max_attempts=2, initial_delay=1, jitter=Jitter.NONE)
    long = RetryPolicy(max_attempts=5, initial_delay=1, jitter=Jitter.NONE, timeout=2.5)
    wf = Workflow(
        "g",
        failure=FailurePolicy.CONTINUE,
        steps=[Step("two", flaky, retry=policy), Step("slow", sleeper(10), retry=long)],
    )
    result = await wf.run(on_attempt=seen.append, check=False)
    ends = [a for a in seen if not a.running]
    two = [(a.attempt, a.will_retry, str(a.error)) for a in ends if a.step == "two"]
    assert two == [(1, True, "two broke"), (2, False, "two broke")]
    slow = [a for a in ends if a.step == "slow"]
    assert len(slow) == 1
    assert isinstance(slow[0].error, trio.TooSlowError)  # the policy's timeout ended it
    assert (slow[0].will_retry, slow[0].finished_at) == (False, 2.5)
    assert result.failed == ("two", "slow")


async def test_a_failing_hook_fails_the_step_and_cancellation_has_no_end_call(
    autojump_clock: trio.abc.Clock,
) -> None:
    def hook(attempt: StepAttempt) -> None:
        if attempt.step == "bad":
            raise RuntimeError("hook broke")
        seen.append(attempt)

    seen: list[StepAttempt] = []
    wf = Workflow("k", steps=[Step("bad", sleeper(1)), Step("long", sleeper(9))])
    with pytest.raises(WorkflowFailed, match="hook broke"):
        await wf.run(on_attempt=hook)
    assert [(a.step, a.running) for a in seen] == [("long", True)]  # cancelled: no end call
    with pytest.raises(TypeError, match=r"^on_attempt must be callable or None, got 3$"):
        await wf.run(on_attempt=3)  # type: ignore[arg-type]


# --- quiet logging -------------------------------------------------------------------------------


async def test_per_step_happenings_are_not_logged(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.abc.Clock
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_orch.workflow")
    await diamond().run()
    assert [r for r in caplog.records if r.name == "trio_orch.workflow"] == []


async def test_a_step_failure_is_logged_once_at_info(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.abc.Clock
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_orch.workflow")
    await Workflow("l", steps=[Step("x", boom)]).run(check=False)
    records = [r for r in caplog.records if r.name == "trio_orch.workflow"]
    assert [r.levelno for r in records] == [logging.INFO]
    assert "trio_orch.workflow.step_failed" in records[0].getMessage()
