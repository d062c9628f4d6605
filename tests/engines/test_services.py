"""ServiceOrchestrator operations: execute, retries, timeouts, attribution, batching, metrics."""

from __future__ import annotations

import contextlib
from typing import Any, NoReturn

import pytest
import trio
import trio.lowlevel
import trio.testing

from trio_orch import (
    DEFAULT_CLASSIFIER,
    ErrorKind,
    HealthStatus,
    Jitter,
    OperationCancelled,
    OperationCompleted,
    OperationFailed,
    OperationRetrying,
    OperationStarted,
    OrchError,
    PermanentError,
    Service,
    ServiceEvent,
    ServiceNotFound,
    ServiceOrchestrator,
    TransientError,
    open_event_bus,
    retry_testing,
)


def orchestrator(**kwargs: Any) -> ServiceOrchestrator:
    """An orchestrator with exact delays and no periodic checks, plus services a, b, c."""
    options: dict[str, Any] = {
        "retry_attempts": 3,
        "retry_delay": 0.5,
        "jitter": Jitter.NONE,
        "health_interval": None,
    }
    options.update(kwargs)
    orch = ServiceOrchestrator(**options)
    for name in ("a", "b", "c"):
        orch.register(Service(name))
    return orch


async def sleep_then(seconds: float, value: Any = None) -> Any:
    await trio.sleep(seconds)
    return value


async def forever() -> NoReturn:
    await trio.sleep_forever()


class Flaky:
    """Raises ``errors`` in turn, then returns ``value``; records each attempt's start time."""

    def __init__(self, *errors: BaseException, value: Any = "ok") -> None:
        self.errors = list(errors)
        self.value = value
        self.starts: list[float] = []

    async def __call__(self) -> Any:
        self.starts.append(trio.current_time())
        await trio.lowlevel.checkpoint()
        if self.errors:
            raise self.errors.pop(0)
        return self.value


# --- execute --------------------------------------------------------------------------------


