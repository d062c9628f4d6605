"""Properties of the workflow scheduler on random DAGs (hypothesis, virtual time)."""

from __future__ import annotations

from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_orch import FailurePolicy, Step, StepContext, StepStatus, Workflow


@attrs.frozen
class Dag:
    names: tuple[str, ...]  # definition order (shuffled: forward references happen)
    deps: dict[str, tuple[str, ...]]
    durations: dict[str, float]
    failing: frozenset[str]


@st.composite
def dags(draw: st.DrawFn, *, failures: bool = False) -> Dag:
    n = draw(st.integers(1, 25))
    names = [f"s{i}" for i in range(n)]
    deps = {
        name: tuple(
            draw(st.lists(st.sampled_from(names[:i]), max_size=min(i, 4), unique=True)) if i else ()
        )
        for i, name in enumerate(names)
    }
    durations = {name: draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])) for name in names}
    failing = (
        frozenset(draw(st.sets(st.sampled_from(names), max_size=3))) if failures else frozenset()
    )
    order = tuple(draw(st.permutations(names)))
    return Dag(order, deps, durations, failing)


@attrs.define
class Trace:
    starts: dict[str, list[float]] = attrs.field(factory=dict)
    finished: dict[str, float] = attrs.field(factory=dict)
    running: int = 0
    peak: int = 0
    violations: list[str] = attrs.field(factory=list)


def build(dag: Dag, trace: Trace, **options: Any) -> Workflow:
    async def step(ctx: StepContext, **results: Any) -> str:
        now = trio.current_time()
        trace.starts.setdefault(ctx.name, []).append(now)
        for dep in dag.deps[ctx.name]:
            if dep not in trace.finished or trace.finished[dep] > now:
                trace.violations.append(f"{ctx.name} started before {dep} finished")
            if results.get(dep) != f"{dep}!":
                trace.violations.append(f"{ctx.name} got a wrong value for {dep}")
        trace.running += 1
        trace.peak = max(trace.peak, trace.running)
        try:
            await trio.sleep(dag.durations[ctx.name])
        finally:
            trace.running -= 1
        if ctx.name in dag.failing:
            raise RuntimeError(ctx.name)
        trace.finished[ctx.name] = trio.current_time()
        return f"{ctx.name}!"

    return Workflow(
        "random",
        steps=[Step(name, step, depends_on=dag.deps[name]) for name in dag.names],
        **options,
    )


def run(wf: Workflow) -> Any:
    return trio.run(lambda: wf.run(check=False), clock=trio.testing.MockClock(autojump_threshold=0))


@settings(max_examples=60)
@given(dags())
def test_every_step_runs_once_as_soon_as_its_dependencies_finish(dag: Dag) -> None:
    trace = Trace()
    wf = build(dag, trace)
    result = run(wf)
    assert trace.violations == []
    assert all(len(times) == 1 for times in trace.starts.values())
    assert set(trace.starts) == set(dag.names)
    for name in dag.names:
        expected = max((trace.finished[d] for d in dag.deps[name]), default=0.0)
        assert trace.starts[name] == [expected]
        assert result[name].status is StepStatus.SUCCEEDED
        assert result[name].started_at == expected
    order = wf.order()
    assert sorted(order) == sorted(dag.names)
    position = {name: i for i, name in enumerate(order)}
    assert all(position[d] < position[n] for n in dag.names for d in dag.deps[n])


@settings(max_examples=40)
@given(dags(), st.integers(1, 4))
def test_max_concurrent_is_never_exceeded(dag: Dag, cap: int) -> None:
    trace = Trace()
    result = run(build(dag, trace, max_concurrent=cap))
    assert trace.violations == []
    assert trace.peak <= cap
    assert all(len(times) == 1 for times in trace.starts.values())
    assert all(r.status is StepStatus.SUCCEEDED for r in result.steps.values())


def _ancestors(dag: Dag, name: str) -> set[str]:
    seen: set[str] = set()
    stack = list(dag.deps[name])
    while stack:
        d = stack.pop()
        if d not in seen:
            seen.add(d)
            stack.extend(dag.deps[d])
    return seen


@settings(max_examples=40)
@given(dags(failures=True))
def test_continue_skips_exactly_the_dependents_of_failures(dag: Dag) -> None:
    trace = Trace()
    result = run(build(dag, trace, failure=FailurePolicy.CONTINUE))
    assert trace.violations == []
    for name in dag.names:
        blocked = _ancestors(dag, name) & dag.failing
        status = result[name].status
        if blocked:
            assert status is StepStatus.SKIPPED
            assert name not in trace.starts
        elif name in dag.failing:
            assert status is StepStatus.FAILED
        else:
            assert status is StepStatus.SUCCEEDED
    assert (result.status.name == "FAILED") == any(
        not (_ancestors(dag, f) & dag.failing) for f in dag.failing
    )


@settings(max_examples=40)
@given(dags(failures=True))
def test_fail_fast_starts_nothing_after_the_first_failure(dag: Dag) -> None:
    trace = Trace()
    result = run(build(dag, trace, failure=FailurePolicy.FAIL_FAST))
    assert trace.violations == []
    failed = [r.finished_at for r in result.steps.values() if r.status is StepStatus.FAILED]
    if not failed:
        assert all(r.status is StepStatus.SUCCEEDED for r in result.steps.values())
        return
    first = min(t for t in failed if t is not None)
    for name, r in result.steps.items():
        if name not in trace.starts:
            assert r.status is StepStatus.SKIPPED
        else:
            assert trace.starts[name][0] <= first
            assert r.status in {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED}
        if r.status is StepStatus.CANCELLED:
            assert r.finished_at == first
