"""Stream operators (the event-stream optimizer): batch, throttle, debounce, dedupe.

An operator is a small, reusable description of a transformation of a stream of items.  It
runs as one task that reads a :class:`trio.abc.ReceiveChannel` and writes to a
:class:`trio.abc.SendChannel`, in a nursery the caller owns or sees:

* ``async with open_pipeline(receive, throttle(60), batch(10, 0.05)) as out:`` runs the
  stages in a nursery owned by the block;
* ``out = start_pipeline(nursery, receive, throttle(60))`` runs them in the caller's nursery;
* ``choreo.flow(UserInput, to=ref).throttle(60).batch(10, 0.05)`` runs them on a flow, in
  the choreographer's nursery.

Stages are joined by bounded ``BLOCK`` channels (``max_buffer`` items), so backpressure flows
upstream.  A stage closes its output when its input ends (after flushing what it holds: a
partial batch, a pending debounced or throttled item) and closes its input when it ends; a
closed output (the consumer went away) ends the stage quietly.  Every item an operator
discards is counted in :attr:`Operator.stats` and logged (``"trio_orch.operators.dropped"``,
at INFO: the first at once, then at most once a second).  One operator object may run on
several streams at once; its counters add up over all of them.

An operator that raises (a ``dedupe`` key function, say) fails its pipeline, loudly:

* the item it raised on and the items still queued in its input are counted as dropped and
  logged (``"trio_orch.operators.failed"``, ERROR);
* its output is *not* closed, so the consumer never mistakes the failure for the end of the
  input: the stage's error cancels the nursery the stages run in, and the consumer, waiting
  in that nursery's scope, is cancelled;
* the error comes out of the nursery: out of ``open_pipeline``'s block (unwrapped), or out
  of the caller's nursery for ``start_pipeline``, or out of the choreographer for a flow.
"""

from __future__ import annotations

import enum
import logging
import math
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, final

import attrs
import trio

from trio_orch._groups import unwrap_single
from trio_orch._log import DropLogger, get_logger
from trio_orch._validate import check_callable, check_instance, check_int, check_number
from trio_orch.primitives import open_bounded_channel

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Hashable

_logger = get_logger("operators")
#: Seconds a stage may spend closing its channels (shielded) when it ends.
_CLOSE_TIMEOUT = 5.0
#: Default size of the channels between stages.
DEFAULT_STAGE_BUFFER = 16
#: what :meth:`Operator._next` returns once the input ended
_END: Final = object()


@final
@attrs.frozen
class OperatorStats:
    """Counters of an :class:`Operator`, summed over every stream it runs on.

    Attributes:
        received: items read from the input.
        emitted: items (batches count one each) written to the output.
        dropped: items discarded: by design (throttled, superseded, duplicates), or
            because the operator raised (the item it raised on and those still queued in
            its input).
    """

    received: int
    emitted: int
    dropped: int