async def test_execute_returns_the_value_with_its_duration(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with orchestrator() as orch:
        t0 = trio.current_time()
        result = await orch.execute("answer", sleep_then, 0.5, 42)
    assert trio.current_time() == t0 + 0.5
    assert result.success is True
    assert result.data == 42
    assert result.unwrap() == 42
    assert result.error is None
    assert result.exception is None
    assert result.duration == 0.5
    assert result.attempts == 1
    assert result.operation == "answer"
    assert dict(result.service_errors) == {}
    assert dict(result.details) == {}


async def test_a_permanent_failure_is_returned_not_raised_nor_retried() -> None:
    error = ValueError("bad user")
    flaky = Flaky(error)
    async with orchestrator() as orch:
        result = await orch.execute("op", flaky)
    assert result.success is False
    assert result.data is None
    assert result.exception is error
    assert result.error == "ValueError: bad user"
    assert result.attempts == 1
    assert len(flaky.starts) == 1
    assert dict(result.details) == {"kind": ErrorKind.PERMANENT, "timed_out": False}
    with pytest.raises(ValueError, match=r"^bad user$"):
        result.unwrap()


async def test_an_unknown_error_is_not_retried() -> None:
    async with orchestrator() as orch:
        result = await orch.execute("op", Flaky(RuntimeError("odd")))
    assert result.attempts == 1
    assert result.details["kind"] is ErrorKind.UNKNOWN


async def test_transient_failures_are_retried_on_the_backoff_schedule(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky = Flaky(ConnectionError("reset"), TransientError("busy"), value="done")
    events: list[ServiceEvent] = []
    async with orchestrator(retry_delay=0.5) as orch:
        orch.add_listener(events.append)
        t0 = trio.current_time()
        result = await orch.execute("sync", flaky)
    assert flaky.starts == [t0, t0 + 0.5, t0 + 1.5]  # delays 0.5 then 1.0 (doubling)
    assert result.success
    assert result.data == "done"
    assert result.attempts == 3
    assert result.duration == 1.5
    retrying = [e for e in events if isinstance(e, OperationRetrying)]
    assert [(e.attempt, e.delay) for e in retrying] == [(1, 0.5), (2, 1.0)]
    assert isinstance(retrying[0].error, ConnectionError)
    assert [type(e) for e in events] == [
        OperationStarted,
        OperationRetrying,
        OperationRetrying,
        OperationCompleted,
    ]
    ids = {e.operation_id for e in events}  # type: ignore[attr-defined]
    assert len(ids) == 1


async def test_when_attempts_run_out_the_last_error_is_the_result(
    autojump_clock: trio.testing.MockClock,
) -> None:
    last = ConnectionError("third")
    flaky = Flaky(ConnectionError("first"), ConnectionError("second"), last)
    async with orchestrator(retry_attempts=3) as orch:
        result = await orch.execute("op", flaky)
    assert result.success is False
    assert result.exception is last
    assert result.error == "ConnectionError: third"
    assert result.attempts == 3
    assert result.details["kind"] is ErrorKind.TRANSIENT


async def test_each_attempt_is_bounded_by_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with orchestrator(timeout=1.0, retry_attempts=2, retry_delay=0.25) as orch:
        t0 = trio.current_time()
        result = await orch.execute("slow", forever)
    assert trio.current_time() == t0 + 1.0 + 0.25 + 1.0
    assert result.success is False
    assert isinstance(result.exception, trio.TooSlowError)
    assert result.error == "TooSlowError: operation 'slow' attempt 2 timed out after 1 s"
    assert result.attempts == 2
    assert result.duration == 2.25
    assert dict(result.details) == {"kind": ErrorKind.TRANSIENT, "timed_out": True}


@pytest.mark.parametrize("bound", [None, float("inf")])
async def test_no_timeout_lets_an_attempt_run_as_long_as_it_needs(
    autojump_clock: trio.testing.MockClock, bound: float | None
) -> None:
    async with orchestrator(timeout=bound) as orch:
        result = await orch.execute("long", sleep_then, 1000.0, "late")
    assert result.data == "late"


async def test_retry_gives_up_rather_than_sleep_past_the_callers_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky = Flaky(ConnectionError("down"))
    async with orchestrator(retry_delay=5.0) as orch:
        t0 = trio.current_time()
        with trio.move_on_after(1.0):
            result = await orch.execute("op", flaky)
    assert trio.current_time() == t0
    assert result.success is False
    assert result.attempts == 1


async def test_retry_testing_removes_the_backoff(autojump_clock: trio.testing.MockClock) -> None:
    flaky = Flaky(ConnectionError("a"), ConnectionError("b"))
    async with orchestrator(retry_delay=10.0) as orch:
        t0 = trio.current_time()
        with retry_testing():
            result = await orch.execute("op", flaky)
    assert result.success
    assert flaky.starts == [t0, t0, t0]


# --- cancellation ----------------------------------------------------------------------------


async def test_cancellation_during_an_attempt_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events: list[ServiceEvent] = []
    async with orchestrator() as orch:
        orch.add_listener(events.append)
        with trio.move_on_after(0.3) as scope:
            await orch.execute("op", forever)
        assert scope.cancelled_caught
        m = orch.metrics()
    assert (m.total, m.successful, m.failed, m.cancelled, m.running) == (0, 0, 0, 1, 0)
    assert [type(e) for e in events] == [OperationStarted, OperationCancelled]
    cancelled = events[1]
    assert isinstance(cancelled, OperationCancelled)
    assert (cancelled.attempts, cancelled.duration) == (1, 0.3)


async def test_cancellation_during_the_backoff_starts_no_other_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky = Flaky(ConnectionError("down"))
    async with orchestrator(retry_delay=2.0) as orch:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(orch.execute, "op", flaky)
            await trio.sleep(1.0)
            nursery.cancel_scope.cancel()
        assert orch.metrics().cancelled == 1
    assert len(flaky.starts) == 1


async def test_keyboard_interrupt_propagates_and_is_never_retried() -> None:
    flaky = Flaky(KeyboardInterrupt())
    async with orchestrator() as orch:
        with pytest.raises(KeyboardInterrupt):
            await orch.execute("op", flaky)
        assert orch.metrics().cancelled == 1
    assert len(flaky.starts) == 1


async def test_execute_checkpoints_even_when_fn_does_not() -> None:
    async def instant() -> int:
        return 1

    async with orchestrator() as orch:
        with trio.testing.assert_checkpoints():
            await orch.execute("op", instant)
        with trio.testing.assert_checkpoints():
            await orch.execute_many([])
        with trio.testing.assert_checkpoints():
            await orch.call("a", instant)
        with trio.testing.assert_checkpoints():
            await orch.check_health()


async def test_a_cancelled_call_never_starts_fn() -> None:
    started: list[int] = []

    async def record() -> None:
        started.append(1)

    async with orchestrator() as orch:
        with trio.CancelScope() as scope:
            scope.cancel()
            await orch.call("a", record)
    assert started == []


# --- call: per-service attribution -------------------------------------------------------------


async def test_call_attributes_a_failure_to_its_service() -> None:
    async def onboard() -> None:
        await orch.call("a", sleep_then, 0, "user-1")
        await orch.call("b", Flaky(ConnectionError("mail server down")))

    async with orchestrator(retry_attempts=1) as orch:
        result = await orch.execute("onboard", onboard)
        m = orch.metrics()
    assert result.success is False
    assert dict(result.service_errors) == {"b": "ConnectionError: mail server down"}
    assert dict(m.call_failures) == {"b": 1}


async def test_a_handled_call_failure_is_reported_on_a_success() -> None:
    async def onboard() -> str:
        with contextlib.suppress(PermanentError):  # the welcome mail is optional
            await orch.call("b", Flaky(PermanentError("no template")))
        return "onboarded"

    async with orchestrator() as orch:
        result = await orch.execute("onboard", onboard)
    assert result.success
    assert result.data == "onboarded"
    assert dict(result.service_errors) == {"b": "PermanentError: no template"}


async def test_service_errors_collect_every_attempt_latest_message_per_service(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a_errors = Flaky(ConnectionError("a1"), ConnectionError("a2"), value=None)

    async def op() -> str:
        await orch.call("a", a_errors)
        return "ok"

    async with orchestrator(retry_attempts=3) as orch:
        result = await orch.execute("op", op)
    assert result.success
    assert result.attempts == 3
    assert dict(result.service_errors) == {"a": "ConnectionError: a2"}
    assert orch.metrics().call_failures["a"] == 2


async def test_a_timed_out_call_is_attributed_to_the_service_it_waited_for(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def op() -> None:
        await orch.call("a", sleep_then, 0.1)
        await orch.call("c", forever)

    async with orchestrator(timeout=2.0, retry_attempts=1) as orch:
        result = await orch.execute("op", op)
    assert isinstance(result.exception, trio.TooSlowError)
    assert dict(result.service_errors) == {
        "c": "TooSlowError: no answer within the operation's timeout of 2 s"
    }


async def test_calls_in_child_tasks_are_attributed_too() -> None:
    async def broke(name: str) -> None:
        raise ValueError(f"{name} broke")

    async def try_call(name: str) -> None:
        with contextlib.suppress(ValueError):
            await orch.call(name, broke, name)

    async def fan_out() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(orch.call, "a", sleep_then, 0)
            nursery.start_soon(try_call, "b")
            nursery.start_soon(try_call, "c")
        raise PermanentError("b and c failed")

    async with orchestrator() as orch:
        result = await orch.execute("fan-out", fan_out)
    assert result.error == "PermanentError: b and c failed"
    assert dict(result.service_errors) == {"b": "ValueError: b broke", "c": "ValueError: c broke"}


async def test_a_group_of_permanent_errors_is_not_retried() -> None:
    async def fan_out() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(orch.call, "b", Flaky(ValueError("b broke")))

    async with orchestrator() as orch:
        result = await orch.execute("fan-out", fan_out)
    assert isinstance(result.exception, ExceptionGroup)
    assert result.attempts == 1
    assert dict(result.service_errors) == {"b": "ValueError: b broke"}


async def test_nested_operations_keep_their_own_service_errors() -> None:
    async def inner() -> None:
        await orch.call("b", Flaky(ValueError("inner")))

    async def outer() -> Any:
        nested = await orch.execute("inner", inner)
        await orch.call("a", Flaky(ValueError("outer")))
        return nested

    async with orchestrator() as orch:
        result = await orch.execute("outer", outer)
        nested = orch.metrics()
    assert dict(result.service_errors) == {"a": "ValueError: outer"}
    assert nested.total == 2


async def test_call_to_an_unknown_service_fails_the_operation_at_once() -> None:
    async def op() -> None:
        await orch.call("nope", sleep_then, 0)

    async with orchestrator() as orch:
        with pytest.raises(
            ServiceNotFound,
            match=r"^no service named 'nope' is registered \(registered: 'a', 'b', 'c'\)$",
        ) as info:
            await orch.call("nope", sleep_then, 0)
        result = await orch.execute("op", op)
    assert isinstance(info.value, OrchError)
    assert isinstance(info.value, LookupError)
    assert (info.value.service, info.value.known) == ("nope", ("a", "b", "c"))
    assert result.attempts == 1
    assert isinstance(result.exception, ServiceNotFound)
    assert result.details["kind"] is ErrorKind.PERMANENT


async def test_call_outside_an_operation_only_counts() -> None:
    async with orchestrator() as orch:
        assert await orch.call("a", sleep_then, 0, 7) == 7
        with pytest.raises(ValueError, match=r"^x$"):
            await orch.call("a", Flaky(ValueError("x")))
        assert dict(orch.metrics().call_failures) == {"a": 1}


# --- execute_many --------------------------------------------------------------------------------


async def test_execute_many_runs_batches_of_batch_size(
    autojump_clock: trio.testing.MockClock,
) -> None:
    starts: dict[str, float] = {}

    async def job(name: str, seconds: float) -> str:
        starts[name] = trio.current_time()
        await trio.sleep(seconds)
        if name == "e":
            raise ValueError("e failed")
        return name.upper()

    durations = {"a": 1.0, "b": 3.0, "c": 1.0, "d": 1.0, "e": 2.0}
    async with orchestrator(batch_size=2) as orch:
        t0 = trio.current_time()
        results = await orch.execute_many([(n, job, (n, s)) for n, s in durations.items()])
    assert {n: s - t0 for n, s in starts.items()} == {
        "a": 0.0,
        "b": 0.0,
        "c": 3.0,  # the next batch waits for the slowest of the first
        "d": 3.0,
        "e": 4.0,
    }
    assert trio.current_time() == t0 + 6.0
    assert [r.operation for r in results] == ["a", "b", "c", "d", "e"]
    assert [r.data for r in results] == ["A", "B", "C", "D", None]
    assert results[4].error == "ValueError: e failed"


async def test_execute_many_accepts_name_fn_pairs_and_any_iterable() -> None:
    async def one() -> int:
        return 1

    async with orchestrator() as orch:
        results = await orch.execute_many(iter([("one", one), ("two", sleep_then, (0, 2))]))
    assert [r.data for r in results] == [1, 2]


async def test_cancelling_execute_many_starts_no_further_batch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[str] = []

    async def job(name: str) -> None:
        started.append(name)
        await trio.sleep(1.0)

    async with orchestrator(batch_size=2) as orch:
        with trio.move_on_after(1.5):
            await orch.execute_many([(n, job, (n,)) for n in "abcdef"])
        m = orch.metrics()
    assert started == ["a", "b", "c", "d"] or sorted(started) == ["a", "b", "c", "d"]
    assert (m.successful, m.cancelled, m.running) == (2, 2, 0)


@pytest.mark.parametrize(
    ("operations", "error", "message"),
    [
        (5, TypeError, r"^operations must be an iterable of \(name, fn, args\) tuples, got 5$"),
        ("ab", TypeError, r"^operations must be an iterable of \(name, fn, args\) tuples, got 'ab'$"),
        ([("a",)], TypeError, r"^operations\[0\] must be a \(name, fn, args\) tuple, got \('a',\)$"),
        ([["a", print]], TypeError, r"^operations\[0\] must be a \(name, fn, args\) tuple, got \['a', <built-in function print>\]$"),
        ([("a", sleep_then, (0,)), ("", sleep_then)], ValueError, r"^operations\[1\] name must not be empty, got ''$"),
        ([(1, sleep_then)], TypeError, r"^operations\[0\] name must be a str, got 1$"),
        ([("a", 3)], TypeError, r"^operations\[0\] fn must be callable, got 3$"),
        ([("a", sleep_then, [0])], TypeError, r"^operations\[0\] args must be a tuple, got \[0\]$"),
    ],
)  # fmt: skip
async def test_execute_many_checks_every_item_before_starting_any(
    operations: Any, error: type[Exception], message: str
) -> None:
    async with orchestrator() as orch:
        with pytest.raises(error, match=message):
            await orch.execute_many(operations)
        assert orch.metrics().total == 0


# --- metrics ----------------------------------------------------------------------------------


async def test_metrics_arithmetic(autojump_clock: trio.testing.MockClock) -> None:
    orch = orchestrator(metrics_window=10)
    assert orch.metrics().uptime == 0.0
    async with orch:
        t0 = trio.current_time()
        for seconds in range(1, 21):  # successes of 1..20 s; a 0 s failure after every 4th
            await orch.execute("op", sleep_then, seconds)
            if seconds % 4 == 0:
                await orch.execute("bad", Flaky(ValueError("no")))
        m = orch.metrics()
        assert m.uptime == trio.current_time() - t0 == 210.0
        assert orch.stats == m
    assert (m.total, m.successful, m.failed, m.cancelled, m.running) == (25, 20, 5, 0, 0)
    assert m.average_duration == 210 / 25
    # the window holds the last 10 durations: 13, 14, 15, 16, 0, 17, 18, 19, 20, 0
    assert m.p95_duration == 20.0  # nearest rank: the ceil(9.5) = 10th smallest
    await trio.sleep(5)
    assert orch.metrics().uptime == 210.0  # frozen once closed
    assert dict(m.availability) == {}


async def test_p95_is_the_nearest_rank(autojump_clock: trio.testing.MockClock) -> None:
    async with orchestrator(timeout=None) as orch:
        assert orch.metrics().p95_duration == 0.0
        assert orch.metrics().average_duration == 0.0
        for seconds in range(1, 41):
            await orch.execute("op", sleep_then, seconds)
        m = orch.metrics()
    assert m.p95_duration == 38.0  # ceil(0.95 * 40) = 38th smallest
    assert m.average_duration == 20.5


# --- listeners and the bus --------------------------------------------------------------------


async def test_listeners_get_events_in_order_and_can_be_removed() -> None:
    first: list[ServiceEvent] = []
    second: list[ServiceEvent] = []
    async with orchestrator() as orch:
        orch.add_listener(first.append)
        orch.add_listener(first.append)  # once only
        orch.add_listener(second.append)
        await orch.execute("ok", sleep_then, 0, 1)
        assert orch.remove_listener(second.append) is True
        assert orch.remove_listener(second.append) is False
        await orch.execute("bad", Flaky(ValueError("no")))
    assert [type(e) for e in first] == [
        OperationStarted,
        OperationCompleted,
        OperationStarted,
        OperationFailed,
    ]
    assert [type(e) for e in second] == [OperationStarted, OperationCompleted]
    failed = first[3]
    assert isinstance(failed, OperationFailed)
    assert (failed.operation, failed.attempts) == ("bad", 1)
    assert str(failed.error) == "no"
    assert isinstance(first[0], ServiceEvent)


async def test_a_failing_listener_is_counted_and_never_breaks_an_operation() -> None:
    seen: list[ServiceEvent] = []

    def broken(event: ServiceEvent) -> None:
        raise RuntimeError("listener bug")

    async with orchestrator() as orch:
        orch.add_listener(broken)
        orch.add_listener(seen.append)
        result = await orch.execute("op", sleep_then, 0, 1)
        m = orch.metrics()
    assert result.data == 1
    assert len(seen) == 2
    assert m.listener_errors == 2


async def test_events_go_to_the_bus() -> None:
    async with open_event_bus() as bus:
        seen: list[ServiceEvent] = []
        bus.on(ServiceEvent, seen.append)
        async with orchestrator(bus=bus) as orch:
            await orch.execute("op", sleep_then, 0, 1)
    assert [type(e) for e in seen] == [OperationStarted, OperationCompleted]


async def test_a_closed_bus_drops_events_without_failing_operations() -> None:
    async with open_event_bus() as bus:
        pass
    async with orchestrator(bus=bus) as orch:
        result = await orch.execute("op", sleep_then, 0, 1)
    assert result.data == 1


async def test_async_listeners_are_refused() -> None:
    async def handler(event: ServiceEvent) -> None: ...

    orch = orchestrator()
    with pytest.raises(
        TypeError,
        match=r"^fn must be a sync callable \(use a bus for async handlers\), got <function",
    ):
        orch.add_listener(handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^fn must be callable, got 3$"):
        orch.add_listener(3)  # type: ignore[arg-type]


# --- lifecycle ----------------------------------------------------------------------------


def _tasks_under(task: trio.lowlevel.Task) -> int:
    return sum(1 + _tasks_under(t) for n in task.child_nurseries for t in n.child_tasks)


async def test_leaving_the_block_leaves_no_task_and_no_listener(
    autojump_clock: trio.testing.MockClock,
) -> None:
    checks: list[float] = []

    async def ping() -> None:
        checks.append(trio.current_time())
        await trio.sleep_forever()  # a hung check, cancelled on exit

    def listener(event: ServiceEvent) -> None: ...

    root = trio.lowlevel.current_root_task()
    before = _tasks_under(root)
    orch = ServiceOrchestrator(health_interval=1.0, health_timeout=10.0)
    orch.register(Service("db", health_check=ping))
    async with orch:
        orch.add_listener(listener)
        await trio.sleep(0.5)
        assert _tasks_under(root) > before
    assert _tasks_under(root) == before
    assert orch.remove_listener(listener) is False
    await trio.sleep(100)
    assert len(checks) == 1


async def test_use_outside_the_block_is_refused() -> None:
    orch = orchestrator()
    with pytest.raises(
        RuntimeError,
        match=r"^ServiceOrchestrator.execute\(\) needs the orchestrator open: use `async with orch:`$",
    ):
        await orch.execute("op", sleep_then, 0)
    async with orch:
        pass
    for what, call in [
        ("execute", lambda: orch.execute("op", sleep_then, 0)),
        ("execute_many", lambda: orch.execute_many([])),
        ("call", lambda: orch.call("a", sleep_then, 0)),
        ("check_health", orch.check_health),
    ]:
        with pytest.raises(
            RuntimeError,
            match=rf"^ServiceOrchestrator.{what}\(\) called after its `async with` block ended$",
        ):
            await call()
    with pytest.raises(RuntimeError, match=r"^a ServiceOrchestrator can be entered only once$"):
        async with orch:
            pass
    with pytest.raises(RuntimeError, match=r"^ServiceOrchestrator.register\(\) called after"):
        orch.register(Service("late"))
    with pytest.raises(RuntimeError, match=r"^ServiceOrchestrator.add_listener\(\) called after"):
        orch.add_listener(print)


async def test_an_error_in_the_block_propagates_unwrapped() -> None:
    with pytest.raises(ZeroDivisionError):
        async with orchestrator():
            1 / 0  # noqa: B018


async def test_execute_checks_its_arguments() -> None:
    async with orchestrator() as orch:
        with pytest.raises(ValueError, match=r"^name must not be empty, got ''$"):
            await orch.execute("", sleep_then, 0)
        with pytest.raises(TypeError, match=r"^name must be a str, got None$"):
            await orch.execute(None, sleep_then, 0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^fn must be callable, got 'x'$"):
            await orch.execute("op", "x")  # type: ignore[arg-type]


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"retry_attempts": 0}, ValueError, r"^retry_attempts must be >= 1, got 0$"),
        ({"retry_attempts": 2.0}, TypeError, r"^retry_attempts must be an int, got 2.0$"),
        ({"retry_attempts": True}, TypeError, r"^retry_attempts must be an int, got True$"),
        ({"retry_delay": -1}, ValueError, r"^retry_delay must be finite and >= 0, got -1$"),
        ({"retry_delay": "1"}, TypeError, r"^retry_delay must be a number, got '1'$"),
        ({"timeout": 0}, ValueError, r"^timeout must be > 0, got 0$"),
        ({"timeout": -5.0}, ValueError, r"^timeout must be > 0, got -5.0$"),
        ({"batch_size": 0}, ValueError, r"^batch_size must be >= 1, got 0$"),
        ({"batch_size": None}, TypeError, r"^batch_size must be an int, got None$"),
        ({"health_interval": 0}, ValueError, r"^health_interval must be > 0, got 0$"),
        ({"health_timeout": 0}, ValueError, r"^health_timeout must be finite and > 0, got 0$"),
        ({"health_timeout": None}, TypeError, r"^health_timeout must be a number, got None$"),
        ({"bus": "bus"}, TypeError, r"^bus must be an EventBus or None, got 'bus'$"),
        ({"classifier": None}, TypeError, r"^classifier must be an ErrorClassifier, got None$"),
        ({"jitter": "full"}, TypeError, r"^jitter must be a Jitter, got 'full'$"),
        ({"metrics_window": 0}, ValueError, r"^metrics_window must be >= 1, got 0$"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ServiceOrchestrator(**kwargs)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ServiceOrchestrator(3)  # type: ignore[misc]


def test_duplicate_and_bad_services_are_refused() -> None:
    orch = ServiceOrchestrator()
    orch.register(Service("identity"))
    with pytest.raises(
        ValueError, match=r"^service name must be unique, got 'identity' \(already registered\)$"
    ):
        orch.register(Service("identity"))
    with pytest.raises(TypeError, match=r"^service must be a Service, got 'identity'$"):
        orch.register("identity")  # type: ignore[arg-type]
    assert list(orch.services) == ["identity"]
    assert "identity" in repr(orch)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("",), {}, ValueError, r"^name must not be empty, got ''$"),
        ((3,), {}, TypeError, r"^name must be a str, got 3$"),
        (("s", 3), {}, TypeError, r"^health_check must be callable or None, got 3$"),
        (("s",), {"failure_threshold": 0}, ValueError, r"^failure_threshold must be >= 1, got 0$"),
        (("s",), {"degraded_latency": -1.0}, ValueError, r"^degraded_latency must be finite and > 0, got -1.0$"),
    ],
)  # fmt: skip
def test_bad_services_are_refused_with_a_clear_message(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Service(*args, **kwargs)


async def test_a_classifier_that_raises_still_gives_a_result() -> None:
    def broken_rule(exc: BaseException) -> ErrorKind | None:
        raise RuntimeError("rule bug")

    classifier = DEFAULT_CLASSIFIER.with_rule(broken_rule)
    async with orchestrator(classifier=classifier) as orch:
        result = await orch.execute("op", Flaky(ValueError("no")))
    assert result.success is False
    assert result.error == "RuntimeError: rule bug"
    assert result.details["kind"] is ErrorKind.UNKNOWN


def test_health_statuses_are_ordered_by_severity() -> None:
    ordered = sorted(HealthStatus, key=lambda s: s.severity)
    assert ordered == [
        HealthStatus.HEALTHY,
        HealthStatus.UNKNOWN,
        HealthStatus.DEGRADED,
        HealthStatus.UNHEALTHY,
    ]


async def test_running_counts_operations_under_way() -> None:
    seen: list[tuple[str, int]] = []

    def listener(event: ServiceEvent) -> None:
        seen.append((type(event).__name__, orch.metrics().running))

    async def op() -> None:
        assert orch.metrics().running == 1

    async with orchestrator() as orch:
        orch.add_listener(listener)
        await orch.execute("ok", op)
        await orch.execute("bad", Flaky(ValueError("no")))
        with trio.CancelScope() as scope:
            scope.cancel()
            await orch.execute("cancelled", op)
    assert seen == [
        ("OperationStarted", 1),
        ("OperationCompleted", 0),
        ("OperationStarted", 1),
        ("OperationFailed", 0),
        ("OperationStarted", 1),
        ("OperationCancelled", 0),
    ]
