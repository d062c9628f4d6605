"""Actors and the choreographer: spawn, flows, crashes, restart policies, deadlocks."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from trio_orch import (
    Actor,
    ActorFailed,
    ActorRef,
    ActorRestarted,
    DropPolicy,
    Event,
    EventBus,
    FlowDeadlock,
    HandlerFailed,
    Jitter,
    QueueFull,
    RestartPolicy,
    RetryPolicy,
    batch,
    open_choreographer,
    open_event_bus,
)


@attrs.frozen
class UserInput(Event):
    text: str


@attrs.frozen
class Ping(Event):
    n: int


@attrs.frozen
class Pong(Event):
    n: int


@attrs.define
class Recorder(Actor[Any]):
    """Records (time, event) and its lifecycle."""

    seen: list[tuple[float, Any]] = attrs.Factory(list)
    log: list[str] = attrs.Factory(list)
    delay: float = 0.0

    async def on_start(self) -> None:
        self.log.append("start")
        await trio.lowlevel.checkpoint()

    async def handle(self, event: Any) -> None:
        if self.delay:
            await trio.sleep(self.delay)
        self.seen.append((trio.current_time(), event))

    async def on_stop(self) -> None:
        self.log.append("stop")
        await trio.lowlevel.checkpoint()


@attrs.define
class Crasher(Actor[Ping]):
    """Raises on events whose n is in ``crash_on``."""

    crash_on: set[int]
    handled: list[int] = attrs.Factory(list)
    starts: list[float] = attrs.Factory(list)

    async def on_start(self) -> None:
        self.starts.append(trio.current_time())
        await trio.lowlevel.checkpoint()

    async def handle(self, event: Ping) -> None:
        await trio.lowlevel.checkpoint()
        if event.n in self.crash_on:
            raise RuntimeError(f"crash on {event.n}")
        self.handled.append(event.n)


async def test_flow_routes_filters_and_transforms() -> None:
    actor = Recorder()
    async with open_event_bus() as bus:
        async with open_choreographer(bus) as choreo:
            ref = await choreo.spawn(actor, inbox=10, name="commands")
            assert actor.log == ["start"]
            choreo.flow(
                UserInput,
                to=ref,
                where=lambda e: e.text != "skip",
                transform=lambda e: e.text.upper(),
            )
            bus.emit(UserInput("ls"))
            bus.emit(UserInput("skip"))
            await bus.publish(UserInput("cd"))
            bus.emit(Ping(1))
        assert actor.log == ["start", "stop"]
        assert [e for _, e in actor.seen] == ["LS", "CD"]
        assert ref.stats.handled == 2
        assert not ref.stats.running
        assert not bus.has_listeners(UserInput)  # flows end with the choreographer


async def test_actor_without_base_class_and_ref_send() -> None:
    class Plain:
        def __init__(self) -> None:
            self.got: list[int] = []

        async def handle(self, event: int) -> None:
            await trio.lowlevel.checkpoint()
            self.got.append(event)

    plain = Plain()
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref: ActorRef[int] = await choreo.spawn(plain, inbox=2, drop=DropPolicy.REJECT)
        with trio.testing.assert_checkpoints():
            await ref.send(1)
        await trio.testing.wait_all_tasks_blocked()  # the actor handled 1 and waits
        ref.send_nowait(2)  # handed to the waiting actor
        ref.send_nowait(3)
        ref.send_nowait(4)
        with pytest.raises(QueueFull):
            ref.send_nowait(5)
        with pytest.raises(QueueFull):
            await ref.send(6)  # the twins agree: REJECT refuses loudly
        assert ref.stats.inbox.rejected == 2
        assert ref.name == "test_actor_without_base_class_and_ref_send.<locals>.Plain"
    assert plain.got == [1, 2, 3, 4]


async def test_actor_crash_propagates_and_cancels_siblings() -> None:
    sibling = Recorder(delay=1e9)
    failures: list[ActorFailed] = []

    async def scenario() -> None:
        async with open_event_bus() as bus:
            bus.on(ActorFailed, failures.append)
            async with open_choreographer(bus) as choreo:
                slow = await choreo.spawn(sibling, name="sibling")
                crasher = await choreo.spawn(Crasher({2}), name="crasher")
                choreo.flow(Ping, to=crasher)
                choreo.flow(Ping, to=slow)
                with capture_logs():
                    for n in range(4):
                        await bus.publish(Ping(n))
                    await trio.sleep_forever()

    with pytest.raises(RuntimeError) as info:
        await scenario()
    assert str(info.value) == "crash on 2"
    assert sibling.log == ["start", "stop"]  # cancelled, and its on_stop ran (shielded)
    assert sibling.seen == []
    assert any("raised by actor 'crasher'" in note for note in info.value.__notes__)
    assert [(f.actor, f.restarting) for f in failures] == [("crasher", False)]


async def test_on_start_failure_is_raised_by_spawn() -> None:
    class BadStart(Actor[Any]):
        async def on_start(self) -> None:
            await trio.lowlevel.checkpoint()
            raise OSError("no terminal")

    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        with capture_logs(), pytest.raises(OSError, match=r"^no terminal$"):
            await choreo.spawn(BadStart())
        ok = await choreo.spawn(Recorder())  # the choreographer is still fine
        assert ok.stats.running


def fast_restarts(max_restarts: int, window: float = 60.0) -> RestartPolicy:
    backoff = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=100.0, jitter=Jitter.NONE)
    return RestartPolicy(max_restarts=max_restarts, window=window, backoff=backoff)


async def test_restart_policy_restarts_within_limits_then_gives_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    crasher = Crasher({1, 2, 3})
    restarted: list[ActorRestarted] = []
    refs: list[ActorRef[Ping]] = []

    async def scenario() -> None:
        async with open_event_bus() as bus:
            bus.on(ActorRestarted, restarted.append)
            async with open_choreographer(bus) as choreo:
                refs.append(await choreo.spawn(crasher, name="c", restart=fast_restarts(2)))
                ref = refs[0]
                with capture_logs():
                    for n in range(5):
                        await ref.send(Ping(n))
                    await trio.sleep_forever()

    with pytest.raises(RuntimeError) as info:
        await scenario()
    assert str(info.value) == "crash on 3"
    # Crash on 1 at t=0 -> restart after 1 s; crash on 2 at 1 -> restart after 2 s (t=3);
    # crash on 3: a third restart within the window is not allowed.
    assert crasher.starts == [0.0, 1.0, 3.0]
    assert crasher.handled == [0]
    assert [(r.restarts, r.delay) for r in restarted] == [(1, 1.0), (2, 2.0)]
    assert refs[0].stats.restarts == 2
    assert refs[0].stats.failed == 3
    assert any("gave up after 2 restarts within 60.0 s" in n for n in info.value.__notes__)


async def test_restarts_outside_the_window_do_not_count(
    autojump_clock: trio.testing.MockClock,
) -> None:
    crasher = Crasher({0, 1, 2, 3})
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(crasher, restart=fast_restarts(1, window=5.0))
        with capture_logs():
            for n in range(4):
                await ref.send(Ping(n))
                await trio.sleep(10)
        assert ref.stats.restarts == 4
        assert ref.stats.running
    assert crasher.starts == [0.0, 1.0, 11.0, 21.0, 31.0]


async def test_restart_keeps_the_rest_of_the_inbox(autojump_clock: trio.testing.MockClock) -> None:
    crasher = Crasher({1})
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(crasher, restart=fast_restarts(3))
        with capture_logs():
            for n in range(4):
                ref.send_nowait(Ping(n))
    assert crasher.handled == [0, 2, 3]


async def test_circular_flow_with_blocking_inboxes_raises_flow_deadlock() -> None:
    @attrs.define
    class Echo(Actor[Event]):
        bus: EventBus
        make: Any

        async def handle(self, event: Event) -> None:
            await self.bus.publish(self.make(event.n))  # type: ignore[attr-defined]

    async def scenario() -> None:
        async with open_event_bus() as bus, open_choreographer(bus) as choreo:
            a = await choreo.spawn(Echo(bus, Pong), inbox=1, name="a")
            b = await choreo.spawn(Echo(bus, Ping), inbox=1, name="b")
            choreo.flow(Ping, to=a)
            choreo.flow(Pong, to=b)
            with capture_logs():
                for n in range(4):
                    await bus.publish(Ping(n))
                await trio.sleep_forever()

    with pytest.raises(FlowDeadlock) as info:
        await scenario()
    assert info.value.cycle in (("a", "b", "a"), ("b", "a", "b"))
    assert str(info.value).startswith("circular flow would deadlock: ")


async def test_circular_flow_with_emit_drops_instead_of_deadlocking(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @attrs.define
    class Echo(Actor[Event]):
        bus: EventBus
        make: Any
        limit: int

        async def handle(self, event: Event) -> None:
            await trio.sleep(1)
            n = event.n  # type: ignore[attr-defined]
            if n < self.limit:
                self.bus.emit(self.make(n + 1))

    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        a = await choreo.spawn(Echo(bus, Pong, 10), inbox=1, name="a")
        b = await choreo.spawn(Echo(bus, Ping, 10), inbox=1, name="b")
        choreo.flow(Ping, to=a)
        choreo.flow(Pong, to=b)
        with capture_logs():
            for n in range(3):
                bus.emit(Ping(n))
            await trio.sleep(30)
        assert a.stats.inbox.dropped + b.stats.inbox.dropped > 0
        assert a.stats.handled + b.stats.handled > 3


async def test_flow_with_chained_operators(autojump_clock: trio.testing.MockClock) -> None:
    ui = Recorder()
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(ui)
        flow = choreo.flow(Ping, to=ref).throttle(4).batch(2, 10.0)
        assert len(flow.operators) == 2
        for n in range(5):
            bus.emit(Ping(n))
        # Leaving the block flushes the partial batch before the actor stops.
    assert ui.seen == [(0.25, (Ping(0), Ping(1))), (0.75, (Ping(2), Ping(3))), (1.0, (Ping(4),))]
    assert ui.log == ["start", "stop"]


async def test_flow_via_argument_and_late_chaining_is_refused() -> None:
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(Recorder())
        flow = choreo.flow(Ping, to=ref, via=[batch(2, 1.0)])
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(RuntimeError, match=r"^flow 'flow:Ping->Recorder' already runs"):
            flow.throttle(10)


async def test_failing_where_is_reported_and_the_event_skipped() -> None:
    actor = Recorder()
    failures: list[HandlerFailed] = []

    def where(event: Ping) -> bool:
        if event.n == 1:
            raise ZeroDivisionError("bad predicate")
        return True

    async with open_event_bus() as bus:
        bus.on(HandlerFailed, failures.append)
        async with open_choreographer(bus) as choreo:
            ref = await choreo.spawn(actor)
            choreo.flow(Ping, to=ref, where=where)
            with capture_logs():
                bus.emit(Ping(0))
                bus.emit(Ping(1))
                await bus.publish(Ping(1))
                await bus.publish(Ping(2))
    assert [e for _, e in actor.seen] == [Ping(0), Ping(2)]
    assert [f.handler for f in failures] == ["flow:Ping->Recorder"] * 2


async def test_flow_drops_on_full_inbox_with_emit_and_waits_with_publish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = Recorder(delay=1.0)
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(actor, inbox=1)
        choreo.flow(Ping, to=ref)
        await trio.testing.wait_all_tasks_blocked()  # the actor waits in receive
        with capture_logs():
            for n in range(3):
                bus.emit(Ping(n))  # 0 taken by the actor, 1 queued, 2 refused
        assert ref.stats.inbox.dropped == 1
        for n in range(3, 5):
            await bus.publish(Ping(n))
        # 3 waits until the actor takes 1 (t=1), 4 until it takes 3 (t=2).
        assert trio.current_time() == 2.0
    assert [e.n for _, e in actor.seen] == [0, 1, 3, 4]


async def test_ref_close_stops_one_actor(autojump_clock: trio.testing.MockClock) -> None:
    actor = Recorder()
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(actor)
        await ref.send(Ping(1))
        ref.close()
        await trio.testing.wait_all_tasks_blocked()
        assert actor.log == ["start", "stop"]
        assert not ref.stats.running
        with pytest.raises(trio.ClosedResourceError):
            ref.send_nowait(Ping(2))
    assert [e for _, e in actor.seen] == [Ping(1)]


async def test_cancelling_the_block_runs_on_stop_shielded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class SlowStop(Recorder):
        async def on_stop(self) -> None:
            await trio.sleep(2)
            self.log.append("stopped")

    actor = SlowStop()
    with trio.move_on_after(1):
        async with open_event_bus() as bus, open_choreographer(bus) as choreo:
            await choreo.spawn(actor, stop_timeout=3.0)
            await trio.sleep_forever()
    assert actor.log == ["start", "stopped"]
    assert trio.current_time() == 3.0


async def test_spawn_and_flow_bad_input() -> None:
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        with pytest.raises(
            TypeError, match=r"^actor must have an async handle\(event\) method, got 3$"
        ):
            await choreo.spawn(3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^inbox must be >= 1, got 0$"):
            await choreo.spawn(Recorder(), inbox=0)
        with pytest.raises(TypeError, match=r"^restart must be a RestartPolicy or None, got 3$"):
            await choreo.spawn(Recorder(), restart=3)  # type: ignore[arg-type]
        await choreo.spawn(Recorder(), name="x")
        with pytest.raises(
            ValueError, match=r"^name must be unique among the actors, got 'x' twice$"
        ):
            await choreo.spawn(Recorder(), name="x")
        with pytest.raises(TypeError, match=r"^to must be an ActorRef \(from spawn\), got 'x'$"):
            choreo.flow(Ping, to="x")  # type: ignore[arg-type]
        assert [r.name for r in choreo.actors] == ["x"]
    with pytest.raises(trio.ClosedResourceError):
        await choreo.spawn(Recorder())
    with pytest.raises(TypeError, match=r"^bus must be an EventBus, got None$"):
        async with open_choreographer(None):  # type: ignore[arg-type]
            pass


def test_restart_policy_validation() -> None:
    with pytest.raises(ValueError, match=r"^max_restarts must be >= 0, got -1$"):
        RestartPolicy(max_restarts=-1)
    with pytest.raises(ValueError, match=r"^window must be > 0, got 0$"):
        RestartPolicy(window=0)
    with pytest.raises(TypeError, match=r"^backoff must be a Backoff or a RetryPolicy, got 1.0$"):
        RestartPolicy(backoff=1.0)
    assert RestartPolicy().delays() == [0.1, 0.2, 0.4]


async def test_ref_send_cancelled_while_waiting_leaves_inbox_unchanged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = Recorder(delay=100.0)
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(actor, inbox=1)
        await ref.send(Ping(0))  # taken by the actor
        await ref.send(Ping(1))  # queued
        with trio.move_on_after(5) as scope:
            await ref.send(Ping(2))
        assert scope.cancelled_caught
        assert ref.stats.inbox.size == 1
        assert ref.stats.inbox.sent == 2
    assert [e for _, e in actor.seen] == [Ping(0), Ping(1)]


async def test_spawn_is_a_checkpoint_and_cancellable_during_on_start(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class SlowStart(Recorder):
        async def on_start(self) -> None:
            await trio.sleep(10)
            self.log.append("start")

    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        with trio.testing.assert_checkpoints():
            await choreo.spawn(Recorder())
        slow = SlowStart()
        with trio.move_on_after(1) as scope:
            await choreo.spawn(slow)
        assert scope.cancelled_caught
        assert slow.log == []
        assert trio.current_time() == 1.0


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        (DropPolicy.OLDEST, [0, 7, 8, 9]),
        (DropPolicy.NEWEST, [0, 1, 2, 3]),
        (DropPolicy.BLOCK, [0, 1, 2, 3]),
    ],
)
async def test_actor_inbox_drop_policies(drop: DropPolicy, expected: list[int]) -> None:
    actor = Recorder()
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(actor, inbox=3, drop=drop)
        choreo.flow(Ping, to=ref)
        await trio.testing.wait_all_tasks_blocked()
        with capture_logs():
            for n in range(10):
                bus.emit(Ping(n))  # 0 goes to the waiting actor, 3 fit, 6 are dropped
        assert ref.stats.inbox.dropped == 6
    assert [e.n for _, e in actor.seen] == expected
    assert ref.stats.handled == 4


async def test_actor_drains_a_long_backlog_in_order() -> None:
    actor = Recorder()
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(actor, inbox=200)
        for n in range(150):
            ref.send_nowait(Ping(n))
    assert [e.n for _, e in actor.seen] == list(range(150))


@attrs.define
class Doubler(Actor[Ping]):
    """Publishes Pong(2n) for every Ping(n), after a delay."""

    bus: EventBus
    delay: float = 0.0

    async def handle(self, event: Ping) -> None:
        await trio.sleep(self.delay)
        await self.bus.publish(Pong(event.n * 2))


async def test_exit_lets_work_reach_the_end_of_a_chain(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = Recorder()
    async with open_event_bus() as bus:
        async with open_choreographer(bus) as choreo:
            doubler = await choreo.spawn(Doubler(bus, delay=1.0), name="doubler")
            end = await choreo.spawn(sink, name="sink")
            choreo.flow(Ping, to=doubler)
            choreo.flow(Pong, to=end)
            for n in range(3):
                bus.emit(Ping(n))
            # Leaving at once: the doubler still has 3 events to handle, 1 s each.
        assert [e for _, e in sink.seen] == [Pong(0), Pong(2), Pong(4)]
        assert trio.current_time() == 3.0
        assert sink.log == ["start", "stop"]


async def test_exit_flushes_operator_flows_along_a_chain(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = Recorder()
    async with open_event_bus() as bus:
        async with open_choreographer(bus) as choreo:
            doubler = await choreo.spawn(Doubler(bus), name="doubler")
            end = await choreo.spawn(sink, name="sink")
            choreo.flow(Ping, to=doubler).dedupe(None, 100.0)
            choreo.flow(Pong, to=end).batch(10, 100.0)
            for n in [1, 1, 2, 3]:
                bus.emit(Ping(n))
        # Nothing waited for the 100 s windows: the operators were flushed on exit.
        assert trio.current_time() == 0.0
    assert [e for _, e in sink.seen] == [(Pong(2), Pong(4), Pong(6))]


async def test_exit_after_a_crash_and_restart_on_the_last_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    crasher = Crasher({2})
    with trio.fail_after(100):
        async with open_event_bus() as bus, open_choreographer(bus) as choreo:
            ref = await choreo.spawn(crasher, restart=fast_restarts(3))
            with capture_logs():
                for n in range(3):
                    ref.send_nowait(Ping(n))
    assert crasher.handled == [0, 1]
    assert crasher.starts == [0.0, 1.0]
    assert ref.stats.restarts == 1
    assert trio.current_time() == 1.0


async def test_exit_waits_for_a_ping_pong_to_finish(autojump_clock: trio.testing.MockClock) -> None:
    @attrs.define
    class Bouncer(Actor[Event]):
        bus: EventBus
        reply: Any
        seen: list[int] = attrs.Factory(list)

        async def handle(self, event: Event) -> None:
            n = event.n  # type: ignore[attr-defined]
            self.seen.append(n)
            await trio.sleep(1)
            if n < 5:
                await self.bus.publish(self.reply(n + 1))

    with trio.fail_after(100):
        async with open_event_bus() as bus, open_choreographer(bus) as choreo:
            ping = Bouncer(bus, Pong)
            pong = Bouncer(bus, Ping)
            choreo.flow(Ping, to=await choreo.spawn(ping, name="ping"))
            choreo.flow(Pong, to=await choreo.spawn(pong, name="pong"))
            bus.emit(Ping(0))
    assert ping.seen == [0, 2, 4]
    assert pong.seen == [1, 3, 5]
    assert trio.current_time() == 6.0
