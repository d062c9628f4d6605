"""Cancellation: what Trio's cancel scopes lack, and nothing more.

In trio_orch a :class:`trio.CancelScope` *is* the cancellation token (see
``docs/cancellation.md`` for the table from JS token operations to Trio idioms).  The one
thing Trio does not ship is a scope that is cancelled when some *other* part of the program
says so through an event; :func:`cancel_on` adds exactly that, with its watcher tasks owned
by a nursery inside the ``async with`` block.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import trio

from trio_orch._groups import open_nursery_unwrapped

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager

__all__ = ["cancel_on"]


def cancel_on(
    *events: trio.Event, reason: str | None = None
) -> AbstractAsyncContextManager[trio.CancelScope]:
    """A cancel scope that is cancelled as soon as any of ``events`` is set.

    ::

        async with cancel_on(user_aborted, shutting_down, reason="stop requested") as scope:
            await long_operation()
        if scope.cancelled_caught:
            ...

    The scope behaves exactly like :class:`trio.CancelScope` (``cancel()``, ``deadline``,
    ``shield``, ``cancel_called``, ``cancelled_caught``); the cancellation it catches is its own,
    so the block simply ends when an event fires.  An event that is already set cancels the
    scope at once (the body's first checkpoint raises :class:`trio.Cancelled`).  With no events
    it is a plain cancel scope.

    One watcher task per event waits in a nursery owned by the ``async with`` block; they are
    cancelled and joined when the block ends, so nothing outlives it.

    Args:
        *events: the :class:`trio.Event` objects to watch.
        reason: passed to :meth:`trio.CancelScope.cancel`; it shows in the
            :class:`trio.Cancelled` raised inside the block.  Defaults to
            ``"cancel_on: event #<index> was set"``.

    Returns:
        An async context manager that yields the :class:`trio.CancelScope`.

    Raises:
        TypeError: an argument is not a :class:`trio.Event`.

    Cancellation:
        A cancellation from outside propagates out of the block as usual (it is not caught by
        this scope).  An exception raised by the body propagates unchanged, never wrapped in an
        ``ExceptionGroup``.

    Checkpoints:
        Entering the block is not a checkpoint (like entering a ``CancelScope`` or a
        nursery); leaving it normally is one.
    """
    checked: tuple[object, ...] = events
    for index, event in enumerate(checked):
        if not isinstance(event, trio.Event):
            msg = f"cancel_on() arguments must be trio.Event, got {event!r} at position {index}"
            raise TypeError(msg)
    why: object = reason
    if why is not None and not isinstance(why, str):
        msg = f"reason must be a str or None, got {reason!r}"
        raise TypeError(msg)
    return _cancel_on(events, reason)


@contextlib.asynccontextmanager
async def _cancel_on(
    events: tuple[trio.Event, ...], reason: str | None
) -> AsyncIterator[trio.CancelScope]:
    scope = trio.CancelScope()
    async with open_nursery_unwrapped("cancel_on()") as nursery:
        try:
            for index, event in enumerate(events):
                why = reason if reason is not None else f"cancel_on: event #{index} was set"
                if event.is_set():
                    scope.cancel(reason=why)
                    break
                nursery.start_soon(_watch, event, scope, why)
            with scope:
                yield scope
            await trio.lowlevel.checkpoint()
        finally:
            nursery.cancel_scope.cancel(reason="cancel_on block ended")


async def _watch(event: trio.Event, scope: trio.CancelScope, reason: str) -> None:
    await event.wait()
    scope.cancel(reason=reason)
