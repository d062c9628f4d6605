"""Bounded channels: drop policies, counting, logging, and trio memory-channel semantics."""

from __future__ import annotations

import gc
import math
import tracemalloc
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, assert_type

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from structlog.testing import capture_logs

from tests.strategies import channel_configs
from trio_orch import (
    BoundedReceiveChannel,
    BoundedSendChannel,
    DropPolicy,
    OrchError,
    QueueFull,
    QueueStats,
    open_bounded_channel,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    # trio's memory channels or ours: both have clone/close/send_nowait/receive_nowait.
    Pair = tuple[Any, Any]

DROPPING = [DropPolicy.OLDEST, DropPolicy.NEWEST]


def _drop_logs(
    logs: Sequence[Mapping[str, Any]], event: str = "dropped"
) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == f"trio_orch.channel.{event}"]


# --- construction and bad input -------------------------------------------------------------


def test_contract_form_and_types() -> None:
    send, receive = open_bounded_channel(max_size=100, drop=DropPolicy.OLDEST)
    assert isinstance(send, trio.abc.SendChannel)
    assert isinstance(receive, trio.abc.ReceiveChannel)
    assert isinstance(send, BoundedSendChannel)
    assert isinstance(receive, BoundedReceiveChannel)
    assert send.stats == receive.stats == QueueStats(0, 100, 0, 0, 0)
    assert send.statistics() == receive.statistics() == send.stats


def test_defaults_to_block_and_accepts_generic_subscript() -> None:
    send, receive = open_bounded_channel[int](1)
    send.send_nowait(1)
    with pytest.raises(trio.WouldBlock) as info:
        send.send_nowait(2)
    assert not isinstance(info.value, QueueFull)
    assert "BLOCK" in repr(send)
    assert repr(receive) == "<BoundedReceiveChannel BLOCK 1/1>"
    typed_send, _ = open_bounded_channel(3, DropPolicy.NEWEST, item_type=str)
    typed_send.send_nowait("x")
    assert typed_send.stats.size == 1


def test_static_types() -> None:
    # assert_type is checked by mypy (`mypy --strict tests/primitives/test_channels.py`).
    send, receive = open_bounded_channel[int](1)
    assert_type(send, BoundedSendChannel[int])
    assert_type(receive, BoundedReceiveChannel[int])
    typed_send, typed_receive = open_bounded_channel(1, item_type=bytes)
    assert_type(typed_send, BoundedSendChannel[bytes])
    typed_send.send_nowait(b"x")
    assert assert_type(typed_receive.receive_nowait_batch(5), list[bytes]) == [b"x"]


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"max_size": -1}, ValueError, r"^max_size must be >= 0, got -1$"),
        ({"max_size": 1.5}, TypeError, r"^max_size must be an int, got 1\.5$"),
        ({"max_size": 2.0}, TypeError, r"^max_size must be an int, got 2\.0$"),
        ({"max_size": True}, TypeError, r"^max_size must be an int, got True$"),
        ({"max_size": "3"}, TypeError, r"^max_size must be an int, got '3'$"),
        (
            {"max_size": math.inf},
            ValueError,
            r"^max_size must be a finite int \(every buffer is bounded\), got inf$",
        ),
        (
            {"max_size": 0, "drop": DropPolicy.OLDEST},
            ValueError,
            r"^max_size must be >= 1 for DropPolicy\.OLDEST "
            r"\(there is no oldest item to evict\), got 0$",
        ),
        (
            {"max_size": 1, "drop": "oldest"},
            TypeError,
            r"^drop must be a DropPolicy, got 'oldest'$",
        ),
        ({"max_size": 1, "drop": None}, TypeError, r"^drop must be a DropPolicy, got None$"),
        ({"max_size": 1, "name": 7}, TypeError, r"^name must be a str or None, got 7$"),
        (
            {"max_size": 1, "on_drop": 5},
            TypeError,
            r"^on_drop must be callable or None, got 5$",
        ),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, Any], exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        open_bounded_channel(**kwargs)


