"""Bounded channels with an explicit policy for "full": block, drop oldest, drop newest, reject.

:func:`open_bounded_channel` returns a ``(send, receive)`` pair that behaves like
:func:`trio.open_memory_channel` (closing, cloning, ``EndOfChannel``, ``BrokenResourceError``,
``ClosedResourceError``, cancellation atomicity) but never holds more than ``max_size`` items,
and counts (and logs) every item it drops or rejects.

The implementation follows trio's ``_channel.py``: one shared state object, handles that
count themselves open, parked tasks in insertion-ordered dicts, and a fast path that hands an
item straight to a parked receiver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, final

import attrs
import trio
from outcome import Error, Value

from trio_orch._validate import check_int
from trio_orch.primitives._channel_state import (
    ChannelState,
    DropPolicy,
    check_channel_args,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Self

    from trio_orch.primitives._channel_state import QueueStats

T = TypeVar("T")


# Written as a class so that ``open_bounded_channel[int](max_size=10)`` works, as trio's
# ``open_memory_channel[int](0)`` does.
@final
class open_bounded_channel(tuple["BoundedSendChannel[T]", "BoundedReceiveChannel[T]"]):
    """Open a bounded in-memory channel with an explicit policy for "full".

    ``send, receive = open_bounded_channel(max_size=100, drop=DropPolicy.OLDEST)``

    The pair behaves like :func:`trio.open_memory_channel`'s: handles can be cloned and closed
    (sync ``close()``, ``aclose()``, ``with``/``async with``); receivers get
    :class:`trio.EndOfChannel` once every send handle is closed and the buffer is drained;
    senders get :class:`trio.BrokenResourceError` once every receive handle is closed; a
    closed handle raises :class:`trio.ClosedResourceError`.

    Args:
        max_size: the most items the buffer holds, an ``int >= 0``. ``0`` means rendezvous:
            an item is only accepted when a receiver is waiting for it (``BLOCK`` waits,
            ``NEWEST`` drops, ``REJECT`` raises); ``OLDEST`` needs ``max_size >= 1``.
            ``math.inf`` is refused: every buffer is bounded.
        drop: what to do with an item sent while the buffer is full (default: ``BLOCK``).
        on_drop: called synchronously, inside the send call, with every item the channel
            drops (evicted, discarded, or left in the buffer when the last receiver closed),
            so nothing is lost silently. An exception it raises propagates to the sender
            (the drop is already counted).
        name: names the channel in its log events (``channel=name``) and its repr, so that
            the drops of many channels can be told apart.
        item_type: only for type checkers: ``open_bounded_channel(10, item_type=int)`` is
            the same as ``open_bounded_channel[int](10)``.

    Returns:
        ``(send_channel, receive_channel)``; data flows left to right.

    Raises:
        TypeError: ``max_size`` is not an int (a bool or float), ``drop`` not a DropPolicy,
            or ``name`` not a str.
        ValueError: ``max_size`` is negative or infinite, or 0 with ``DropPolicy.OLDEST``.
    """

    def __new__(  # type: ignore[misc]  # "must return a subtype", as trio's
        cls,
        max_size: int,
        drop: DropPolicy = DropPolicy.BLOCK,
        *,
        on_drop: Callable[[T], object] | None = None,
        name: str | None = None,
        item_type: type[T] | None = None,
    ) -> tuple[BoundedSendChannel[T], BoundedReceiveChannel[T]]:
        del item_type  # for type checkers only
        check_channel_args(max_size, drop, name, on_drop)
        state: ChannelState[T] = ChannelState(max_size, drop, on_drop, name)
        return BoundedSendChannel[T](state), BoundedReceiveChannel[T](state)

    def __init__(
        self,
        max_size: int,
        drop: DropPolicy = DropPolicy.BLOCK,
        *,
        on_drop: Callable[[T], object] | None = None,
        name: str | None = None,
        item_type: type[T] | None = None,
    ) -> None: ...


@final
@attrs.define(eq=False, repr=False)
class BoundedSendChannel(trio.abc.SendChannel[T]):
    """The sending end of :func:`open_bounded_channel`; a :class:`trio.abc.SendChannel`.

    Create it with :func:`open_bounded_channel`, more of them with :meth:`clone`.
    """

    _state: ChannelState[T]
    _closed: bool = False
    # The tasks blocked in send on *this* handle (the state's send_tasks spans all clones).
    _tasks: set[trio.lowlevel.Task] = attrs.Factory(set)

    def __attrs_post_init__(self) -> None:
        self._state.open_send += 1

    def __repr__(self) -> str:
        state = self._state
        return f"<BoundedSendChannel {state.describe()}>"

    @property
    def stats(self) -> QueueStats:
        """A :class:`QueueStats` snapshot of the channel (shared by every handle)."""
        return self._state.stats()

    def statistics(self) -> QueueStats:
        """The same snapshot as :attr:`stats`.

        trio_orch's convention is the :attr:`stats` property; this method exists only because
        the class mirrors trio's memory channels, whose ``statistics()`` code written for
        trio may call.
        """
        return self._state.stats()

    @trio.lowlevel.enable_ki_protection
    def send_nowait(self, value: T) -> None:
        """Send ``value`` without blocking, applying the drop policy if the buffer is full.

        Raises:
            trio.WouldBlock: ``BLOCK`` and the buffer is full.
            trio_orch.QueueFull: ``REJECT`` and the buffer is full (also a WouldBlock).
            trio.BrokenResourceError: every receive handle is closed.
            trio.ClosedResourceError: this handle is closed.
            Exception: whatever the ``on_drop`` callback raises (the drop is counted).
        """
        state = self._state
        if self._closed:
            raise trio.ClosedResourceError
        if not state.open_receive:
            raise trio.BrokenResourceError
        if state.receive_tasks:
            task, _ = state.receive_tasks.popitem(last=False)
            task.custom_sleep_data._tasks.remove(task)
            trio.lowlevel.reschedule(task, Value(value))
            state.sent += 1
        elif len(state.data) < state.max_size:
            state.data.append(value)
            state.sent += 1
        else:
            exc = state.full(value)
            if exc is not None:
                raise exc

    @trio.lowlevel.enable_ki_protection
    async def send(self, value: T) -> None:
        """Send ``value``; under ``BLOCK`` wait for room, otherwise apply the drop policy.

        Raises:
            trio_orch.QueueFull: ``REJECT`` and the buffer is full.
            trio.BrokenResourceError: every receive handle is closed (also while waiting).
            trio.ClosedResourceError: this handle is closed (also while waiting).
            Exception: whatever the ``on_drop`` callback raises (the drop is counted).

        Cancellation:
            Atomic: either the item is accepted, or ``Cancelled`` is raised and nothing was
            enqueued.

        Checkpoints:
            Always a full checkpoint, whether it waits, returns at once or raises.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self.send_nowait(value)
        except trio.WouldBlock as exc:
            if type(exc) is not trio.WouldBlock:  # QueueFull
                await trio.lowlevel.cancel_shielded_checkpoint()
                raise
        except Exception:
            await trio.lowlevel.cancel_shielded_checkpoint()
            raise
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return

        task = trio.lowlevel.current_task()
        self._tasks.add(task)
        self._state.send_tasks[task] = value
        task.custom_sleep_data = self

        def abort_fn(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            self._tasks.remove(task)
            del self._state.send_tasks[task]
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort_fn)

    @trio.lowlevel.enable_ki_protection
    def clone(self) -> BoundedSendChannel[T]:
        """Another send handle on the same channel; receivers see EndOfChannel only when
        every clone is closed.

        Raises:
            trio.ClosedResourceError: this handle is closed.
        """
        if self._closed:
            raise trio.ClosedResourceError
        return BoundedSendChannel(self._state)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @trio.lowlevel.enable_ki_protection
    def close(self) -> None:
        """Close this handle (idempotent; not a checkpoint).

        Tasks blocked in ``send`` on this handle get ClosedResourceError. When the last send
        handle closes, waiting receivers get EndOfChannel (after the buffer drains).
        """
        if self._closed:
            return
        self._closed = True
        state = self._state
        for task in self._tasks:
            trio.lowlevel.reschedule(task, Error(trio.ClosedResourceError()))
            del state.send_tasks[task]
        self._tasks.clear()
        state.open_send -= 1
        if state.open_send == 0:
            for task in state.receive_tasks:
                task.custom_sleep_data._tasks.remove(task)
                trio.lowlevel.reschedule(task, Error(trio.EndOfChannel()))
            state.receive_tasks.clear()
            state.flush_logs()

    @trio.lowlevel.enable_ki_protection
    async def aclose(self) -> None:
        """Close this handle, then checkpoint. See :meth:`close`."""
        self.close()
        await trio.lowlevel.checkpoint()


