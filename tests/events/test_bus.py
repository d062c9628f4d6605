"""The event bus: dispatch, handlers, subscriptions, drop policies, backpressure, closing."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.lowlevel
import trio.testing
from structlog.testing import capture_logs

from trio_orch import (
    BusClosed,
    DropPolicy,
    Event,
    EventsDropped,
    HandlerFailed,
    QueueStats,
    SystemEvent,
    open_event_bus,
)


@attrs.frozen
class UserInput(Event):
    text: str


@attrs.frozen
class KeyPress(UserInput):
    key: str = "k"


@attrs.frozen
class Tick(Event):
    n: int


def test_event_is_a_frozen_attrs_base() -> None:
    event = UserInput("hi")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.text = "no"  # type: ignore[misc]
    assert event == UserInput("hi")
    assert attrs.fields(Event) == ()
    assert isinstance(KeyPress("a", "b"), UserInput)


async def test_subclass_and_wildcard_dispatch() -> None:
    seen: list[tuple[str, Event]] = []
    async with open_event_bus() as bus:
        bus.on(UserInput, lambda e: seen.append(("user", e)))
        bus.on(KeyPress, lambda e: seen.append(("key", e)))
        bus.on(Event, lambda e: seen.append(("all", e)))
        bus.emit(UserInput("a"))
        bus.emit(KeyPress("b"))
        bus.emit(Tick(1))
    assert seen == [
        ("user", UserInput("a")),
        ("all", UserInput("a")),
        ("user", KeyPress("b")),
        ("key", KeyPress("b")),
        ("all", KeyPress("b")),
        ("all", Tick(1)),
    ]


async def test_dispatch_cache_follows_registrations() -> None:
    seen: list[str] = []
    async with open_event_bus() as bus:
        bus.emit(KeyPress("x"))  # caches "no listeners" for KeyPress
        bus.on(UserInput, lambda e: seen.append("user"))
        bus.emit(KeyPress("x"))
        bus.off(UserInput, seen.append)  # not registered: no change
        bus.emit(KeyPress("x"))
    assert seen == ["user", "user"]


async def test_once_and_off() -> None:
    seen: list[str] = []

    def a(e: UserInput) -> None:
        seen.append("a:" + e.text)

    def b(e: UserInput) -> None:
        seen.append("b:" + e.text)

    async with open_event_bus() as bus:
        bus.on(UserInput, a)
        bus.once(UserInput, b)
        bus.emit(UserInput("1"))
        bus.emit(UserInput("2"))
        assert bus.off(UserInput, a) is True
        assert bus.off(UserInput, a) is False
        bus.emit(UserInput("3"))
    assert seen == ["a:1", "b:1", "a:2"]


async def test_once_fires_once_under_reentrant_emit() -> None:
    seen: list[str] = []
    async with open_event_bus() as bus:

        def handler(e: UserInput) -> None:
            seen.append(e.text)
            bus.emit(UserInput("inner"))

        bus.once(UserInput, handler)
        bus.emit(UserInput("outer"))
        bus.emit(UserInput("later"))
    assert seen == ["outer"]


async def test_on_as_decorator_and_bound_methods_off() -> None:
    class Counter:
        def __init__(self) -> None:
            self.n = 0

        def bump(self, _e: Event) -> None:
            self.n += 1

    counter = Counter()
    seen: list[str] = []
    async with open_event_bus() as bus:

        @bus.on(UserInput)
        def handler(e: UserInput) -> None:
            seen.append(e.text)

        bus.on(UserInput, counter.bump)
        bus.emit(UserInput("x"))
        assert bus.off(UserInput, counter.bump)  # a fresh bound method compares equal
        bus.emit(UserInput("y"))
    assert seen == ["x", "y"]
    assert counter.n == 1


async def test_same_handler_twice_is_called_twice_and_off_removes_one() -> None:
    seen: list[str] = []
    async with open_event_bus() as bus:
        bus.on(UserInput, seen.append)
        bus.on(UserInput, seen.append)
        bus.emit(UserInput("a"))
        bus.off(UserInput, seen.append)
        bus.emit(UserInput("b"))
    assert seen == [UserInput("a"), UserInput("a"), UserInput("b")]


async def test_failing_handler_is_reported_and_others_still_run() -> None:
    seen: list[Any] = []

    def bad(_e: UserInput) -> None:
        raise RuntimeError("boom")

    async with open_event_bus() as bus:
        bus.on(UserInput, bad)
        bus.on(UserInput, lambda e: seen.append(e.text))
        bus.on(HandlerFailed, seen.append)
        with capture_logs() as logs:
            bus.emit(UserInput("a"))
            await bus.publish(UserInput("b"))
        assert bus.stats.handler_errors == 2
    failures = [e for e in seen if isinstance(e, HandlerFailed)]
    assert [f.event for f in failures] == [UserInput("a"), UserInput("b")]
    assert all(f.handler.endswith("bad") for f in failures)
    assert all(isinstance(f.error, RuntimeError) for f in failures)
    assert [e for e in seen if isinstance(e, str)] == ["a", "b"]
    assert [entry["event"] for entry in logs] == ["trio_orch.bus.handler_failed"] * 2


async def test_failing_error_handler_is_not_reported_again() -> None:
    calls: list[str] = []

    def bad(e: Event) -> None:
        calls.append(type(e).__name__)
        raise RuntimeError("again")

    async with open_event_bus() as bus:
        bus.on(Event, bad)
        with capture_logs():
            bus.emit(Tick(1))
        assert bus.stats.handler_errors == 2
    assert calls == ["Tick", "HandlerFailed"]


async def test_failing_async_handler_is_reported(autojump_clock: trio.testing.MockClock) -> None:
    seen: list[Event] = []

    async def bad(_e: Tick) -> None:
        await trio.sleep(1)
        raise ValueError("async boom")

    async with open_event_bus() as bus:
        bus.on(Tick, bad)
        bus.on(HandlerFailed, seen.append)
        with capture_logs():
            bus.emit(Tick(1))
            await trio.sleep(2)
    assert len(seen) == 1
    assert isinstance(seen[0], HandlerFailed)
    assert seen[0].event == Tick(1)


async def test_cancelled_and_base_exceptions_are_not_swallowed() -> None:
    def interrupt(_e: Tick) -> None:
        raise KeyboardInterrupt

    async def scenario() -> None:
        async with open_event_bus() as bus:
            bus.on(Tick, interrupt)
            bus.emit(Tick(1))

    with pytest.raises(KeyboardInterrupt):
        await scenario()


async def test_slow_async_handler_does_not_delay_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fast: list[tuple[float, int]] = []
    slow: list[tuple[float, int]] = []

    async def slow_handler(e: Tick) -> None:
        await trio.sleep(10)
        slow.append((trio.current_time(), e.n))

    async def fast_handler(e: Tick) -> None:
        fast.append((trio.current_time(), e.n))

    async with open_event_bus() as bus:
        bus.on(Tick, slow_handler, max_buffer=2, drop=DropPolicy.NEWEST)
        bus.on(Tick, fast_handler)
        with capture_logs():
            for n in range(5):
                bus.emit(Tick(n))
                await trio.sleep(1)
    assert fast == [(float(n), n) for n in range(5)]
    # The slow handler runs one invocation at a time; its inbox keeps 2, the rest dropped.
    assert slow == [(10.0, 0), (20.0, 1), (30.0, 2)]


async def test_async_handler_runs_one_event_at_a_time_in_order() -> None:
    active = 0
    peak = 0
    order: list[int] = []

    async def handler(e: Tick) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await trio.lowlevel.checkpoint()
        order.append(e.n)
        active -= 1

    async with open_event_bus() as bus:
        bus.on(Tick, handler, max_buffer=50)
        for n in range(20):
            bus.emit(Tick(n))
    assert order == list(range(20))
    assert peak == 1


async def test_async_once_handler() -> None:
    seen: list[int] = []

    async def handler(e: Tick) -> None:
        seen.append(e.n)

    async with open_event_bus() as bus:
        bus.once(Tick, handler)
        bus.emit(Tick(1))
        await bus.publish(Tick(2))
        assert not bus.has_listeners(Tick)
    assert seen == [1]


async def test_once_through_publish_fires_once_and_detaches() -> None:
    seen: list[str] = []

    def sync_once(e: UserInput) -> None:
        seen.append("sync:" + e.text)

    async def async_once(e: UserInput) -> None:
        seen.append("async:" + e.text)
        await trio.lowlevel.checkpoint()

    async with open_event_bus() as bus:
        bus.once(UserInput, sync_once)
        bus.once(UserInput, async_once)
        await bus.publish(UserInput("1"))
        await bus.publish(UserInput("2"))
        assert not bus.has_listeners(UserInput)
    assert seen == ["sync:1", "async:1"]


async def test_a_failing_sync_once_handler_is_reported_and_removed() -> None:
    failures: list[HandlerFailed] = []

    def boom(e: UserInput) -> None:
        raise ValueError(e.text)

    async with open_event_bus() as bus:
        bus.on(HandlerFailed, failures.append)
        bus.once(UserInput, boom)
        with capture_logs():
            await bus.publish(UserInput("x"))
            bus.emit(UserInput("y"))
        assert not bus.has_listeners(UserInput)
    assert [(f.handler, str(f.error)) for f in failures] == [
        ("test_a_failing_sync_once_handler_is_reported_and_removed.<locals>.boom", "x")
    ]


async def test_subscription_preserves_order_and_sees_subclasses() -> None:
    async with (
        open_event_bus() as bus,
        bus.subscribe(UserInput, max_buffer=10) as events,
    ):
        bus.emit(UserInput("a"))
        bus.emit(Tick(0))
        await bus.publish(KeyPress("b"))
        bus.emit(UserInput("c"))
        got = [events.receive_nowait() for _ in range(3)]
        with pytest.raises(trio.WouldBlock):
            events.receive_nowait()
    assert got == [UserInput("a"), KeyPress("b"), UserInput("c")]


async def test_subscription_iteration_ends_when_bus_closes() -> None:
    got: list[Event] = []
    async with trio.open_nursery() as nursery, open_event_bus() as bus:

        async def reader(task_status: trio.TaskStatus[None]) -> None:
            async with bus.subscribe(Tick) as events:
                task_status.started()
                got.extend([event async for event in events])

        await nursery.start(reader)
        bus.emit(Tick(1))
        bus.emit(Tick(2))
    assert got == [Tick(1), Tick(2)]


@pytest.mark.parametrize(
    ("drop", "kept", "stats"),
    [
        (
            DropPolicy.BLOCK,
            [0, 1, 2],
            QueueStats(size=0, max_size=3, sent=3, dropped=3, rejected=0),
        ),
        (
            DropPolicy.NEWEST,
            [0, 1, 2],
            QueueStats(size=0, max_size=3, sent=6, dropped=3, rejected=0),
        ),
        (
            DropPolicy.OLDEST,
            [3, 4, 5],
            QueueStats(size=0, max_size=3, sent=6, dropped=3, rejected=0),
        ),
        (
            DropPolicy.REJECT,
            [0, 1, 2],
            QueueStats(size=0, max_size=3, sent=3, dropped=0, rejected=3),
        ),
    ],
)
async def test_bounded_subscriber_counts_drops_per_policy(
    drop: DropPolicy, kept: list[int], stats: QueueStats
) -> None:
    reports: list[EventsDropped] = []
    async with open_event_bus() as bus:
        bus.on(EventsDropped, reports.append)
        async with bus.subscribe(Tick, max_buffer=3, drop=drop, name="slow") as events:
            with capture_logs() as logs:
                for n in range(6):
                    bus.emit(Tick(n))
            got = [events.receive_nowait().n for _ in range(3)]
            assert events.stats == stats
        assert bus.stats.dropped == 3
    assert got == kept
    # The first drop is reported at once, the rest when the subscription closes.
    assert [(r.subscriber, r.policy, r.count, r.total) for r in reports] == [
        ("slow", drop.name, 1, 1),
        ("slow", drop.name, 2, 3),
    ]
    assert "trio_orch.bus.dropped" in [entry["event"] for entry in logs]


async def test_drop_reports_are_rate_limited(autojump_clock: trio.testing.MockClock) -> None:
    reports: list[EventsDropped] = []
    async with open_event_bus() as bus:
        bus.on(EventsDropped, reports.append)
        async with bus.subscribe(Tick, max_buffer=1, drop=DropPolicy.OLDEST) as events:
            with capture_logs():
                for n in range(10):
                    bus.emit(Tick(n))
                    await trio.sleep(0.25)
            assert events.receive_nowait() == Tick(9)
    # The first drop at once; then the drop log (and its report) looks at the clock after
    # 1, 2, 4, ... drops, so the next report is the 8th drop's (1.75 s later, past the 1 s
    # interval); the last one comes when the subscription closes.
    assert [(r.count, r.total) for r in reports] == [(1, 1), (7, 8), (1, 9)]


async def test_drops_of_system_events_do_not_cascade() -> None:
    async with open_event_bus() as bus:
        async with bus.subscribe(Event, max_buffer=1, drop=DropPolicy.OLDEST) as events:
            with capture_logs():
                for n in range(5):
                    bus.emit(Tick(n))
            # Tick(1) evicted Tick(0): that first drop was reported at once, and the report
            # (an EventsDropped) evicted Tick(1) in turn, unreported; then Tick(2) evicted
            # the report, and so on.  No report of a report, no recursion.
            assert events.receive_nowait() == Tick(4)
            assert events.stats.dropped == 5
        # Closing the subscription reports the 4 drops not reported yet.
        assert bus.stats.dropped == 5


async def test_publish_waits_for_room(autojump_clock: trio.testing.MockClock) -> None:
    published: list[tuple[float, int]] = []
    received: list[tuple[float, int]] = []
    async with open_event_bus() as bus, trio.open_nursery() as nursery:

        async def consumer(task_status: trio.TaskStatus[None]) -> None:
            async with bus.subscribe(Tick, max_buffer=2) as events:
                task_status.started()
                async for event in events:
                    received.append((trio.current_time(), event.n))
                    await trio.sleep(1)
                    if event.n == 4:
                        return

        await nursery.start(consumer)
        for n in range(5):
            await bus.publish(Tick(n))
            published.append((trio.current_time(), n))
    assert received == [(0.0, 0), (1.0, 1), (2.0, 2), (3.0, 3), (4.0, 4)]
    # Two fit in the inbox at once, plus the one the consumer took; then one per second.
    assert published == [(0.0, 0), (0.0, 1), (0.0, 2), (1.0, 3), (2.0, 4)]


async def test_emit_never_blocks_on_a_full_block_subscriber() -> None:
    async with open_event_bus() as bus, bus.subscribe(Tick, max_buffer=1) as events:
        with trio.testing.assert_no_checkpoints(), capture_logs():
            for n in range(3):
                bus.emit(Tick(n))
        assert events.stats.dropped == 2
        assert events.receive_nowait() == Tick(0)


async def test_publish_cancelled_while_waiting_leaves_inbox_unchanged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_event_bus() as bus, bus.subscribe(Tick, max_buffer=1) as events:
        await bus.publish(Tick(0))
        with trio.move_on_after(5) as scope:
            await bus.publish(Tick(1))
        assert scope.cancelled_caught
        assert trio.current_time() == 5.0
        assert events.stats.size == 1
        assert events.receive_nowait() == Tick(0)


async def test_publish_and_subscribe_are_checkpoints() -> None:
    async with open_event_bus() as bus:
        with trio.testing.assert_checkpoints():
            await bus.publish(Tick(0))  # no listeners: the fast path still checkpoints
        with trio.testing.assert_checkpoints():
            async with bus.subscribe(Tick):
                pass


async def test_emit_after_close_raises() -> None:
    async with open_event_bus() as bus:
        pass
    assert bus.closed
    with pytest.raises(BusClosed, match=r"^event bus is closed"):
        bus.emit(Tick(1))
    with pytest.raises(trio.ClosedResourceError):
        await bus.publish(Tick(1))
    with pytest.raises(BusClosed):
        bus.on(Tick, print)
    with pytest.raises(BusClosed):
        bus.subscribe(Tick)


async def test_bus_waits_for_async_handlers_to_drain(
    autojump_clock: trio.testing.MockClock,
) -> None:
    done: list[int] = []

    async def handler(e: Tick) -> None:
        await trio.sleep(1)
        done.append(e.n)

    async with open_event_bus() as bus:
        bus.on(Tick, handler)
        for n in range(3):
            bus.emit(Tick(n))
    assert done == [0, 1, 2]
    assert trio.current_time() == 3.0


async def test_drain_timeout_cancels_leftover_handler_work(
    autojump_clock: trio.testing.MockClock,
) -> None:
    done: list[int] = []

    async def handler(e: Tick) -> None:
        await trio.sleep(1)
        done.append(e.n)

    with capture_logs() as logs:
        async with open_event_bus(drain_timeout=1.5) as bus:
            bus.on(Tick, handler)
            for n in range(3):
                bus.emit(Tick(n))
    assert done == [0]
    assert trio.current_time() == 1.5
    events = [entry["event"] for entry in logs]
    assert "trio_orch.bus.drain_timeout" in events
    # The event still queued (Tick(2)) was discarded, and that is counted as a drop.
    dropped = [entry for entry in logs if entry["event"] == "trio_orch.bus.dropped"]
    assert [entry["total"] for entry in dropped] == [1]
    assert bus.stats.dropped == 1


async def test_error_in_block_propagates_unwrapped_and_cancels_handlers() -> None:
    async def forever(_e: Tick) -> None:
        await trio.sleep_forever()

    async def scenario() -> None:
        async with open_event_bus() as bus:
            bus.on(Tick, forever)
            bus.emit(Tick(1))
            await trio.testing.wait_all_tasks_blocked()
            raise ValueError("inside")

    with pytest.raises(ValueError, match=r"^inside$"):
        await scenario()


async def test_introspection_and_remove_all_listeners() -> None:
    async with open_event_bus() as bus:
        assert not bus.has_listeners(Tick)
        bus.on(UserInput, print)
        bus.on(Tick, print)
        assert bus.event_types() == (UserInput, Tick)
        assert bus.has_listeners(KeyPress)  # via its base class
        assert not bus.has_listeners(Event)
        async with bus.subscribe(Event):
            assert bus.has_listeners(SystemEvent)
            bus.remove_all_listeners(Tick)
            assert bus.event_types() == (UserInput, Event)
            bus.remove_all_listeners()
            assert bus.event_types() == (Event,)  # subscriptions end with their block
            assert bus.stats.listeners == 1
        assert bus.stats.listeners == 0


async def test_bad_input() -> None:
    async with open_event_bus() as bus:
        with pytest.raises(
            TypeError, match=r"^event_type must be a subclass of Event, got <class 'int'>$"
        ):
            bus.on(int, print)  # type: ignore[type-var]
        with pytest.raises(TypeError, match=r"^handler must be callable, got 3$"):
            bus.on(Tick, 3)  # type: ignore[call-overload]
        with pytest.raises(ValueError, match=r"^max_buffer must be >= 1, got 0$"):
            bus.subscribe(Tick, max_buffer=0)
        with pytest.raises(TypeError, match=r"^max_buffer must be an int, got 1.5$"):
            bus.subscribe(Tick, max_buffer=1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^drop must be a DropPolicy, got 'block'$"):
            bus.subscribe(Tick, drop="block")  # type: ignore[arg-type]
        with pytest.raises(
            TypeError, match=r"^event must be an instance of an Event subclass, got 'x'$"
        ):
            bus.emit("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^drain_timeout must be >= 0 or None, got -1$"):
        async with open_event_bus(drain_timeout=-1):
            pass


async def test_closing_a_subscription_early_stops_delivery() -> None:
    async with open_event_bus() as bus, bus.subscribe(Tick) as events:
        await events.aclose()
        bus.emit(Tick(1))
        assert not bus.has_listeners(Tick)
        with pytest.raises(trio.ClosedResourceError):
            events.receive_nowait()