@pytest.mark.parametrize("max_items", [0, -3])
async def test_batch_size_must_be_positive(max_items: int) -> None:
    send, receive = open_bounded_channel[int](2)
    send.send_nowait(1)
    with pytest.raises(ValueError, match=rf"^max_items must be >= 1, got {max_items}$"):
        receive.receive_nowait_batch(max_items)
    with pytest.raises(ValueError, match=rf"^max_items must be >= 1, got {max_items}$"):
        await receive.receive_batch(max_items)
    assert receive.stats.size == 1


@pytest.mark.parametrize("max_items", [True, 2.0, "2"])
async def test_batch_size_must_be_an_int(max_items: object) -> None:
    send, receive = open_bounded_channel[int](2)
    send.send_nowait(1)
    with pytest.raises(TypeError, match=rf"^max_items must be an int, got {max_items!r}$"):
        receive.receive_nowait_batch(max_items)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^max_items must be an int, got {max_items!r}$"):
        await receive.receive_batch(max_items)  # type: ignore[arg-type]
    assert receive.stats.size == 1


# --- the drop policies ----------------------------------------------------------------------


def test_oldest_evicts_the_oldest_item() -> None:
    dropped: list[int] = []
    send, receive = open_bounded_channel[int](3, DropPolicy.OLDEST, on_drop=dropped.append)
    with capture_logs():
        for i in range(7):
            send.send_nowait(i)
    assert dropped == [0, 1, 2, 3]
    assert send.stats == QueueStats(size=3, max_size=3, sent=7, dropped=4, rejected=0)
    assert receive.receive_nowait_batch(10) == [4, 5, 6]


def test_newest_discards_the_incoming_item() -> None:
    dropped: list[int] = []
    send, receive = open_bounded_channel[int](3, DropPolicy.NEWEST, on_drop=dropped.append)
    with capture_logs():
        for i in range(7):
            send.send_nowait(i)
    assert dropped == [3, 4, 5, 6]
    assert receive.stats == QueueStats(size=3, max_size=3, sent=7, dropped=4, rejected=0)
    assert receive.receive_nowait_batch(2) == [0, 1]
    assert receive.receive_nowait_batch(2) == [2]


async def test_reject_raises_queue_full_from_send_and_send_nowait() -> None:
    send, receive = open_bounded_channel[int](2, DropPolicy.REJECT)
    with capture_logs():
        await send.send(1)
        send.send_nowait(2)
        with pytest.raises(QueueFull, match=r"^channel is full: 2 items queued$") as info:
            send.send_nowait(3)
        with pytest.raises(QueueFull):
            await send.send(4)
    assert info.value.max_size == 2
    assert isinstance(info.value, trio.WouldBlock)
    assert isinstance(info.value, OrchError)
    assert send.stats == QueueStats(size=2, max_size=2, sent=2, dropped=0, rejected=2)
    assert [await receive.receive(), await receive.receive()] == [1, 2]


async def test_block_waits_for_room_and_counts_on_acceptance() -> None:
    send, receive = open_bounded_channel[str](1)
    await send.send("a")
    order: list[str] = []

    async def sender(item: str) -> None:
        await send.send(item)
        order.append(item)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender, "b")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(sender, "c")
        await trio.testing.wait_all_tasks_blocked()
        assert send.stats == QueueStats(size=1, max_size=1, sent=1, dropped=0, rejected=0)
        assert await receive.receive() == "a"
        assert receive.stats.sent == 2  # "b" moved into the buffer when "a" left it
        assert receive.receive_nowait() == "b"
        assert receive.receive_nowait() == "c"
    assert order == ["b", "c"]
    assert send.stats == QueueStats(size=0, max_size=1, sent=3, dropped=0, rejected=0)