@attrs.define(eq=False)
class Operator:
    """Base class of the stream operators; build them with :func:`batch`, :func:`throttle`,
    :func:`debounce` and :func:`dedupe`.

    Subclasses implement :meth:`run`.  Compose operators with :func:`open_pipeline`,
    :func:`start_pipeline` or on a flow.
    """

    _received: int = attrs.field(default=0, init=False)
    _emitted: int = attrs.field(default=0, init=False)
    _drops: DropLogger = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        operator = type(self).__name__.lower()
        self._drops = DropLogger(
            _logger, "trio_orch.operators.dropped", {"operator": operator}, level=logging.INFO
        )

    @property
    def stats(self) -> OperatorStats:
        """An :class:`OperatorStats` snapshot."""
        return OperatorStats(self._received, self._emitted, self._drops.count)

    async def run(
        self, receive: trio.abc.ReceiveChannel[Any], send: trio.abc.SendChannel[Any]
    ) -> None:
        """Read ``receive`` until it ends, writing results to ``send``; flush, then return.

        The caller closes both channels afterwards (see :func:`start_pipeline`).
        """
        raise NotImplementedError

    def start(
        self,
        nursery: trio.Nursery,
        receive: trio.abc.ReceiveChannel[Any],
        *,
        max_buffer: int = DEFAULT_STAGE_BUFFER,
    ) -> trio.abc.ReceiveChannel[Any]:
        """Run this operator on ``receive`` in ``nursery``; return its output channel.

        The same as ``start_pipeline(nursery, receive, self, max_buffer=max_buffer)``.
        """
        return start_pipeline(nursery, receive, self, max_buffer=max_buffer)

    def open(
        self, receive: trio.abc.ReceiveChannel[Any], *, max_buffer: int = DEFAULT_STAGE_BUFFER
    ) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[Any]]:
        """Run this operator on ``receive`` in a nursery owned by the returned block.

        ``async with batch(10, 0.05).open(events) as batches:`` is the same as
        ``open_pipeline(events, batch(10, 0.05))``; leaving the block cancels the stage.
        """
        return open_pipeline(receive, self, max_buffer=max_buffer)

    async def _next(self, receive: trio.abc.ReceiveChannel[Any]) -> Any:
        """The next item of ``receive`` (counted), or ``_END`` once it ended; a checkpoint."""
        try:
            item = await receive.receive()
        except trio.EndOfChannel:
            await trio.lowlevel.checkpoint()
            return _END
        self._received += 1
        return item

    def _drop(self) -> None:
        self._drops.add()

    def _failed(self, error: Exception, receive: trio.abc.ReceiveChannel[Any]) -> None:
        """The operator raised ``error``: count as received and dropped what is still queued
        in ``receive`` (taken now), and log the failure."""
        queued = 0
        receive_nowait = getattr(receive, "receive_nowait", None)
        if receive_nowait is not None:
            while True:
                try:
                    receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
                queued += 1
        self._received += queued
        self._drops.count_logged(queued)
        _logger.error(
            "trio_orch.operators.failed",
            operator=type(self).__name__.lower(),
            queued_dropped=queued,
            total_dropped=self._drops.count,
            exc_info=error,
        )

    async def _emit(self, send: trio.abc.SendChannel[Any], item: object) -> None:
        await send.send(item)
        self._emitted += 1


@final
@attrs.define(eq=False)
class Batch(Operator):
    """Groups items into tuples; see :func:`batch`."""

    max_size: int
    max_wait: float

    async def run(
        self, receive: trio.abc.ReceiveChannel[Any], send: trio.abc.SendChannel[Any]
    ) -> None:
        """Emit a tuple when ``max_size`` items are in, or ``max_wait`` after its first item."""
        while (first := await self._next(receive)) is not _END:
            items = [first]
            ended = False
            with trio.move_on_after(self.max_wait):
                while len(items) < self.max_size:
                    item = await self._next(receive)
                    if item is _END:
                        ended = True
                        break
                    items.append(item)
            await self._emit(send, tuple(items))
            if ended:
                return


class ThrottleMode(enum.Enum):
    """What :func:`throttle` does with an item that arrives before its rate allows.

    Attributes:
        DELAY: hold it (and, through backpressure, the stream behind it) until its slot:
            nothing is lost; items leave exactly ``1 / per_second`` apart when busy.
        DROP: discard it (counted): the first item of each interval wins.
        LATEST: keep only the newest early item and emit it at the next slot, discarding
            (counting) the ones it replaced: the last item of each interval wins, which is
            what a UI refresh wants.
    """

    DELAY = "delay"
    DROP = "drop"
    LATEST = "latest"


@final
@attrs.define(eq=False)
class Throttle(Operator):
    """Limits the item rate; see :func:`throttle`."""

    per_second: float
    mode: ThrottleMode

    async def run(
        self, receive: trio.abc.ReceiveChannel[Any], send: trio.abc.SendChannel[Any]
    ) -> None:
        """Emit at most ``per_second`` items a second, as ``mode`` says."""
        interval = 1.0 / self.per_second
        if self.mode is ThrottleMode.LATEST:
            await self._run_latest(receive, send, interval)
            return
        next_slot = -math.inf
        async for item in receive:
            self._received += 1
            now = trio.current_time()
            if now < next_slot:
                if self.mode is ThrottleMode.DROP:
                    self._drop()
                    continue
                await trio.sleep_until(next_slot)
                now = next_slot
            await self._emit(send, item)
            next_slot = now + interval

    async def _run_latest(
        self,
        receive: trio.abc.ReceiveChannel[Any],
        send: trio.abc.SendChannel[Any],
        interval: float,
    ) -> None:
        next_slot = -math.inf
        while (item := await self._next(receive)) is not _END:
            ended = False
            # Until the slot comes, newer items replace the held one.
            with trio.move_on_at(next_slot):
                while True:
                    newer = await self._next(receive)
                    if newer is _END:
                        ended = True
                        break
                    self._drop()
                    item = newer
            if ended:
                await trio.sleep_until(next_slot)
            now = trio.current_time()
            await self._emit(send, item)
            next_slot = now + interval
            if ended:
                return


