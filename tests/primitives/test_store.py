"""Store helpers: AsyncOperation, Store and its subscriptions, selector, track_operation."""

from __future__ import annotations

import operator

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_orch import (
    AsyncOperation,
    OpStatus,
    Selector,
    Store,
    StoreStats,
    StoreSubscription,
    selector,
    track_operation,
)

# --- AsyncOperation -------------------------------------------------------------------------


def test_constructors_and_flags() -> None:
    error = RuntimeError("nope")
    cases = [
        (AsyncOperation.idle(), OpStatus.IDLE, None, None),
        (AsyncOperation.pending(), OpStatus.LOADING, None, None),
        (AsyncOperation.succeeded(42), OpStatus.SUCCESS, 42, None),
        (AsyncOperation.failed(error), OpStatus.ERROR, None, error),
    ]
    for op, status, value, err in cases:
        assert op.status is status
        assert op.value == value
        assert op.error is err
        flags = (op.is_idle, op.is_loading, op.is_success, op.is_error)
        assert flags.count(True) == 1
        assert flags == (
            status is OpStatus.IDLE,
            status is OpStatus.LOADING,
            status is OpStatus.SUCCESS,
            status is OpStatus.ERROR,
        )


def test_pending_is_an_alias_of_loading() -> None:
    assert OpStatus.PENDING is OpStatus.LOADING  # type: ignore[comparison-overlap]
    assert AsyncOperation.pending().status is OpStatus.PENDING
    assert [s.name for s in OpStatus] == ["IDLE", "LOADING", "SUCCESS", "ERROR"]


def test_previous_value_is_kept_while_loading_and_after_failure() -> None:
    stale = AsyncOperation.pending(previous=[1, 2])
    assert stale.is_loading
    assert stale.value == [1, 2]
    failed = AsyncOperation.failed(KeyError("k"), previous=[1, 2])
    assert failed.is_error
    assert failed.value == [1, 2]


def test_is_immutable_and_compares_by_value() -> None:
    op = AsyncOperation.succeeded("x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        op.value = "y"  # type: ignore[misc]
    assert op == AsyncOperation.succeeded("x")
    assert op != AsyncOperation.succeeded("y")
    assert hash(op) == hash(AsyncOperation.succeeded("x"))


def test_failed_rejects_non_exceptions() -> None:
    with pytest.raises(TypeError, match=r"^error must be an Exception instance, got 'oops'$"):
        AsyncOperation.failed("oops")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^error must be an Exception instance, got Cancelled"):
        AsyncOperation.failed(trio.Cancelled._create())  # type: ignore[arg-type]


def test_direct_construction_is_checked() -> None:
    with pytest.raises(TypeError, match=r"^status must be an OpStatus, got 'idle'$"):
        AsyncOperation("idle")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"^error must be None unless status is ERROR, got ValueError\('v'\)$"
    ):
        AsyncOperation(OpStatus.SUCCESS, 1, ValueError("v"))
    with pytest.raises(ValueError, match=r"^value must be None when status is IDLE, got 3$"):
        AsyncOperation(OpStatus.IDLE, 3)
    with pytest.raises(TypeError, match=r"^error must be an Exception instance, got None$"):
        AsyncOperation(OpStatus.ERROR)


async def _double(x: int) -> int:
    await trio.sleep(1)
    return 2 * x


async def _fail(message: str) -> int:
    await trio.sleep(1)
    raise LookupError(message)


async def test_from_call(autojump_clock: trio.testing.MockClock) -> None:
    assert await AsyncOperation.from_call(_double, 21) == AsyncOperation.succeeded(42)
    failed = await AsyncOperation.from_call(_fail, "gone")
    assert failed.is_error
    assert isinstance(failed.error, LookupError)
    assert str(failed.error) == "gone"
    assert trio.current_time() == 2


async def test_from_call_lets_cancellation_through(autojump_clock: trio.testing.MockClock) -> None:
    with trio.move_on_after(0.5) as scope:
        await AsyncOperation.from_call(_double, 1)
    assert scope.cancelled_caught


async def test_from_call_checkpoints() -> None:
    async def instant() -> int:
        return 1

    with trio.testing.assert_checkpoints():
        await AsyncOperation.from_call(instant)