@pytest.mark.parametrize("policy", [DropPolicy.NEWEST, DropPolicy.REJECT, DropPolicy.BLOCK])
async def test_rendezvous_hands_over_only_to_a_waiting_receiver(policy: DropPolicy) -> None:
    send, receive = open_bounded_channel[int](0, policy)
    async with trio.open_nursery() as nursery:
        got: list[int] = []

        async def receiver() -> None:
            got.append(await receive.receive())

        nursery.start_soon(receiver)
        await trio.testing.wait_all_tasks_blocked()
        send.send_nowait(1)
    assert got == [1]
    with capture_logs():
        if policy is DropPolicy.NEWEST:
            send.send_nowait(2)  # dropped: nobody is waiting
        else:
            with pytest.raises(QueueFull if policy is DropPolicy.REJECT else trio.WouldBlock):
                send.send_nowait(2)
    assert send.stats.size == 0
    assert send.stats.dropped == (1 if policy is DropPolicy.NEWEST else 0)
    assert send.stats.rejected == (1 if policy is DropPolicy.REJECT else 0)


@pytest.mark.parametrize("policy", DROPPING)
async def test_send_never_blocks_under_dropping_policies(policy: DropPolicy) -> None:
    send, receive = open_bounded_channel[int](2, policy)
    with capture_logs(), trio.testing.assert_checkpoints():
        for i in range(10):
            await send.send(i)
    assert send.stats == QueueStats(size=2, max_size=2, sent=10, dropped=8, rejected=0)
    expected = [8, 9] if policy is DropPolicy.OLDEST else [0, 1]
    assert await receive.receive_batch(5) == expected


def test_oldest_keeps_exactly_the_last_n_of_a_million_sends_in_flat_memory() -> None:
    n, total, traced = 100, 1_000_000, 100_000
    send, receive = open_bounded_channel[int](n, DropPolicy.OLDEST)
    send_nowait = send.send_nowait
    with capture_logs() as logs:
        for i in range(total - traced):
            send_nowait(i)
        # Trace the allocations of the last sends (tracing all 1M would take seconds): every
        # item is a fresh int, so a buffer that kept them would need megabytes here.
        gc.collect()
        tracemalloc.start()
        try:
            for i in range(total - traced, total):
                send_nowait(i)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        send.close()
    assert peak < 32 * 1024, peak
    assert send.stats == QueueStats(size=n, max_size=n, sent=total, dropped=total - n, rejected=0)
    assert receive.receive_nowait_batch(total) == list(range(total - n, total))
    # Outside a trio run drops are logged on powers of two: 1, 2, 4, ... plus a final flush.
    drops = _drop_logs(logs)
    assert len(drops) <= 21
    assert sum(e["since_last_log"] for e in drops) == total - n
    assert drops[-1]["total"] == total - n


# --- counting invariants under real tasks ---------------------------------------------------


@settings(max_examples=60)
@given(
    config=channel_configs(),
    n_items=st.integers(min_value=0, max_value=40),
    pauses=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=10),
)
def test_producer_consumer_invariants(
    config: tuple[DropPolicy, int], n_items: int, pauses: list[int]
) -> None:
    policy, max_size = config
    items = list(range(n_items))
    received: list[int] = []
    accepted: list[int] = []

    async def main() -> QueueStats:
        send, receive = open_bounded_channel[int](max_size, policy)

        async def produce() -> None:
            with send:
                for item in items:
                    try:
                        await send.send(item)
                    except QueueFull:
                        continue
                    accepted.append(item)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            async for item in receive:
                received.append(item)
                for _ in range(pauses[len(received) % len(pauses)]):
                    await trio.lowlevel.checkpoint()
        return receive.stats

    with capture_logs():
        stats = trio.run(main)
    assert stats.size == 0
    assert stats.sent == len(accepted) == n_items - stats.rejected
    assert stats.sent == len(received) + stats.dropped
    assert received == sorted(set(received))  # in order, no duplicates
    if policy is DropPolicy.BLOCK:
        assert received == items
    if policy is DropPolicy.REJECT:
        assert received == accepted
    if policy in (DropPolicy.BLOCK, DropPolicy.OLDEST) and items:
        assert received[-1] == items[-1]
    if policy is DropPolicy.NEWEST and items and max_size > 0:
        assert received[0] == items[0]
    if policy is not DropPolicy.REJECT:
        assert stats.rejected == 0