@final
@attrs.define(eq=False, repr=False)
class BoundedReceiveChannel(trio.abc.ReceiveChannel[T]):
    """The receiving end of :func:`open_bounded_channel`; a :class:`trio.abc.ReceiveChannel`.

    ``async for item in receive:`` yields items until every send handle is closed and the
    buffer is drained.
    """

    _state: ChannelState[T]
    _closed: bool = False
    _tasks: set[trio.lowlevel.Task] = attrs.Factory(set)

    def __attrs_post_init__(self) -> None:
        self._state.open_receive += 1

    def __repr__(self) -> str:
        state = self._state
        return f"<BoundedReceiveChannel {state.describe()}>"

    @property
    def stats(self) -> QueueStats:
        """A :class:`QueueStats` snapshot of the channel (shared by every handle)."""
        return self._state.stats()

    def statistics(self) -> QueueStats:
        """The same snapshot as :attr:`stats`.

        trio_orch's convention is the :attr:`stats` property; this method exists only because
        the class mirrors trio's memory channels, whose ``statistics()`` code written for
        trio may call.
        """
        return self._state.stats()

    @trio.lowlevel.enable_ki_protection
    def receive_nowait(self) -> T:
        """Take the oldest item without blocking.

        Raises:
            trio.WouldBlock: nothing is buffered and some send handle is open.
            trio.EndOfChannel: nothing is buffered and every send handle is closed.
            trio.ClosedResourceError: this handle is closed.
        """
        if self._closed:
            raise trio.ClosedResourceError
        state = self._state
        if state.send_tasks:
            task, value = state.send_tasks.popitem(last=False)
            task.custom_sleep_data._tasks.remove(task)
            trio.lowlevel.reschedule(task)
            state.data.append(value)
            state.sent += 1
        if state.data:
            return state.data.popleft()
        if not state.open_send:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    @trio.lowlevel.enable_ki_protection
    async def receive(self) -> T:
        """Take the oldest item, waiting for one if the buffer is empty.

        Raises:
            trio.EndOfChannel: every send handle is closed and the buffer is drained.
            trio.ClosedResourceError: this handle is closed (also while waiting).

        Cancellation:
            Atomic: either an item is returned, or ``Cancelled`` is raised and nothing was
            taken from the channel.

        Checkpoints:
            Always a full checkpoint, also when an item is ready or it raises.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            value = self.receive_nowait()
        except trio.WouldBlock:
            pass
        except Exception:
            await trio.lowlevel.cancel_shielded_checkpoint()
            raise
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return value

        task = trio.lowlevel.current_task()
        self._tasks.add(task)
        self._state.receive_tasks[task] = None
        task.custom_sleep_data = self

        def abort_fn(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            self._tasks.remove(task)
            del self._state.receive_tasks[task]
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort_fn)  # type: ignore[no-any-return]

    @trio.lowlevel.enable_ki_protection
    def receive_nowait_batch(self, max_items: int) -> list[T]:
        """Take up to ``max_items`` buffered items (oldest first) without blocking.

        Returns:
            A non-empty list of at most ``max_items`` items.

        Raises:
            TypeError: ``max_items`` is not an int.
            ValueError: ``max_items < 1``.
            trio.WouldBlock: nothing is buffered and some send handle is open.
            trio.EndOfChannel: nothing is buffered and every send handle is closed.
            trio.ClosedResourceError: this handle is closed.
        """
        if type(max_items) is not int or max_items < 1:  # per call: check only a bad value
            check_int("max_items", max_items, minimum=1)
        first = self.receive_nowait()
        return self._take_more(first, max_items)

    def _take_more(self, first: T, max_items: int) -> list[T]:
        batch = [first]
        state = self._state
        data = state.data
        while len(batch) < max_items:
            if state.send_tasks:
                task, value = state.send_tasks.popitem(last=False)
                task.custom_sleep_data._tasks.remove(task)
                trio.lowlevel.reschedule(task)
                data.append(value)
                state.sent += 1
            if not data:
                break
            batch.append(data.popleft())
        return batch

    @trio.lowlevel.enable_ki_protection
    async def receive_batch(self, max_items: int) -> list[T]:
        """Wait for at least one item, then take up to ``max_items`` without waiting more.

        Returns:
            A non-empty list of at most ``max_items`` items, oldest first.

        Raises:
            TypeError: ``max_items`` is not an int.
            ValueError: ``max_items < 1``.
            trio.EndOfChannel: every send handle is closed and the buffer is drained.
            trio.ClosedResourceError: this handle is closed (also while waiting).

        Cancellation:
            Atomic: either a batch is returned, or ``Cancelled`` is raised and nothing was
            taken.

        Checkpoints:
            Always a checkpoint.
        """
        if type(max_items) is not int or max_items < 1:  # per call: check only a bad value
            check_int("max_items", max_items, minimum=1)
        first = await self.receive()
        return self._take_more(first, max_items)

    @trio.lowlevel.enable_ki_protection
    def clone(self) -> BoundedReceiveChannel[T]:
        """Another receive handle on the same channel; each item goes to one receiver only.

        Raises:
            trio.ClosedResourceError: this handle is closed.
        """
        if self._closed:
            raise trio.ClosedResourceError
        return BoundedReceiveChannel(self._state)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @trio.lowlevel.enable_ki_protection
    def close(self) -> None:
        """Close this handle (idempotent; not a checkpoint).

        Tasks blocked in ``receive`` on this handle get ClosedResourceError. When the last
        receive handle closes, blocked senders get BrokenResourceError and the items still
        buffered are discarded: counted in ``dropped``, passed to ``on_drop`` and logged
        (``"trio_orch.channel.discarded"``).
        """
        if self._closed:
            return
        self._closed = True
        state = self._state
        for task in self._tasks:
            trio.lowlevel.reschedule(task, Error(trio.ClosedResourceError()))
            del state.receive_tasks[task]
        self._tasks.clear()
        state.open_receive -= 1
        if state.open_receive == 0:
            for task in state.send_tasks:
                task.custom_sleep_data._tasks.remove(task)
                trio.lowlevel.reschedule(task, Error(trio.BrokenResourceError()))
            state.send_tasks.clear()
            state.discard_buffer()

    @trio.lowlevel.enable_ki_protection
    async def aclose(self) -> None:
        """Close this handle, then checkpoint. See :meth:`close`."""
        self.close()
        await trio.lowlevel.checkpoint()