# --- Store ----------------------------------------------------------------------------------


@attrs.frozen
class Counter:
    n: int
    label: str = "c"


def test_set_and_update() -> None:
    store = Store(Counter(0))
    assert store.state == Counter(0)
    assert store.set(Counter(1)) is True
    assert store.update(lambda c: attrs.evolve(c, n=c.n + 1)) == Counter(2)
    assert store.update(lambda c, k: attrs.evolve(c, n=c.n * k), 5) == Counter(10)
    assert store.stats == StoreStats(version=3, unchanged=0, subscribers=0, closed=False)


def test_equal_set_changes_nothing() -> None:
    first = Counter(1)
    store = Store(first)
    assert store.set(Counter(1)) is False
    assert store.state is first
    assert store.stats.version == 0
    assert store.stats.unchanged == 1


def test_custom_equality() -> None:
    store = Store(Counter(1), equal=operator.is_)
    assert store.set(Counter(1)) is True
    by_n = Store(Counter(1), equal=lambda a, b: a.n == b.n)
    assert by_n.set(Counter(1, label="other")) is False


def test_update_error_leaves_state() -> None:
    store = Store(Counter(1))

    def bad(_: Counter) -> Counter:
        raise ArithmeticError("bad")

    with pytest.raises(ArithmeticError):
        store.update(bad)
    assert store.state == Counter(1)
    assert store.stats.version == 0


def test_closed_store_refuses_changes() -> None:
    store = Store(0)
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(trio.ClosedResourceError, match=r"^store is closed$"):
        store.set(1)
    with pytest.raises(trio.ClosedResourceError, match=r"^store is closed$"):
        store.update(lambda s: s + 1)
    with pytest.raises(trio.ClosedResourceError, match=r"^store is closed$"):
        store.subscribe()
    assert store.state == 0


def test_bad_equal() -> None:
    with pytest.raises(TypeError, match=r"^equal must be callable, got 3$"):
        Store(0, equal=3)  # type: ignore[arg-type]


async def test_subscribe_yields_current_state_first() -> None:
    store = Store("a")
    async with store.subscribe() as states:
        assert await states.__anext__() == "a"
        store.set("b")
        assert await states.__anext__() == "b"


async def test_subscribe_without_initial_waits_for_a_change(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = Store("a")
    got: list[str] = []

    async def reader() -> None:
        async with store.subscribe(initial=False) as states:
            got.append(await states.__anext__())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        await trio.sleep(1)
        store.set("b")
    assert got == ["b"]


async def test_set_never_blocks_and_slow_subscriber_sees_latest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = Store(0)
    seen: list[int] = []

    async def slow_reader() -> None:
        async with store.subscribe() as states:
            async for state in states:
                seen.append(state)
                await trio.sleep(1)
            assert states.skipped == 998  # versions 1..998 were never seen

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_reader)
        await trio.testing.wait_all_tasks_blocked()
        assert seen == [0]
        store.set(1)  # the reader is asleep; it will see the newest only
        with trio.testing.assert_no_checkpoints():
            for i in range(2, 1000):
                store.set(i)
        await trio.sleep(5)
        store.close()
    assert seen == [0, 999]
    assert trio.current_time() == 5


async def test_several_subscribers_and_unsubscribe_on_exit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = Store(0)
    results: dict[str, list[int]] = {"fast": [], "slow": []}

    async def reader(name: str, pause: float) -> None:
        async with store.subscribe() as states:
            async for state in states:
                results[name].append(state)
                if state == 3:
                    break
                await trio.sleep(pause)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader, "fast", 0)
        nursery.start_soon(reader, "slow", 2.5)
        await trio.testing.wait_all_tasks_blocked()
        assert store.stats.subscribers == 2
        for value in (1, 2, 3):
            await trio.sleep(1)
            store.set(value)
    assert results["fast"] == [0, 1, 2, 3]
    assert results["slow"] == [0, 2, 3]
    assert store.stats.subscribers == 0


async def test_close_ends_iteration_after_latest_state() -> None:
    store = Store(0)
    async with store.subscribe() as states:
        store.set(1)
        store.close()
        assert [s async for s in states] == [1]
    assert store.stats.subscribers == 0