# --- a stateful model of every policy -------------------------------------------------------


class _ChannelModel(RuleBasedStateMachine):
    """Drives one channel through send_nowait / receive_nowait / clone / close and compares
    every outcome and the stats with a plain deque model."""

    policy: DropPolicy

    def __init__(self) -> None:
        super().__init__()
        self._logs_cm = capture_logs()
        self.logs = self._logs_cm.__enter__()
        self.dropped_items: list[int] = []
        self.senders: list[BoundedSendChannel[int]] = []
        self.receivers: list[BoundedReceiveChannel[int]] = []
        self.closed: set[int] = set()  # id() of the closed handles (all kept alive)
        self.buffer: deque[int] = deque()
        self.expected_drops: list[int] = []
        self.sent = self.rejected = self.received = 0
        self.next_item = 0

    def teardown(self) -> None:
        self._logs_cm.__exit__(None, None, None)

    @initialize(max_size=st.integers(min_value=0, max_value=4))
    def open(self, max_size: int) -> None:
        self.max_size = max(max_size, 1) if self.policy is DropPolicy.OLDEST else max_size
        send, receive = open_bounded_channel[int](
            self.max_size, self.policy, on_drop=self.dropped_items.append
        )
        self.senders.append(send)
        self.receivers.append(receive)

    def _open_senders(self) -> int:
        return sum(id(s) not in self.closed for s in self.senders)

    def _open_receivers(self) -> int:
        return sum(id(r) not in self.closed for r in self.receivers)

    def _expect_send(self, closed: bool, item: int) -> type[Exception] | None:
        if closed:
            return trio.ClosedResourceError
        if not self._open_receivers():
            return trio.BrokenResourceError
        if len(self.buffer) < self.max_size:
            self.buffer.append(item)
        elif self.policy is DropPolicy.BLOCK:
            return trio.WouldBlock
        elif self.policy is DropPolicy.REJECT:
            self.rejected += 1
            return QueueFull
        elif self.policy is DropPolicy.OLDEST:
            self.buffer.append(item)
            self.expected_drops.append(self.buffer.popleft())
        else:
            self.expected_drops.append(item)
        self.sent += 1
        return None

    @rule(index=st.integers(min_value=0, max_value=7))
    def send_nowait(self, index: int) -> None:
        handle = self.senders[index % len(self.senders)]
        item, self.next_item = self.next_item, self.next_item + 1
        expected = self._expect_send(id(handle) in self.closed, item)
        if expected is None:
            handle.send_nowait(item)
        else:
            with pytest.raises(expected) as info:
                handle.send_nowait(item)
            assert type(info.value) is expected

    def _expect_receive(self, closed: bool) -> type[Exception] | None:
        if closed:
            return trio.ClosedResourceError
        if self.buffer:
            return None
        return trio.WouldBlock if self._open_senders() else trio.EndOfChannel

    @rule(index=st.integers(min_value=0, max_value=7), batch=st.integers(0, 3))
    def receive_nowait(self, index: int, batch: int) -> None:
        handle = self.receivers[index % len(self.receivers)]
        expected = self._expect_receive(id(handle) in self.closed)
        if expected is not None:
            with pytest.raises(expected):
                handle.receive_nowait_batch(batch) if batch else handle.receive_nowait()
        elif batch:
            want = [self.buffer.popleft() for _ in range(min(batch, len(self.buffer)))]
            assert handle.receive_nowait_batch(batch) == want
            self.received += len(want)
        else:
            assert handle.receive_nowait() == self.buffer.popleft()
            self.received += 1

    @precondition(lambda self: len(self.senders) + len(self.receivers) < 10)
    @rule(index=st.integers(min_value=0, max_value=7), sender=st.booleans())
    def clone(self, index: int, sender: bool) -> None:
        handles: list[Any] = self.senders if sender else self.receivers
        handle = handles[index % len(handles)]
        if id(handle) in self.closed:
            with pytest.raises(trio.ClosedResourceError):
                handle.clone()
        else:
            handles.append(handle.clone())

    @rule(index=st.integers(min_value=0, max_value=7), sender=st.booleans())
    def close(self, index: int, sender: bool) -> None:
        handles: list[Any] = self.senders if sender else self.receivers
        handle = handles[index % len(handles)]
        was_last = (
            id(handle) not in self.closed
            and (self._open_senders() if sender else self._open_receivers()) == 1
        )
        handle.close()
        self.closed.add(id(handle))
        if was_last and not sender:
            self.expected_drops.extend(self.buffer)
            self.buffer.clear()

    @invariant()
    def stats_match_the_model(self) -> None:
        if not self.senders:
            return
        want = QueueStats(
            size=len(self.buffer),
            max_size=self.max_size,
            sent=self.sent,
            dropped=len(self.expected_drops),
            rejected=self.rejected,
        )
        assert self.senders[0].stats == want
        assert self.receivers[-1].stats == want
        assert self.dropped_items == self.expected_drops
        assert self.sent == self.received + want.size + want.dropped
        logged = sum(
            e.get("since_last_log", e.get("count", 0))
            for e in self.logs
            if e["event"] in ("trio_orch.channel.dropped", "trio_orch.channel.discarded")
        )
        assert (logged > 0) == bool(self.expected_drops)


