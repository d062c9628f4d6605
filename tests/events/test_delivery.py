"""Delivery through the sink seam: nothing a flow or a ref cannot deliver vanishes silently.

Regression tests for issue 10 ("events sent to a stopped actor vanish") and for the seam
itself (twins that agree, once, per-task deadlock nodes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from trio_orch import (
    Actor,
    ActorRef,
    DropPolicy,
    Event,
    EventsDropped,
    QueueFull,
    Subscription,
    open_choreographer,
    open_event_bus,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


@attrs.frozen
class Ping(Event):
    n: int


@attrs.define
class Gate(Actor[Any]):
    """Handles its first event only once ``open`` is set."""

    open: trio.Event = attrs.Factory(trio.Event)
    seen: list[Any] = attrs.Factory(list)

    async def handle(self, event: Any) -> None:
        await self.open.wait()
        self.seen.append(event)


@attrs.define
class Recorder(Actor[Any]):
    seen: list[Any] = attrs.Factory(list)
    delay: float = 0.0

    async def handle(self, event: Any) -> None:
        if self.delay:
            await trio.sleep(self.delay)
        self.seen.append(event)


async def close_after(seconds: float, ref: ActorRef[Any]) -> None:
    await trio.sleep(seconds)
    ref.close()


def drop_logs(logs: Sequence[Mapping[str, Any]]) -> list[tuple[str, int, int]]:
    return [
        (e["subscriber"], e["since_last_log"], e["total"])
        for e in logs
        if e["event"] == "trio_orch.bus.dropped"
    ]


async def test_send_to_a_stopped_actor_raises_like_send_nowait() -> None:
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(Recorder(), name="gone")
        ref.close()
        with pytest.raises(trio.ClosedResourceError, match=r"^inbox 'gone' is closed$"):
            ref.send_nowait(Ping(1))
        with (
            trio.testing.assert_checkpoints(),
            pytest.raises(trio.ClosedResourceError, match=r"^inbox 'gone' is closed$"),
        ):
            await ref.send(Ping(2))
        assert ref.stats.inbox.sent == 0


async def test_send_waiting_for_room_raises_when_the_actor_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(Recorder(delay=10.0), inbox=1, name="slow")
        await ref.send(Ping(0))  # taken by the actor
        await ref.send(Ping(1))  # queued

        async with trio.open_nursery() as nursery:
            nursery.start_soon(close_after, 1, ref)
            with pytest.raises(trio.ClosedResourceError, match=r"^inbox 'slow' is closed$"):
                await ref.send(Ping(2))
        assert trio.current_time() == 1.0


async def test_send_to_a_full_reject_inbox_raises_like_send_nowait() -> None:
    gate = Gate()
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref: ActorRef[Ping] = await choreo.spawn(gate, inbox=1, drop=DropPolicy.REJECT)
        await ref.send(Ping(0))  # taken
        await ref.send(Ping(1))  # queued
        with capture_logs():
            with pytest.raises(QueueFull):
                ref.send_nowait(Ping(2))
            with trio.testing.assert_checkpoints(), pytest.raises(QueueFull):
                await ref.send(Ping(3))
        assert ref.stats.inbox.rejected == 2
        gate.open.set()
    assert gate.seen == [Ping(0), Ping(1)]


@pytest.mark.parametrize("publish", [False, True])
async def test_flow_to_a_stopped_actor_counts_logs_and_reports_drops(publish: bool) -> None:
    reports: list[EventsDropped] = []
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        bus.on(EventsDropped, reports.append)
        ref = await choreo.spawn(Recorder(), name="stopped")
        choreo.flow(Ping, to=ref)
        ref.close()
        await trio.testing.wait_all_tasks_blocked()
        with capture_logs() as logs:
            for n in range(3):
                if publish:
                    await bus.publish(Ping(n))
                else:
                    bus.emit(Ping(n))
        assert ref.stats.inbox.dropped == 3
        # The first drop is logged and reported at once, the rest within the next second.
        assert drop_logs(logs) == [("stopped", 1, 1)]
        assert [(r.subscriber, r.count, r.total) for r in reports] == [("stopped", 1, 1)]
        assert bus.stats.dropped == 1
    # The choreographer's exit closes the inbox again, which reports the rest.
    assert [(r.count, r.total) for r in reports] == [(1, 1), (2, 3)]
    assert bus.stats.dropped == 3


async def test_flow_waiting_for_room_counts_the_event_when_the_actor_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reports: list[EventsDropped] = []
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        bus.on(EventsDropped, reports.append)
        actor = Recorder(delay=10.0)
        ref = await choreo.spawn(actor, inbox=1, name="a")
        choreo.flow(Ping, to=ref, transform=lambda e: e.n)
        await bus.publish(Ping(0))  # taken by the actor
        await bus.publish(Ping(1))  # queued

        async with trio.open_nursery() as nursery:
            nursery.start_soon(close_after, 1, ref)
            with capture_logs() as logs:
                await bus.publish(Ping(2))  # waits for room; the inbox closes instead
        assert trio.current_time() == 1.0
        assert ref.stats.inbox.dropped == 1
        assert drop_logs(logs) == [("a", 1, 1)]
        assert [(r.subscriber, r.count) for r in reports] == [("a", 1)]
    assert actor.seen == [0, 1]  # the queued event is still handled: close drains


async def test_operator_flow_forwarding_to_a_stopped_actor_counts_drops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        ref = await choreo.spawn(Recorder(), name="late")
        choreo.flow(Ping, to=ref).batch(10, 1.0)
        ref.close()
        with capture_logs() as logs:
            for n in range(3):
                bus.emit(Ping(n))
            await trio.sleep(2)  # the batch is forwarded at t=1, into a closed inbox
        assert ref.stats.inbox.dropped == 1  # one batch of three
        assert drop_logs(logs) == [("late", 1, 1)]


@pytest.mark.parametrize("drop", [DropPolicy.REJECT, DropPolicy.NEWEST])
async def test_flow_into_a_full_dropping_inbox_reports_drops(drop: DropPolicy) -> None:
    reports: list[EventsDropped] = []
    gate = Gate()
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        bus.on(EventsDropped, reports.append)
        ref = await choreo.spawn(gate, inbox=1, drop=drop, name="full")
        choreo.flow(Ping, to=ref)
        with capture_logs() as logs:
            await bus.publish(Ping(0))  # taken
            await bus.publish(Ping(1))  # queued
            await bus.publish(Ping(2))  # refused under REJECT, discarded under NEWEST
        assert drop_logs(logs) == [("full", 1, 1)]
        assert [(r.subscriber, r.policy, r.count) for r in reports] == [("full", drop.name, 1)]
        stats = ref.stats.inbox
        assert (stats.dropped, stats.rejected) == ((0, 1) if drop is DropPolicy.REJECT else (1, 0))
        gate.open.set()
    assert gate.seen == [Ping(0), Ping(1)]


async def test_emit_to_a_subscription_closed_mid_emit_counts_the_drop() -> None:
    victims: list[Subscription[Ping]] = []

    def close_victim(_: Ping) -> None:
        victims[0].close()

    async with open_event_bus() as bus:
        bus.on(Ping, close_victim)  # called first: closes the subscription mid-emit
        async with bus.subscribe(Ping, name="victim") as victim:
            victims.append(victim)
            with capture_logs() as logs:
                bus.emit(Ping(1))  # the emit's snapshot still holds the subscription
            assert victim.stats.dropped == 1
            assert drop_logs(logs) == [("victim", 1, 1)]
            assert not bus.has_listeners(EventsDropped)


async def test_tasks_spawned_inside_handle_do_not_share_the_actors_node(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A background task started by ``a.handle`` waits on ``b``'s full inbox while ``a``
    itself is free; ``b`` then waits on ``a``'s full inbox.  That is no cycle: ``a`` drains
    its inbox.  (When the node was an inherited contextvar, the background task marked
    ``a`` as waiting for ``b`` and ``b``'s send raised a false FlowDeadlock.)"""

    @attrs.define
    class A(Actor[Any]):
        outside: trio.Nursery
        b: list[ActorRef[Any]]
        fed: trio.Event = attrs.Factory(trio.Event)
        seen: list[Any] = attrs.Factory(list)

        async def handle(self, event: Any) -> None:
            if event == "start":

                async def feed_b() -> None:
                    for n in range(3):
                        await self.b[0].send(n)
                    self.fed.set()

                self.outside.start_soon(feed_b)
            else:
                await trio.sleep(1)
                self.seen.append(event)

    @attrs.define
    class B(Actor[Any]):
        a: ActorRef[Any]
        seen: list[Any] = attrs.Factory(list)

        async def handle(self, event: Any) -> None:
            if event == 0:
                await trio.sleep(0.5)  # meanwhile 1 is queued and the feeder waits with 2
                for n in range(3):
                    await self.a.send(f"ping{n}")  # the third waits: a's inbox is full
            self.seen.append(event)

    async with (
        trio.open_nursery() as outside,
        open_event_bus() as bus,
        open_choreographer(bus) as choreo,
    ):
        b_ref: list[ActorRef[Any]] = []
        a = A(outside, b_ref)
        a_ref = await choreo.spawn(a, inbox=1, name="a")
        b = B(a_ref)
        b_ref.append(await choreo.spawn(b, inbox=1, name="b"))
        await a_ref.send("start")
        await a.fed.wait()  # the choreographer does not know about the outside task
    assert a.seen == ["ping0", "ping1", "ping2"]
    assert b.seen == [0, 1, 2]
    assert trio.current_time() == 3.5