async def test_closing_subscription_wakes_blocked_reader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = Store(0)
    subscription = store.subscribe(initial=False)
    errors: list[str] = []

    async def reader() -> None:
        try:
            await subscription.__anext__()
        except trio.ClosedResourceError as exc:
            errors.append(str(exc))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        subscription.close()
    assert errors == ["subscription is closed"]
    assert store.stats.subscribers == 0


async def test_use_after_close_raises() -> None:
    store = Store(0)
    with store.subscribe() as states:
        pass
    with pytest.raises(trio.ClosedResourceError, match=r"^subscription is closed$"):
        await states.__anext__()
    await states.aclose()
    assert store.stats.subscribers == 0


async def test_anext_checkpoints_on_fast_and_slow_paths(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = Store(0)
    async with store.subscribe() as states:
        with trio.testing.assert_checkpoints():
            assert await states.__anext__() == 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_set_later, store, 1)
            with trio.testing.assert_checkpoints():
                assert await states.__anext__() == 1
    with trio.testing.assert_checkpoints():
        await states.aclose()


async def _set_later(store: Store[int], value: int) -> None:
    await trio.sleep(1)
    store.set(value)


async def test_cancelled_anext_leaves_subscription_unchanged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = Store(0)
    async with store.subscribe() as states:
        with trio.CancelScope() as scope:
            scope.cancel()
            await states.__anext__()
        assert scope.cancelled_caught
        assert await states.__anext__() == 0  # not consumed by the cancelled call
        with trio.move_on_after(1):
            await states.__anext__()
        assert trio.current_time() == 1
        store.set(5)
        assert await states.__anext__() == 5


async def test_select_yields_only_when_derived_value_changes() -> None:
    store = Store(Counter(0, "x"))
    async with store.select(lambda c: c.label) as labels:
        assert await labels.__anext__() == "x"
        store.set(Counter(1, "x"))
        store.set(Counter(2, "x"))
        store.close()
        assert [label async for label in labels] == []
    store2 = Store(Counter(0, "x"))
    async with store2.select(lambda c: c.label, initial=False) as labels:
        store2.set(Counter(1, "x"))
        store2.close()
        assert [label async for label in labels] == []  # "x" is not a change
    store3 = Store(Counter(0, "x"))
    async with store3.select(lambda c: c.label, initial=False) as labels:
        store3.set(Counter(1, "x"))
        store3.set(Counter(1, "y"))
        assert await labels.__anext__() == "y"