def _model_for(policy: DropPolicy) -> type[_ChannelModel]:
    return type(f"ChannelModel{policy.name.title()}", (_ChannelModel,), {"policy": policy})


_stateful = settings(max_examples=80, stateful_step_count=30)
TestBlockModel = _model_for(DropPolicy.BLOCK).TestCase
TestOldestModel = _model_for(DropPolicy.OLDEST).TestCase
TestNewestModel = _model_for(DropPolicy.NEWEST).TestCase
TestRejectModel = _model_for(DropPolicy.REJECT).TestCase
TestBlockModel.settings = TestOldestModel.settings = _stateful
TestNewestModel.settings = TestRejectModel.settings = _stateful


# --- trio memory-channel semantics, checked on trio's own channel too -----------------------


@pytest.fixture(params=["trio", "bounded"])
def open_pair(request: pytest.FixtureRequest) -> Callable[[int], Pair]:
    if request.param == "trio":
        return lambda n: trio.open_memory_channel[Any](n)
    return lambda n: open_bounded_channel[Any](n)


async def test_end_of_channel_after_every_clone_closed_and_drained(
    open_pair: Callable[[int], Pair],
) -> None:
    send, receive = open_pair(5)
    clone = send.clone()
    await send.send(1)
    await send.aclose()
    await clone.send(2)
    with clone:
        pass
    assert await receive.receive() == 1
    assert [item async for item in receive] == [2]
    with pytest.raises(trio.EndOfChannel):
        await receive.receive()
    with pytest.raises(trio.EndOfChannel):
        receive.receive_nowait()


async def test_waiting_receivers_get_end_of_channel(open_pair: Callable[[int], Pair]) -> None:
    send, receive = open_pair(0)
    results: list[str] = []

    async def receiver() -> None:
        with pytest.raises(trio.EndOfChannel):
            await receive.receive()
        results.append("eoc")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        nursery.start_soon(receiver)
        await trio.testing.wait_all_tasks_blocked()
        send.close()
    assert results == ["eoc", "eoc"]


