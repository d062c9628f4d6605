"""Workflow definitions: every definition error (exact messages) and bad input."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio

from trio_orch import (
    FailurePolicy,
    OrchError,
    RetryPolicy,
    Step,
    StepContext,
    Workflow,
    WorkflowDefinitionError,
)

started: list[str] = []


async def noop(ctx: StepContext, **_: Any) -> None:
    started.append(ctx.name)
    await trio.lowlevel.checkpoint()


@pytest.fixture(autouse=True)
def _clear_started() -> None:
    started.clear()


def test_definition_error_is_an_orch_error_and_a_value_error() -> None:
    assert issubclass(WorkflowDefinitionError, OrchError)
    assert issubclass(WorkflowDefinitionError, ValueError)


def test_duplicate_name_in_data_form() -> None:
    with pytest.raises(
        WorkflowDefinitionError, match=r"^duplicate step name 'a' in workflow 'wf'$"
    ) as info:
        Workflow("wf", steps=[Step("a", noop), Step("a", noop)])
    assert info.value.workflow == "wf"


def test_duplicate_name_with_the_decorator() -> None:
    wf = Workflow("wf")

    @wf.step(name="a")
    async def one(ctx: StepContext) -> None: ...

    with pytest.raises(
        WorkflowDefinitionError, match=r"^duplicate step name 'a' in workflow 'wf'$"
    ):

        @wf.step()
        async def a(ctx: StepContext) -> None: ...

    assert [s.name for s in wf.steps] == ["a"]


def test_unknown_dependency() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"^step 'b' depends on unknown step 'nope'$"):
        Workflow("wf", steps=[Step("a", noop), Step("b", noop, depends_on=["a", "nope"])])


async def test_unknown_dependency_by_decorator_is_raised_by_run_before_any_step() -> None:
    wf = Workflow("wf")
    wf.step(
        noop,
    )  # bare form
    wf.add(Step("late", noop, depends_on=["missing"]))
    with pytest.raises(
        WorkflowDefinitionError, match=r"^step 'late' depends on unknown step 'missing'$"
    ):
        await wf.run()
    assert started == []
    assert wf.last_result is None


def test_function_dependency_that_is_not_a_step() -> None:
    async def stranger(ctx: StepContext) -> None: ...

    wf = Workflow("wf")
    wf.step(depends_on=[stranger])(noop)
    with pytest.raises(
        WorkflowDefinitionError,
        match=r"^step 'noop' depends on 'stranger', which is not a step of workflow 'wf'$",
    ):
        wf.validate()


def test_function_used_by_two_steps_must_be_named() -> None:
    with pytest.raises(
        WorkflowDefinitionError,
        match=r"^step function 'noop' is used by several steps of workflow 'wf'; "
        r"depend on it by name$",
    ):
        Workflow(
            "wf",
            steps=[Step("a", noop), Step("b", noop), Step("c", noop, depends_on=[noop])],
        )
    # by name it is fine
    wf = Workflow("wf", steps=[Step("a", noop), Step("b", noop), Step("c", noop, depends_on=["b"])])
    assert wf.order() == ["a", "b", "c"]


def test_cycle_names_its_steps() -> None:
    with pytest.raises(
        WorkflowDefinitionError,
        match=r"^dependency cycle in workflow 'wf': 'b' -> 'c' -> 'd' -> 'b'$",
    ):
        Workflow(
            "wf",
            steps=[
                Step("a", noop),
                Step("b", noop, depends_on=["a", "d"]),
                Step("c", noop, depends_on=["b"]),
                Step("d", noop, depends_on=["c"]),
                Step("e", noop, depends_on=["d"]),  # behind the cycle, not on it
            ],
        )


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(
        WorkflowDefinitionError, match=r"^dependency cycle in workflow 'wf': 'a' -> 'a'$"
    ):
        Workflow("wf", steps=[Step("a", noop, depends_on=["a"])])


async def test_cycle_by_forward_names_is_raised_by_run() -> None:
    wf = Workflow("wf")
    wf.step(name="x", depends_on=["y"])(noop)
    with pytest.raises(WorkflowDefinitionError, match=r"unknown step 'y'"):
        await wf.run()
    wf.add(Step("y", noop, depends_on=["x"]))
    with pytest.raises(
        WorkflowDefinitionError, match=r"^dependency cycle in workflow 'wf': 'x' -> 'y' -> 'x'$"
    ):
        await wf.run()
    with pytest.raises(WorkflowDefinitionError):
        wf.order()
    assert started == []


def test_required_parameter_that_is_not_a_dependency() -> None:
    async def build(ctx: StepContext, tset: str) -> None: ...

    with pytest.raises(
        WorkflowDefinitionError,
        match=r"^step 'build': parameter 'tset' is not one of its dependencies \['test'\]$",
    ):
        Workflow("wf", steps=[Step("test", noop), Step("build", build, depends_on=["test"])])


async def test_function_without_positional_parameters_gets_no_context() -> None:
    async def no_args() -> int:
        await trio.lowlevel.checkpoint()
        return 1

    async def keywords_only(*, no_args: int) -> int:
        await trio.lowlevel.checkpoint()
        return no_args + 1

    async def bad(*, other: int) -> None: ...

    wf = Workflow(
        "wf",
        steps=[Step("no_args", no_args), Step("kw", keywords_only, depends_on=["no_args"])],
    )
    assert (await wf.run()).values == {"no_args": 1, "kw": 2}
    with pytest.raises(
        WorkflowDefinitionError,
        match=r"^step 'bad': parameter 'other' is not one of its dependencies \[\]$",
    ):
        Workflow("wf", steps=[Step("bad", bad)])


def test_repeated_dependency_counts_once() -> None:
    wf = Workflow("wf", steps=[Step("a", noop), Step("b", noop, depends_on=["a", "a"])])
    assert wf.plan()[1].depends_on == ("a",)


async def test_uninspectable_callable_gets_every_dependency() -> None:
    class Callable:
        __signature__ = property(lambda self: (_ for _ in ()).throw(ValueError("no")))

        async def __call__(self, ctx: StepContext, **kwargs: Any) -> dict[str, Any]:
            await trio.lowlevel.checkpoint()
            return kwargs

    async def one(ctx: StepContext) -> int:
        await trio.lowlevel.checkpoint()
        return 1

    wf = Workflow("wf", steps=[Step("one", one), Step("c", Callable(), depends_on=["one"])])
    assert (await wf.run())["c"].value == {"one": 1}


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"id": ""}, ValueError, "id must not be empty, got ''"),
        ({"id": 3}, TypeError, "id must be a str, got 3"),
        ({"max_concurrent": 0}, ValueError, "max_concurrent must be >= 1, got 0"),
        ({"max_concurrent": 1.5}, TypeError, "max_concurrent must be an int or None, got 1.5"),
        ({"max_concurrent": True}, TypeError, "max_concurrent must be an int or None, got True"),
        ({"failure": "fail_fast"}, TypeError, "failure must be a FailurePolicy, got 'fail_fast'"),
        ({"compensation_timeout": 0}, ValueError, "compensation_timeout must be > 0, got 0"),
        (
            {"compensation_timeout": None},
            TypeError,
            "compensation_timeout must be a number, got None",
        ),
        ({"steps": Step("a", noop)}, TypeError, r"steps must be a list of Step, got Step\(.*"),
        ({"steps": [("a", noop)]}, TypeError, r"step must be a Step, got \('a', .*"),
    ],
)
def test_workflow_bad_input(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    kwargs = {"id": "wf", **kwargs}
    with pytest.raises(error, match=f"^{message}$"):
        Workflow(**kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("", noop), {}, ValueError, "name must not be empty, got ''"),
        ((1, noop), {}, TypeError, "name must be a str, got 1"),
        (("a", "noop"), {}, TypeError, "fn must be callable, got 'noop'"),
        (("a", None), {}, TypeError, "fn must be callable, got None"),
        (
            ("a", noop),
            {"depends_on": "b"},
            TypeError,
            "depends_on must be a list of step names or step functions, got 'b'",
        ),
        (
            ("a", noop),
            {"depends_on": 3},
            TypeError,
            "depends_on must be a list of step names or step functions, got 3",
        ),
        (
            ("a", noop),
            {"depends_on": [3]},
            TypeError,
            "depends_on items must be step names or step functions, got 3",
        ),
        (("a", noop), {"timeout": 0}, ValueError, "timeout must be > 0, got 0"),
        (("a", noop), {"timeout": -1.0}, ValueError, r"timeout must be > 0, got -1.0"),
        (
            ("a", noop),
            {"timeout": "5"},
            TypeError,
            "timeout must be a number or None, got '5'",
        ),
        (("a", noop), {"retry": 3}, TypeError, "retry must be a RetryPolicy or None, got 3"),
        (("a", noop), {"compensate": 3}, TypeError, "compensate must be callable or None, got 3"),
        (
            ("a", noop),
            {"compensation_timeout": float("nan")},
            ValueError,
            "compensation_timeout must be > 0, got nan",
        ),
    ],
)
def test_step_bad_input(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{message}$"):
        Step(*args, **kwargs)


def test_decorator_validates_like_step() -> None:
    wf = Workflow("wf")
    with pytest.raises(ValueError, match=r"^timeout must be > 0, got 0$"):
        wf.step(timeout=0)(noop)
    assert wf.steps == ()


async def test_run_rejects_bad_inputs() -> None:
    wf = Workflow("wf", steps=[Step("a", noop)])
    with pytest.raises(TypeError, match=r"^inputs must be a mapping or None, got \[1\]$"):
        await wf.run([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^bus must be an EventBus or None, got 5$"):
        await wf.run(bus=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^progress must be a ProgressTracker or None, got 5$"):
        await wf.run(progress=5)  # type: ignore[arg-type]
    assert started == []


def test_workflow_rejects_a_bad_bus_or_tracker() -> None:
    with pytest.raises(TypeError, match=r"^bus must be an EventBus or None, got 'bus'$"):
        Workflow("wf", bus="bus")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^progress must be a ProgressTracker or None, got 1$"):
        Workflow("wf", progress=1)  # type: ignore[arg-type]


async def undo(ctx: StepContext, value: object) -> None:
    await trio.lowlevel.checkpoint()


def test_valid_definitions_are_accepted() -> None:
    wf = Workflow(
        "ok",
        max_concurrent=3,
        failure=FailurePolicy.CONTINUE,
        compensation_timeout=2,
        steps=[Step("a", noop, retry=RetryPolicy(), timeout=1, compensate=undo)],
    )
    assert wf.max_concurrent == 3
    assert wf.steps[0].retry == RetryPolicy()


async def test_unhashable_callable_step() -> None:
    @attrs.define
    class Runner:  # eq=True makes it unhashable
        value: int

        async def __call__(self, ctx: StepContext) -> int:
            await trio.lowlevel.checkpoint()
            return self.value

    wf = Workflow("wf", steps=[Step("r", Runner(3)), Step("s", Runner(4), depends_on=["r"])])
    result = await wf.run()
    assert (result["r"].value, result["s"].value) == (3, 4)


async def test_decorator_takes_the_name_positionally() -> None:
    wf = Workflow("wf")

    @wf.step("first")
    async def one(ctx: StepContext) -> int:
        await trio.lowlevel.checkpoint()
        return 1

    @wf.step("second", depends_on=[one])
    async def two(ctx: StepContext, first: int) -> int:
        return first + 1

    assert wf.order() == ["first", "second"]
    assert (await wf.run()).values == {"first": 1, "second": 2}
