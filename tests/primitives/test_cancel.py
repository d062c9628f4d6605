"""cancel_on: a cancel scope cancelled by any of several trio.Events."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_orch import cancel_on


async def _set_after(delay: float, event: trio.Event) -> None:
    await trio.sleep(delay)
    event.set()


def _child_tasks() -> int:
    task = trio.lowlevel.current_task()
    return sum(len(n.child_tasks) for n in task.child_nurseries)


async def test_cancelled_when_any_event_fires(autojump_clock: trio.testing.MockClock) -> None:
    a, b = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_after, 2.5, b)
        async with cancel_on(a, b) as scope:
            await trio.sleep(10)
        assert trio.current_time() == 2.5
        assert scope.cancelled_caught
        assert scope.cancel_called
    assert not a.is_set()


async def test_first_event_wins_with_its_reason(autojump_clock: trio.testing.MockClock) -> None:
    a, b = trio.Event(), trio.Event()
    reasons: list[str | None] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_after, 1.0, a)
        nursery.start_soon(_set_after, 2.0, b)
        async with cancel_on(a, b):
            try:
                await trio.sleep(10)
            except trio.Cancelled as exc:
                reasons.append(exc.reason)
                raise
    assert reasons == ["cancel_on: event #0 was set"]
    assert trio.current_time() == 2.0  # the nursery waited for the second setter only


async def test_custom_reason(autojump_clock: trio.testing.MockClock) -> None:
    event = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_after, 0.5, event)
        async with cancel_on(event, reason="user pressed stop"):
            with pytest.raises(trio.Cancelled) as info:
                await trio.sleep(10)
            assert info.value.reason == "user pressed stop"
            raise info.value


async def test_already_set_event_cancels_at_once(autojump_clock: trio.testing.MockClock) -> None:
    done, idle = trio.Event(), trio.Event()
    done.set()
    reached = False
    async with cancel_on(idle, done) as scope:
        assert scope.cancel_called
        await trio.sleep(5)
        reached = True  # pragma: no cover - the sleep is cancelled
    assert not reached
    assert scope.cancelled_caught
    assert trio.current_time() == 0


async def test_not_cancelled_when_no_event_fires(autojump_clock: trio.testing.MockClock) -> None:
    a = trio.Event()
    async with cancel_on(a) as scope:
        await trio.sleep(3)
    assert trio.current_time() == 3
    assert not scope.cancel_called
    assert not scope.cancelled_caught
    assert _child_tasks() == 0


async def test_event_set_after_block_has_no_effect(autojump_clock: trio.testing.MockClock) -> None:
    a = trio.Event()
    async with cancel_on(a) as scope:
        await trio.sleep(1)
    a.set()
    await trio.sleep(1)
    assert not scope.cancel_called


async def test_no_events_is_a_plain_scope(autojump_clock: trio.testing.MockClock) -> None:
    async with cancel_on() as scope:
        scope.deadline = trio.current_time() + 1.5
        await trio.sleep(10)
    assert scope.cancelled_caught
    assert trio.current_time() == 1.5


async def test_scope_can_be_cancelled_by_hand() -> None:
    async with cancel_on(trio.Event()) as scope:
        scope.cancel()
        await trio.sleep(1000)  # cancelled at once: no clock needed
    assert scope.cancelled_caught


async def test_body_exception_propagates_unwrapped() -> None:
    event = trio.Event()
    with pytest.raises(ValueError, match=r"^boom$") as info:  # noqa: PT012 - raised by the block
        async with cancel_on(event):
            await trio.lowlevel.checkpoint()
            raise ValueError("boom")
    assert not isinstance(info.value, BaseExceptionGroup)
    assert info.value.__context__ is None


async def test_body_exception_group_is_left_alone() -> None:
    group = ExceptionGroup("two", [ValueError("a"), KeyError("b")])
    with pytest.raises(ExceptionGroup) as info:
        async with cancel_on(trio.Event()):
            raise group
    # trio's cancel scopes rebuild groups they pass through; the leaves are the originals.
    assert info.value.message == "two"
    assert info.value.exceptions[0] is group.exceptions[0]
    assert info.value.exceptions[1] is group.exceptions[1]


async def test_outer_cancellation_propagates(autojump_clock: trio.testing.MockClock) -> None:
    event = trio.Event()
    with trio.move_on_after(2) as outer:
        async with cancel_on(event) as inner:
            await trio.sleep(10)
    assert outer.cancelled_caught
    assert not inner.cancelled_caught
    assert trio.current_time() == 2


async def test_outer_cancel_while_event_also_fires(autojump_clock: trio.testing.MockClock) -> None:
    event = trio.Event()
    with trio.move_on_after(1) as outer:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_set_after, 1, event)
            async with cancel_on(event):
                await trio.sleep(10)
            await trio.sleep(10)
    assert outer.cancelled_caught
    assert trio.current_time() == 1


async def test_no_task_left_after_exit(autojump_clock: trio.testing.MockClock) -> None:
    events = [trio.Event() for _ in range(5)]
    nurseries_before = len(trio.lowlevel.current_task().child_nurseries)
    async with cancel_on(*events):
        await trio.testing.wait_all_tasks_blocked()
        assert _child_tasks() == 5  # one watcher per event, inside the block
    assert _child_tasks() == 0
    assert len(trio.lowlevel.current_task().child_nurseries) == nurseries_before


async def test_exit_is_a_checkpoint_on_every_path() -> None:
    with trio.testing.assert_checkpoints():
        async with cancel_on():
            pass
    with trio.testing.assert_checkpoints():
        async with cancel_on(trio.Event()):
            pass
    already = trio.Event()
    already.set()
    with trio.testing.assert_checkpoints():
        async with cancel_on(already):
            pass


async def test_enter_is_not_a_checkpoint() -> None:
    manager = cancel_on(trio.Event())
    with trio.testing.assert_no_checkpoints():
        scope = await manager.__aenter__()
    assert isinstance(scope, trio.CancelScope)
    await manager.__aexit__(None, None, None)


def test_rejects_non_events() -> None:
    with pytest.raises(
        TypeError, match=r"^cancel_on\(\) arguments must be trio.Event, got 3 at position 1$"
    ):
        cancel_on(trio.Event(), 3)  # type: ignore[arg-type]


def test_rejects_bad_reason() -> None:
    with pytest.raises(TypeError, match=r"^reason must be a str or None, got 5$"):
        cancel_on(trio.Event(), reason=5)  # type: ignore[arg-type]