async def test_broken_resource_when_every_receiver_closed(
    open_pair: Callable[[int], Pair],
) -> None:
    send, receive = open_pair(0)
    clone = receive.clone()
    failures: list[type[BaseException]] = []

    async def sender() -> None:
        with pytest.raises(trio.BrokenResourceError) as info:
            await send.send("x")
        failures.append(type(info.value))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        await trio.testing.wait_all_tasks_blocked()
        receive.close()
        await trio.testing.wait_all_tasks_blocked()
        assert failures == []
        await clone.aclose()
    assert failures == [trio.BrokenResourceError]
    with pytest.raises(trio.BrokenResourceError):
        send.send_nowait("y")
    with pytest.raises(trio.BrokenResourceError):
        await send.send("y")


async def test_closed_handles_raise_closed_resource_error(
    open_pair: Callable[[int], Pair],
) -> None:
    send, receive = open_pair(1)
    send_clone, receive_clone = send.clone(), receive.clone()
    send.close()
    send.close()  # idempotent
    await receive.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await send.send(1)
    with pytest.raises(trio.ClosedResourceError):
        send.send_nowait(1)
    with pytest.raises(trio.ClosedResourceError):
        send.clone()
    with pytest.raises(trio.ClosedResourceError):
        await receive.receive()
    with pytest.raises(trio.ClosedResourceError):
        receive.receive_nowait()
    with pytest.raises(trio.ClosedResourceError):
        receive.clone()
    # The clones are still open and still connected.
    await send_clone.send("ok")
    assert await receive_clone.receive() == "ok"


async def test_closing_a_handle_wakes_its_own_blocked_tasks(
    open_pair: Callable[[int], Pair],
) -> None:
    send, receive = open_pair(0)
    other_receive = receive.clone()
    outcomes: list[str] = []

    async def blocked_receive() -> None:
        with pytest.raises(trio.ClosedResourceError):
            await receive.receive()
        outcomes.append("receive")

    async def blocked_send() -> None:
        with pytest.raises(trio.ClosedResourceError):
            await send.send(1)
        outcomes.append("send")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked_receive)
        await trio.testing.wait_all_tasks_blocked()
        with receive:
            pass
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(blocked_send)
        await trio.testing.wait_all_tasks_blocked()
        async with send:
            pass
    assert outcomes == ["receive", "send"]
    with pytest.raises(trio.EndOfChannel):
        await other_receive.receive()


async def test_many_producers_many_consumers(open_pair: Callable[[int], Pair]) -> None:
    send, receive = open_pair(3)
    got: list[int] = []

    async def produce(handle: trio.abc.SendChannel[int], start: int) -> None:
        async with handle:
            for i in range(start, start + 50):
                await handle.send(i)

    async def consume(handle: trio.abc.ReceiveChannel[int]) -> None:
        async with handle:
            got.extend([item async for item in handle])

    async with trio.open_nursery() as nursery, send, receive:
        for start in (0, 100, 200):
            nursery.start_soon(produce, send.clone(), start)
        for _ in range(2):
            nursery.start_soon(consume, receive.clone())
    assert sorted(got) == [*range(50), *range(100, 150), *range(200, 250)]


# --- cancellation and checkpoints -----------------------------------------------------------


async def test_cancelled_blocked_send_enqueues_nothing(
    open_pair: Callable[[int], Pair], autojump_clock: trio.abc.Clock
) -> None:
    send, receive = open_pair(1)
    await send.send("kept")
    with trio.move_on_after(1) as scope:
        await send.send("cancelled")
    assert scope.cancelled_caught
    assert trio.current_time() == 1
    assert receive.receive_nowait() == "kept"
    with pytest.raises(trio.WouldBlock):
        receive.receive_nowait()
    with trio.CancelScope() as scope:
        scope.cancel()
        await send.send("cancelled on the fast path")
    with pytest.raises(trio.WouldBlock):
        receive.receive_nowait()


async def test_cancelled_receive_takes_nothing(
    open_pair: Callable[[int], Pair], autojump_clock: trio.abc.Clock
) -> None:
    send, receive = open_pair(1)
    with trio.move_on_after(1):
        await receive.receive()
    assert trio.current_time() == 1
    send.send_nowait("a")
    with trio.CancelScope() as scope:
        scope.cancel()
        await receive.receive()
    assert receive.receive_nowait() == "a"