async def test_select_with_custom_equality(autojump_clock: trio.testing.MockClock) -> None:
    store = Store(0)
    got: list[int] = []

    async def reader() -> None:
        async with store.select(lambda n: n, equal=lambda a, b: a // 10 == b // 10) as tens:
            got.extend([x async for x in tens])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        for n in (3, 7, 12, 15, 31):
            await trio.sleep(1)
            store.set(n)
        await trio.sleep(1)
        store.close()
    assert got == [0, 12, 31]


def test_select_bad_input() -> None:
    store = Store(0)
    with pytest.raises(TypeError, match=r"^fn must be callable, got None$"):
        store.select(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^equal must be callable, got 'eq'$"):
        store.select(str, equal="eq")  # type: ignore[arg-type]


# --- selector -------------------------------------------------------------------------------


def test_selector_memoizes_on_equal_input() -> None:
    calls: list[Counter] = []

    @selector
    def doubled(c: Counter) -> int:
        calls.append(c)
        return c.n * 2

    assert isinstance(doubled, Selector)
    state = Counter(2)
    assert doubled(state) == 4
    assert doubled(state) == 4
    assert doubled(Counter(2)) == 4  # equal input: cached
    assert doubled.recomputations == 1
    assert doubled(Counter(3)) == 6
    assert doubled.recomputations == 2
    assert len(calls) == 2
    doubled.clear()
    assert doubled(Counter(3)) == 6
    assert doubled.recomputations == 3


def test_selector_by_identity() -> None:
    items = selector(len, equal=operator.is_)
    data = [1, 2]
    assert items(data) == 2
    assert items(data) == 2
    assert items([1, 2]) == 2
    assert items.recomputations == 2


def test_selector_caches_results_that_are_none() -> None:
    noop: Selector[int, None] = selector(lambda _: None)
    noop(1)
    noop(1)
    assert noop.recomputations == 1


def test_selector_with_store_states() -> None:
    store = Store(Counter(1))
    label: Selector[Counter, str] = selector(lambda c: c.label.upper())
    label(store.state)
    store.set(Counter(2))
    label(store.state)
    label(store.state)
    assert label.recomputations == 2


def test_selector_bad_input() -> None:
    with pytest.raises(TypeError, match=r"^fn must be callable, got 1$"):
        selector(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^equal must be callable, got 2$"):
        selector(len, equal=2)  # type: ignore[arg-type]


# --- track_operation ------------------------------------------------------------------------


async def test_track_operation_success(autojump_clock: trio.testing.MockClock) -> None:
    store: Store[AsyncOperation[int]] = Store(AsyncOperation.succeeded(1))
    history: list[AsyncOperation[int]] = []

    async def watch() -> None:
        async with store.subscribe() as ops:
            history.extend([op async for op in ops])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        await trio.testing.wait_all_tasks_blocked()
        result = await track_operation(store, _double, 5)
        await trio.testing.wait_all_tasks_blocked()
        store.close()
    assert result == AsyncOperation.succeeded(10)
    assert history == [
        AsyncOperation.succeeded(1),
        AsyncOperation.pending(previous=1),
        AsyncOperation.succeeded(10),
    ]
    assert trio.current_time() == 1


async def test_track_operation_failure_is_captured(autojump_clock: trio.testing.MockClock) -> None:
    store: Store[AsyncOperation[int]] = Store(AsyncOperation.succeeded(7))
    result = await track_operation(store, _fail, "down")
    assert result is store.state
    assert result.is_error
    assert result.value == 7
    assert str(result.error) == "down"


async def test_track_operation_cancelled_restores_state(
    autojump_clock: trio.testing.MockClock,
) -> None:
    before: AsyncOperation[int] = AsyncOperation.idle()
    store = Store(before)
    with trio.move_on_after(0.5) as scope:
        await track_operation(store, _double, 1)
    assert scope.cancelled_caught
    assert store.state is before


async def test_track_operation_checkpoints_before_changing_store() -> None:
    store: Store[AsyncOperation[int]] = Store(AsyncOperation.idle())

    async def instant() -> int:
        return 3

    with trio.testing.assert_checkpoints():
        await track_operation(store, instant)
    with trio.CancelScope() as scope:
        scope.cancel()
        await track_operation(store, instant)
    assert store.state == AsyncOperation.succeeded(3)
    assert store.stats.version == 2


# --- property: order and latest ----------------------------------------------------------------


@settings(max_examples=60)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["set", "same", "sleep"]), st.integers(0, 3)),
        max_size=40,
    ),
    pauses=st.lists(st.integers(0, 3), min_size=1, max_size=10),
)
def test_subscribers_see_states_in_order_and_end_at_latest(
    steps: list[tuple[str, int]], pauses: list[int]
) -> None:
    async def main() -> None:
        store = Store(0)
        counter = 0
        seen: list[list[int]] = [[], []]

        async def reader(index: int, states: StoreSubscription[int, int]) -> None:
            async with states:
                i = 0
                async for state in states:
                    seen[index].append(state)
                    await trio.sleep(pauses[i % len(pauses)] * (index + 1))
                    i += 1

        async with trio.open_nursery() as nursery:
            # Subscribe before any set: the readers may only start after the store is closed.
            nursery.start_soon(reader, 0, store.subscribe())
            nursery.start_soon(reader, 1, store.subscribe())
            for action, amount in steps:
                if action == "set":
                    counter += 1
                    assert store.set(counter)
                elif action == "same":
                    assert not store.set(counter)
                else:
                    await trio.sleep(amount)
            store.close()
        for states in seen:
            assert states == sorted(set(states))  # strictly increasing: in order, no repeats
            assert states[-1] == counter
        assert store.stats.subscribers == 0

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