@final
@attrs.define(eq=False)
class Debounce(Operator):
    """Emits the last item of each burst; see :func:`debounce`."""

    delay: float

    async def run(
        self, receive: trio.abc.ReceiveChannel[Any], send: trio.abc.SendChannel[Any]
    ) -> None:
        """Emit an item once ``delay`` seconds pass without a newer one (the rest count as dropped)."""
        while (item := await self._next(receive)) is not _END:
            while True:
                with trio.move_on_after(self.delay) as quiet:
                    newer = await self._next(receive)
                    if newer is _END:
                        await self._emit(send, item)
                        return
                if quiet.cancelled_caught:
                    break
                self._drop()
                item = newer
            await self._emit(send, item)


@final
@attrs.define(eq=False)
class Dedupe(Operator):
    """Discards repeats within a time window; see :func:`dedupe`."""

    key: Callable[[Any], Hashable] | None
    window: float
    max_keys: int

    async def run(
        self, receive: trio.abc.ReceiveChannel[Any], send: trio.abc.SendChannel[Any]
    ) -> None:
        """Pass an item unless an item with the same key passed less than ``window`` ago."""
        seen: OrderedDict[Hashable, float] = OrderedDict()  # key -> expiry, oldest first
        key_of = self.key
        async for item in receive:
            self._received += 1
            now = trio.current_time()
            while seen and next(iter(seen.values())) <= now:
                seen.popitem(last=False)
            try:
                key = item if key_of is None else key_of(item)
                known = key in seen
            except Exception:
                self._drops.count_logged(1)  # the item is lost: logged with the failure
                raise
            if known:
                self._drop()
                continue
            seen[key] = now + self.window
            if len(seen) > self.max_keys:
                seen.popitem(last=False)
            await self._emit(send, item)


def batch(max_size: int, max_wait: float) -> Batch:
    """Group items into tuples of up to ``max_size``, waiting at most ``max_wait`` seconds.

    A batch is emitted as soon as it holds ``max_size`` items, or ``max_wait`` seconds after
    its first item arrived, whichever comes first; a partial batch is flushed when the input
    ends.  Batches are never empty.

    Raises:
        TypeError: ``max_size`` is not an int or ``max_wait`` not a number.
        ValueError: either is not > 0 (or is infinite).
    """
    check_int("max_size", max_size, minimum=1)
    check_number("max_wait", max_wait, strict=True)
    return Batch(max_size, max_wait)


def throttle(per_second: float, *, mode: ThrottleMode = ThrottleMode.DELAY) -> Throttle:
    """Let at most ``per_second`` items a second through.

    ``mode`` says what happens to an item that comes too early (see :class:`ThrottleMode`):
    the default ``DELAY`` holds it until its slot (lossless, backpressure), ``DROP`` discards
    it, ``LATEST`` keeps the newest early item for the next slot.

    Raises:
        TypeError: ``per_second`` is not a number or ``mode`` not a ThrottleMode.
        ValueError: ``per_second`` is not > 0 (or is infinite).
    """
    check_number("per_second", per_second, strict=True)
    mode_obj: object = mode
    check_instance("mode", mode_obj, ThrottleMode, "a ThrottleMode")
    return Throttle(per_second, mode)


def debounce(delay: float) -> Debounce:
    """Emit the last item of each burst, once ``delay`` seconds pass without a newer one.

    The items it supersedes are counted as dropped.  When the input ends, the pending item
    is emitted at once.

    Raises:
        TypeError: ``delay`` is not a number.
        ValueError: ``delay`` is not > 0 (or is infinite).
    """
    check_number("delay", delay, strict=True)
    return Debounce(delay)