async def test_cancelled_blocked_send_is_not_counted(autojump_clock: trio.abc.Clock) -> None:
    send, receive = open_bounded_channel[int](0)
    with trio.move_on_after(2.5):
        await send.send(1)
    assert trio.current_time() == 2.5
    assert send.stats == QueueStats(size=0, max_size=0, sent=0, dropped=0, rejected=0)
    with trio.move_on_after(1.0):
        await receive.receive_batch(3)
    assert trio.current_time() == 3.5
    with pytest.raises(trio.WouldBlock):
        receive.receive_nowait()


@pytest.mark.parametrize("policy", list(DropPolicy))
async def test_every_async_method_checkpoints(policy: DropPolicy) -> None:
    send, receive = open_bounded_channel[int](1, policy)
    with capture_logs():
        with trio.testing.assert_checkpoints():
            await send.send(1)  # room: fast path
        if policy in DROPPING:
            with trio.testing.assert_checkpoints():
                await send.send(2)  # full: dropped without waiting
        elif policy is DropPolicy.REJECT:
            with trio.testing.assert_checkpoints(), pytest.raises(QueueFull):
                await send.send(2)
        with trio.testing.assert_checkpoints():
            assert await receive.receive() == (2 if policy is DropPolicy.OLDEST else 1)
        send.send_nowait(3)
        with trio.testing.assert_checkpoints():
            assert await receive.receive_batch(2) == [3]
        with trio.testing.assert_checkpoints():
            await send.aclose()
        with trio.testing.assert_checkpoints(), pytest.raises(trio.EndOfChannel):
            await receive.receive()
        with trio.testing.assert_checkpoints():
            await receive.aclose()


async def test_raising_paths_checkpoint_too() -> None:
    send, receive = open_bounded_channel[int](1)
    clone = send.clone()
    send.close()
    with trio.testing.assert_checkpoints(), pytest.raises(trio.ClosedResourceError):
        await send.send(1)
    receive.close()
    with trio.testing.assert_checkpoints(), pytest.raises(trio.BrokenResourceError):
        await clone.send(1)
    with trio.testing.assert_checkpoints(), pytest.raises(trio.ClosedResourceError):
        await receive.receive_batch(2)


async def test_receive_batch_waits_then_takes_what_is_ready() -> None:
    send, receive = open_bounded_channel[int](2)
    batches: list[list[int]] = []

    async def consumer() -> None:
        batches.append(await receive.receive_batch(10))

    async def blocked_sender(item: int) -> None:
        await send.send(item)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        await trio.testing.wait_all_tasks_blocked()
        send.send_nowait(1)  # handed straight to the waiting consumer
        await trio.testing.wait_all_tasks_blocked()
        send.send_nowait(2)
        send.send_nowait(3)
        nursery.start_soon(blocked_sender, 4)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(blocked_sender, 5)
        await trio.testing.wait_all_tasks_blocked()
        assert batches == [[1]]
        # The batch also takes the items of blocked senders, in order.
        assert receive.receive_nowait_batch(3) == [2, 3, 4]
        assert await receive.receive_batch(3) == [5]
    assert receive.stats == QueueStats(size=0, max_size=2, sent=5, dropped=0, rejected=0)
    send.close()
    with pytest.raises(trio.EndOfChannel):
        receive.receive_nowait_batch(3)
    with pytest.raises(trio.EndOfChannel):
        await receive.receive_batch(3)


# --- logging and on_drop --------------------------------------------------------------------


