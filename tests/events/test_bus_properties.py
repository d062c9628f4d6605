"""Property: every subscriber sees exactly the events of its type, in order, minus counted drops."""

from __future__ import annotations

import collections
import contextlib
from typing import Any

import attrs
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from trio_orch import DropPolicy, Event, Subscription, open_event_bus


@attrs.frozen
class A(Event):
    n: int


@attrs.frozen
class B(A):
    pass


@attrs.frozen
class C(Event):
    n: int


EVENT_TYPES: list[type[Any]] = [A, B, C]
SUB_TYPES: list[type[Any]] = [A, B, C]

subscribe_op = st.tuples(
    st.just("subscribe"),
    st.sampled_from(SUB_TYPES),
    st.integers(1, 4),
    st.sampled_from(list(DropPolicy)),
)
handler_op = st.tuples(st.just("handler"), st.sampled_from(SUB_TYPES))
emit_op = st.tuples(st.just("emit"), st.sampled_from(EVENT_TYPES))
drain_op = st.tuples(st.just("drain"), st.integers(0, 7))
close_op = st.tuples(st.just("close"), st.integers(0, 7))
ops = st.lists(
    st.one_of(subscribe_op, handler_op, emit_op, emit_op, emit_op, drain_op, close_op),
    max_size=60,
)


@attrs.define
class Model:
    """What one subscription should hold, applying its drop policy like the bus does."""

    event_type: type[Any]
    max_buffer: int
    drop: DropPolicy
    queue: collections.deque[Event] = attrs.Factory(collections.deque)
    received: list[Event] = attrs.Factory(list)
    expected_received: list[Event] = attrs.Factory(list)
    dropped: int = 0
    open: bool = True

    def offer(self, event: Event) -> None:
        if not self.open or not isinstance(event, self.event_type):
            return
        if len(self.queue) < self.max_buffer:
            self.queue.append(event)
        elif self.drop is DropPolicy.OLDEST:
            self.queue.popleft()
            self.queue.append(event)
            self.dropped += 1
        else:
            self.dropped += 1

    def drain(self) -> None:
        self.expected_received.extend(self.queue)
        self.queue.clear()


def run_ops(operations: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        subs: list[tuple[Subscription[Any], Model]] = []
        handlers: list[tuple[type[Any], int, list[Event]]] = []
        emitted: list[Event] = []
        async with open_event_bus() as bus, contextlib.AsyncExitStack() as stack:
            for n, op in enumerate(operations):
                kind = op[0]
                if kind == "subscribe":
                    _, cls, size, drop = op
                    sub = await stack.enter_async_context(
                        bus.subscribe(cls, max_buffer=size, drop=drop)
                    )
                    subs.append((sub, Model(cls, size, drop)))
                elif kind == "handler":
                    seen: list[Event] = []
                    bus.on(op[1], seen.append)
                    handlers.append((op[1], len(emitted), seen))
                elif kind == "emit":
                    event = op[1](n)
                    emitted.append(event)
                    bus.emit(event)
                    for _, model in subs:
                        model.offer(event)
                elif subs:
                    sub, model = subs[op[1] % len(subs)]
                    if not model.open:
                        continue
                    if kind == "drain":
                        with contextlib.suppress(trio.WouldBlock):
                            while True:
                                model.received.append(sub.receive_nowait())
                        model.drain()
                    else:
                        # What is still queued is discarded on close, and counted.
                        model.dropped += len(model.queue)
                        model.queue.clear()
                        await sub.aclose()
                        model.open = False
            for sub, model in subs:
                if model.open:
                    with contextlib.suppress(trio.WouldBlock):
                        while True:
                            model.received.append(sub.receive_nowait())
                    model.drain()
                assert model.received == model.expected_received
                stats = sub.stats
                assert stats.dropped + stats.rejected == model.dropped
                delivered = [e for e in emitted if isinstance(e, model.event_type)]
                # Order is preserved: what was received is a subsequence of what was sent.
                it = iter(delivered)
                assert all(any(e is d for d in it) for e in model.received)
            for cls, since, seen in handlers:
                assert seen == [e for e in emitted[since:] if isinstance(e, cls)]

    with capture_logs():
        trio.run(main)


@settings(max_examples=150)
@given(ops)
def test_every_subscriber_sees_its_events_in_order_minus_counted_drops(
    operations: list[tuple[Any, ...]],
) -> None:
    run_ops(operations)