def dedupe(
    key: Callable[[Any], Hashable] | None, window: float, *, max_keys: int = 10_000
) -> Dedupe:
    """Discard an item whose key was let through less than ``window`` seconds ago.

    The window starts when an item passes (a discarded repeat does not extend it).  At most
    ``max_keys`` keys are remembered; past that the oldest is forgotten (so every buffer
    stays bounded).

    Args:
        key: ``key(item)`` gives the hashable key; ``None`` uses the item itself.
        window: seconds a key suppresses its repeats.
        max_keys: the most keys remembered at once.

    Raises:
        TypeError: ``key`` is not callable or None, ``window`` not a number or ``max_keys``
            not an int.
        ValueError: ``window`` or ``max_keys`` is not > 0.
    """
    key_obj: object = key
    check_callable("key", key_obj, allow_none=True)
    check_number("window", window, strict=True)
    check_int("max_keys", max_keys, minimum=1)
    return Dedupe(key, window, max_keys)


async def _run_stage(
    operator: Operator,
    receive: trio.abc.ReceiveChannel[Any],
    send: trio.abc.SendChannel[Any],
) -> None:
    """Run one stage, then close its input, and its output unless the operator raised.

    Leaving the output open on failure is what keeps the consumer from seeing a normal end:
    the stage's error cancels the nursery, and the consumer with it.
    """
    failed = False
    try:
        await operator.run(receive, send)
    except trio.BrokenResourceError:
        pass  # the consumer closed its end: nobody wants the output any more
    except Exception as exc:
        failed = True
        operator._failed(exc, receive)
        raise
    finally:
        with trio.CancelScope(shield=True) as cleanup:
            cleanup.deadline = trio.current_time() + _CLOSE_TIMEOUT
            await receive.aclose()
            if not failed:
                await send.aclose()


def start_pipeline(
    nursery: trio.Nursery,
    receive: trio.abc.ReceiveChannel[Any],
    *operators: Operator,
    max_buffer: int = DEFAULT_STAGE_BUFFER,
) -> trio.abc.ReceiveChannel[Any]:
    """Run ``operators`` one after the other on ``receive``, each as a task in ``nursery``.

    The pipeline takes ownership of ``receive`` (it is closed when the first stage ends).
    The returned channel ends after the input ends and every stage has flushed.  A stage
    that raises leaves its output open and its error cancels ``nursery`` (see the module
    docstring): consume the output inside ``nursery``'s scope.

    Args:
        nursery: where the stage tasks run.
        receive: the input stream.
        operators: the stages, applied in order (none: ``receive`` is returned as is).
        max_buffer: size of the bounded channel after each stage.

    Raises:
        TypeError: an operator is not an :class:`Operator`.
    """
    check_int("max_buffer", max_buffer, minimum=0)
    objs: tuple[object, ...] = operators
    for operator in objs:
        if not isinstance(operator, Operator):
            msg = f"operators must be Operator instances, got {operator!r}"
            raise TypeError(msg)
    for operator in operators:
        send_out, receive_out = open_bounded_channel[Any](max_buffer)
        nursery.start_soon(_run_stage, operator, receive, send_out, name=repr(operator))
        receive = receive_out
    return receive


@asynccontextmanager
async def open_pipeline(
    receive: trio.abc.ReceiveChannel[Any],
    *operators: Operator,
    max_buffer: int = DEFAULT_STAGE_BUFFER,
) -> AsyncIterator[trio.abc.ReceiveChannel[Any]]:
    """Run ``operators`` on ``receive`` in a nursery owned by this block; yield the output.

    ``async with open_pipeline(events, throttle(60), batch(10, 0.05)) as out:``.  Leaving
    the block cancels the stages (read the output to the end first to get everything).

    Raises:
        TypeError, ValueError: as :func:`start_pipeline`.
        Exception: what an operator raised: the block's body is cancelled and the error
            comes out of the block, unwrapped (see the module docstring).

    Cancellation:
        Cancelling the block cancels the stages.
    """
    with unwrap_single("open_pipeline()"):
        async with trio.open_nursery() as nursery:
            out = start_pipeline(nursery, receive, *operators, max_buffer=max_buffer)
            try:
                yield out
            finally:
                nursery.cancel_scope.cancel(reason="open_pipeline block ended")