async def test_first_drop_is_logged_then_summaries_at_most_once_a_second(
    autojump_clock: trio.abc.Clock,
) -> None:
    send, _receive = open_bounded_channel[int](1, DropPolicy.NEWEST)
    send.send_nowait(0)
    with capture_logs() as logs:
        for i in range(10_000):
            send.send_nowait(i)
        assert _drop_logs(logs) == [
            {
                "event": "trio_orch.channel.dropped",
                "log_level": "warning",
                "channel": None,
                "policy": "NEWEST",
                "max_size": 1,
                "total": 1,
                "since_last_log": 1,
            }
        ]
        await trio.sleep(0.5)
        for i in range(5_000):
            send.send_nowait(i)
        assert len(_drop_logs(logs)) == 1
        await trio.sleep(0.5)
        for i in range(5_000):
            send.send_nowait(i)
        summaries = _drop_logs(logs)
        assert len(summaries) == 2
        assert 10_000 < summaries[1]["total"] <= 20_000
        assert summaries[1]["since_last_log"] == summaries[1]["total"] - 1
        send.close()  # flushes what is not logged yet
    drops = _drop_logs(logs)
    assert len(drops) == 3
    assert drops[-1]["total"] == send.stats.dropped == 20_000
    assert sum(e["since_last_log"] for e in drops) == 20_000


async def test_a_slow_trickle_of_drops_is_logged_drop_by_drop(
    autojump_clock: trio.abc.Clock,
) -> None:
    send, _receive = open_bounded_channel[int](1, DropPolicy.OLDEST)
    send.send_nowait(0)
    with capture_logs() as logs:
        for i in range(5):
            await trio.sleep(1.0)
            send.send_nowait(i)
    assert [e["total"] for e in _drop_logs(logs)] == [1, 2, 3, 4, 5]
    assert trio.current_time() == 5.0


async def test_rejections_are_logged() -> None:
    send, receive = open_bounded_channel[int](0, DropPolicy.REJECT, name="uploads")
    assert repr(receive) == "<BoundedReceiveChannel 'uploads' REJECT 0/0>"
    with capture_logs() as logs:
        for i in range(3):
            with pytest.raises(QueueFull):
                send.send_nowait(i)
        send.close()
    rejected = _drop_logs(logs, "rejected")
    assert rejected[0]["total"] == 1
    assert rejected[0]["policy"] == "REJECT"
    assert rejected[0]["channel"] == "uploads"
    assert sum(e["since_last_log"] for e in rejected) == 3 == send.stats.rejected
    assert _drop_logs(logs) == []


async def test_items_left_when_the_last_receiver_closes_are_dropped_and_reported() -> None:
    dropped: list[str] = []
    send, receive = open_bounded_channel[str](5, on_drop=dropped.append, name="jobs")
    for item in "abc":
        await send.send(item)
    clone = receive.clone()
    receive.close()
    assert send.stats.size == 3  # a receiver is still open
    with capture_logs() as logs:
        clone.close()
    assert dropped == ["a", "b", "c"]
    assert send.stats == QueueStats(size=0, max_size=5, sent=3, dropped=3, rejected=0)
    assert _drop_logs(logs, "discarded") == [
        {
            "event": "trio_orch.channel.discarded",
            "log_level": "warning",
            "channel": "jobs",
            "policy": "BLOCK",
            "max_size": 5,
            "count": 3,
            "dropped": 3,
        }
    ]
    assert _drop_logs(logs) == []


def test_an_on_drop_error_propagates_after_the_drop_is_counted() -> None:
    def boom(item: int) -> None:
        raise RuntimeError(f"lost {item}")

    send, receive = open_bounded_channel[int](1, DropPolicy.OLDEST, on_drop=boom)
    send.send_nowait(1)
    with capture_logs(), pytest.raises(RuntimeError, match=r"^lost 1$"):
        send.send_nowait(2)
    assert send.stats == QueueStats(size=1, max_size=1, sent=2, dropped=1, rejected=0)
    assert receive.receive_nowait() == 2


def test_the_docs_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).parents[2] / "docs" / "channels.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    with capture_logs() as logs:
        exec(compile(code, "docs/channels.md", "exec"), {"__name__": "docs_example"})
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "QueueStats(size=3, max_size=3, sent=10, dropped=7, rejected=0)",
        "[7, 8, 9]",
    ]
    assert _drop_logs(logs)[-1]["total"] == 7
