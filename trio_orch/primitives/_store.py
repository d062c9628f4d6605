"""Store helpers: an async-operation value, an observable store, memoized selectors.

A Zustand-like layer for Trio programs:

* :class:`AsyncOperation` is an immutable snapshot of one asynchronous operation (idle,
  loading, succeeded with a value, failed with an error), with
  :func:`track_operation` to drive one through a :class:`Store`.
* :class:`Store` holds one state.  ``set`` and ``update`` are synchronous and never block;
  subscribers (:meth:`Store.subscribe`, :meth:`Store.select`) wait on a single parking lot and
  read the *latest* state when they wake, so a slow subscriber skips intermediate states
  instead of buffering them: memory is O(1) per subscriber whatever the rate of ``set``.
* :func:`selector` memoizes a derivation of the state.

The debouncer and the throttler live in ``_timing.py``.
"""

from __future__ import annotations

import enum
import operator
from typing import TYPE_CHECKING, Generic, TypeVar, TypeVarTuple, final

import attrs
import trio

from trio_orch._validate import check_callable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType
    from typing import Self

__all__ = [
    "AsyncOperation",
    "OpStatus",
    "Selector",
    "Store",
    "StoreStats",
    "StoreSubscription",
    "selector",
    "track_operation",
]

T = TypeVar("T")
S = TypeVar("S")
R = TypeVar("R")
Ts = TypeVarTuple("Ts")


class _Missing(enum.Enum):
    MISSING = enum.auto()


_MISSING = _Missing.MISSING


def _is_or_eq(a: object, b: object) -> bool:
    return a is b or bool(a == b)


# --- AsyncOperation -------------------------------------------------------------------------


class OpStatus(enum.Enum):
    """Where an :class:`AsyncOperation` is in its life.

    Attributes:
        IDLE: not started.
        LOADING: running (``PENDING`` is an alias of the same member).
        SUCCESS: finished with a value.
        ERROR: finished with an exception.
    """

    IDLE = "idle"
    LOADING = "loading"
    PENDING = "loading"  # alias: AsyncOperation.pending() builds a LOADING operation
    SUCCESS = "success"
    ERROR = "error"


@final
@attrs.frozen
class AsyncOperation(Generic[T]):
    """An immutable snapshot of one asynchronous operation: the Zustand ``AsyncOperation``.

    Build one with the constructors :meth:`idle`, :meth:`pending`, :meth:`succeeded`,
    :meth:`failed` (or :meth:`from_call`); test it with :attr:`is_idle`, :attr:`is_loading`,
    :attr:`is_success`, :attr:`is_error`.

    ``value`` is the operation's value when it succeeded.  While loading or after a failure it
    may carry the *previous* value (stale-while-revalidate: ``pending(previous=...)``,
    ``failed(error, previous=...)``); it is ``None`` when there is none.  ``error`` is set only
    when the operation failed.

    Raises:
        TypeError: ``status`` is not an :class:`OpStatus`, or ``error`` is not an
            :class:`Exception` when the status is ERROR.
        ValueError: the fields contradict the status (an error on a non-ERROR operation, a
            value on an IDLE one).
    """

    status: OpStatus
    value: T | None = None
    error: Exception | None = None

    def __attrs_post_init__(self) -> None:
        status: object = self.status
        if not isinstance(status, OpStatus):
            msg = f"status must be an OpStatus, got {self.status!r}"
            raise TypeError(msg)
        if self.status is OpStatus.ERROR:
            if not isinstance(self.error, Exception):
                msg = f"error must be an Exception instance, got {self.error!r}"
                raise TypeError(msg)
        elif self.error is not None:
            msg = f"error must be None unless status is ERROR, got {self.error!r}"
            raise ValueError(msg)
        if self.status is OpStatus.IDLE and self.value is not None:
            msg = f"value must be None when status is IDLE, got {self.value!r}"
            raise ValueError(msg)

    @classmethod
    def idle(cls) -> AsyncOperation[T]:
        """An operation that has not started."""
        return cls(OpStatus.IDLE)

    @classmethod
    def pending(cls, *, previous: T | None = None) -> AsyncOperation[T]:
        """A running operation; ``previous`` keeps the last value visible while it reloads."""
        return cls(OpStatus.LOADING, previous)

    @classmethod
    def succeeded(cls, value: T) -> AsyncOperation[T]:
        """An operation that finished with ``value``."""
        return cls(OpStatus.SUCCESS, value)

    @classmethod
    def failed(cls, error: Exception, *, previous: T | None = None) -> AsyncOperation[T]:
        """An operation that raised ``error`` (an :class:`Exception`, never a ``Cancelled``).

        Raises:
            TypeError: ``error`` is not an :class:`Exception` instance.
        """
        return cls(OpStatus.ERROR, previous, error)

    @classmethod
    async def from_call(cls, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> AsyncOperation[T]:
        """Await ``fn(*args)``; return :meth:`succeeded` with its value or :meth:`failed`.

        Only :class:`Exception` is captured: ``trio.Cancelled``, ``KeyboardInterrupt`` and
        other ``BaseException`` propagate.

        Cancellation:
            Cancelling the caller cancels ``fn`` and raises :class:`trio.Cancelled`.

        Checkpoints:
            Always checkpoints (before calling ``fn``).
        """
        await trio.lowlevel.checkpoint()
        try:
            value = await fn(*args)
        except Exception as exc:
            return cls.failed(exc)
        return cls.succeeded(value)

    @property
    def is_idle(self) -> bool:
        """``status is OpStatus.IDLE``."""
        return self.status is OpStatus.IDLE

    @property
    def is_loading(self) -> bool:
        """``status is OpStatus.LOADING``."""
        return self.status is OpStatus.LOADING

    @property
    def is_success(self) -> bool:
        """``status is OpStatus.SUCCESS``."""
        return self.status is OpStatus.SUCCESS

    @property
    def is_error(self) -> bool:
        """``status is OpStatus.ERROR``."""
        return self.status is OpStatus.ERROR


# --- Store ----------------------------------------------------------------------------------


@final
@attrs.frozen
class StoreStats:
    """A snapshot of a :class:`Store`.

    Attributes:
        version: number of changes so far (``set``/``update`` calls that changed the state).
        unchanged: ``set``/``update`` calls skipped because the new state equalled the old one.
        subscribers: open subscriptions.
        closed: whether :meth:`Store.close` was called.
    """

    version: int
    unchanged: int
    subscribers: int
    closed: bool


@final
@attrs.define(eq=False)
class Store(Generic[S]):
    """An observable state holder: the Zustand store, the Trio way.

    ::

        store = Store(Counter(n=0))
        store.set(Counter(n=1))
        store.update(lambda c: attrs.evolve(c, n=c.n + 1))
        async with store.subscribe() as states:
            async for state in states:
                ...

    ``set``/``update`` are synchronous, O(1) plus one wake-up per *waiting* subscriber, and
    never block.  Subscribers have latest-value semantics: each one holds no buffer, wakes
    when the state changes and reads the state that is current at that moment.  A slow
    subscriber therefore skips intermediate states, but it never sees them out of order and it
    always ends up seeing the latest.

    A ``set`` of a state equal to the current one (``new is old or new == old``, or the
    ``equal`` you pass) changes nothing: the current object is kept, subscribers are not woken,
    and :attr:`StoreStats.unchanged` counts it.

    Args:
        initial: the first state.
        equal: decides whether a new state equals the current one; default identity or ``==``.
            Pass ``operator.is_`` for identity only.

    Raises:
        TypeError: ``equal`` is not callable.
    """

    _state: S = attrs.field(alias="initial")
    _equal: Callable[[S, S], bool] = attrs.field(default=operator.eq, kw_only=True)
    _version: int = attrs.field(default=0, init=False)
    _unchanged: int = attrs.field(default=0, init=False)
    _subscribers: int = attrs.field(default=0, init=False)
    _closed: bool = attrs.field(default=False, init=False)
    _lot: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot, init=False)

    def __attrs_post_init__(self) -> None:
        check_callable("equal", self._equal)

    @property
    def state(self) -> S:
        """The current state."""
        return self._state

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def set(self, new_state: S) -> bool:
        """Replace the state and wake the subscribers, unless ``new_state`` equals it.

        Returns:
            ``True`` if the state changed, ``False`` if it was equal and left alone.

        Raises:
            trio.ClosedResourceError: the store is closed.

        Checkpoints:
            Not a checkpoint; never blocks.
        """
        if self._closed:
            msg = "store is closed"
            raise trio.ClosedResourceError(msg)
        old = self._state
        if new_state is old or self._equal(new_state, old):
            self._unchanged += 1
            return False
        self._state = new_state
        self._version += 1
        if self._lot:  # unpark_all() allocates even when nobody waits
            self._lot.unpark_all()
        return True

    def update(self, fn: Callable[[S, *Ts], S], *args: *Ts) -> S:
        """Set the state to ``fn(state, *args)`` and return the store's state afterwards.

        Raises:
            trio.ClosedResourceError: the store is closed.
            Exception: whatever ``fn`` raises (the state is then unchanged).

        Checkpoints:
            Not a checkpoint; never blocks.
        """
        if self._closed:
            msg = "store is closed"
            raise trio.ClosedResourceError(msg)
        self.set(fn(self._state, *args))
        return self._state

    def subscribe(self, *, initial: bool = True) -> StoreSubscription[S, S]:
        """Subscribe to the states, latest-value style.

        Use it as ``async with store.subscribe() as states: async for state in states: ...``
        (``with`` works too); leaving the block unsubscribes.

        Args:
            initial: yield the current state first (default); with ``False`` the first item
                is the next change.

        Returns:
            A :class:`StoreSubscription`: an async iterator of states.  Iteration ends after
            the latest state once the store is closed.

        Raises:
            trio.ClosedResourceError: the store is closed.
        """
        return self._subscription(None, initial=initial, equal=None)

    def select(
        self,
        fn: Callable[[S], R],
        *,
        initial: bool = True,
        equal: Callable[[R, R], bool] = _is_or_eq,
    ) -> StoreSubscription[S, R]:
        """Subscribe to ``fn(state)``, yielding only when the derived value changes.

        Args:
            fn: derives a value from a state (a :func:`selector` memoizes it across calls).
            initial: yield the current derived value first (default).  With ``False``, ``fn``
                runs once now and the first item is the first derived value that differs.
            equal: when two derived values count as the same; default identity or ``==``.

        Returns:
            A :class:`StoreSubscription` of derived values.

        Raises:
            TypeError: ``fn`` or ``equal`` is not callable.
            trio.ClosedResourceError: the store is closed.
        """
        check_callable("fn", fn)
        check_callable("equal", equal)
        return self._subscription(fn, initial=initial, equal=equal)

    def _subscription(
        self,
        fn: Callable[[S], R] | None,
        *,
        initial: bool,
        equal: Callable[[R, R], bool] | None,
    ) -> StoreSubscription[S, R]:
        if self._closed:
            msg = "store is closed"
            raise trio.ClosedResourceError(msg)
        last: R | _Missing = _MISSING
        if fn is not None and not initial:
            last = fn(self._state)  # later values are compared with the current one
        self._subscribers += 1
        seen = self._version - 1 if initial else self._version
        return StoreSubscription(self, fn, equal, seen, last)

    def close(self) -> None:
        """Close the store: ``set`` raises from now on; subscriptions end after the latest state.

        Idempotent.  Not a checkpoint.
        """
        self._closed = True
        self._lot.unpark_all()

    @property
    def stats(self) -> StoreStats:
        """A :class:`StoreStats` snapshot (sync; not a checkpoint)."""
        return StoreStats(self._version, self._unchanged, self._subscribers, self._closed)


@final
@attrs.define(eq=False)
class StoreSubscription(Generic[S, R]):
    """An async iterator over a :class:`Store`'s latest states (or derived values).

    Made by :meth:`Store.subscribe` and :meth:`Store.select`; not constructed directly.
    It holds no buffer: it remembers the version it has seen and reads the store when it wakes.

    Closing it (``close()``, ``aclose()``, or leaving a ``with``/``async with`` block)
    unsubscribes; iterating afterwards raises :class:`trio.ClosedResourceError`, and so does a
    ``__anext__`` that another task is blocked in.
    """

    _store: Store[S]
    _fn: Callable[[S], R] | None
    _equal: Callable[[R, R], bool] | None
    _seen: int
    _last: R | _Missing
    _skipped: int = attrs.field(default=0, init=False)
    _closed: bool = attrs.field(default=False, init=False)

    @property
    def skipped(self) -> int:
        """How many state versions this subscriber never saw (latest-value semantics)."""
        return self._skipped

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> R:
        """Wait until there is a state newer than the last one returned, and return it.

        Raises:
            StopAsyncIteration: the store is closed and its latest state was already returned.
            trio.ClosedResourceError: this subscription is closed.

        Cancellation:
            Either a value is returned, or :class:`trio.Cancelled` is raised and the
            subscription is unchanged (the next call returns the latest state).

        Checkpoints:
            Always a checkpoint.
        """
        if self._ready():
            await trio.lowlevel.checkpoint()
        else:
            await self._store._lot.park()
        while True:
            if self._ready():
                value = self._take()
                if not isinstance(value, _Missing):
                    return value
                continue  # the derived value did not change: check again before parking
            await self._store._lot.park()

    def _ready(self) -> bool:
        store = self._store
        return self._closed or store._closed or store._version != self._seen

    def _take(self) -> R | _Missing:
        if self._closed:
            msg = "subscription is closed"
            raise trio.ClosedResourceError(msg)
        store = self._store
        if store._version == self._seen:
            self._unsubscribe()
            raise StopAsyncIteration
        self._skipped += max(0, store._version - self._seen - 1)
        self._seen = store._version
        if self._fn is None:
            derived: R = store._state  # type: ignore[assignment]  # S is R for subscribe()
            return derived
        derived = self._fn(store._state)
        if (
            not isinstance(self._last, _Missing)
            and self._equal is not None
            and self._equal(derived, self._last)
        ):
            return _MISSING
        self._last = derived
        return derived

    def _unsubscribe(self) -> None:
        if not self._closed:
            self._closed = True
            self._store._subscribers -= 1

    def close(self) -> None:
        """Unsubscribe.  Idempotent; not a checkpoint."""
        if not self._closed:
            self._unsubscribe()
            self._store._lot.unpark_all()

    async def aclose(self) -> None:
        """Unsubscribe, then checkpoint (as trio's ``aclose`` methods do)."""
        self.close()
        await trio.lowlevel.checkpoint()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def track_operation(
    store: Store[AsyncOperation[T]],
    fn: Callable[[*Ts], Awaitable[T]],
    *args: *Ts,
) -> AsyncOperation[T]:
    """Run ``await fn(*args)`` while ``store`` shows its progress as an :class:`AsyncOperation`.

    The store goes to ``pending(previous=<its current value>)``, then to ``succeeded(value)``
    or ``failed(error, previous=...)``.  An :class:`Exception` from ``fn`` is captured in the
    state, not raised.

    Returns:
        The final operation (also the store's state).

    Raises:
        trio.ClosedResourceError: the store is closed.

    Cancellation:
        :class:`trio.Cancelled` (and any other ``BaseException``) propagates; the store is put
        back to the state it had before, unless something else changed it meanwhile.

    Checkpoints:
        Always checkpoints, before the store changes.
    """
    await trio.lowlevel.checkpoint()
    before = store.state
    pending: AsyncOperation[T] = AsyncOperation.pending(previous=before.value)
    store.set(pending)
    try:
        value = await fn(*args)
    except Exception as exc:
        result: AsyncOperation[T] = AsyncOperation.failed(exc, previous=before.value)
    except BaseException:
        if store.state is pending and not store.closed:
            store.set(before)
        raise
    else:
        result = AsyncOperation.succeeded(value)
    store.set(result)
    return store.state


# --- selector -------------------------------------------------------------------------------


@final
@attrs.define(eq=False)
class Selector(Generic[S, R]):
    """A memoized ``fn(state)``: it recomputes only when its input changes.

    Made by :func:`selector`.  The input counts as unchanged when it is the same object as the
    last one or equal to it (or by the ``equal`` given to :func:`selector`).

    Attributes:
        recomputations: how many times ``fn`` ran.
    """

    _fn: Callable[[S], R]
    _equal: Callable[[S, S], bool]
    _input: S | _Missing = attrs.field(default=_MISSING, init=False)
    _output: R | _Missing = attrs.field(default=_MISSING, init=False)
    recomputations: int = attrs.field(default=0, init=False)

    def __call__(self, state: S) -> R:
        """``fn(state)``, recomputed only when ``state`` differs from the last input."""
        if (
            self._input is not _MISSING
            and not isinstance(self._output, _Missing)
            and self._equal(state, self._input)
        ):
            return self._output
        output = self._fn(state)
        self._input = state
        self._output = output
        self.recomputations += 1
        return output

    def clear(self) -> None:
        """Forget the cached input and output."""
        self._input = _MISSING
        self._output = _MISSING


def selector(
    fn: Callable[[S], R], /, *, equal: Callable[[S, S], bool] = _is_or_eq
) -> Selector[S, R]:
    """Memoize a one-argument derivation of a state (also usable as a decorator).

    ::

        @selector
        def total(cart: Cart) -> float:
            return sum(item.price for item in cart.items)

        total(store.state)            # computed
        total(store.state)            # cached: same input
        async with store.select(total) as totals: ...

    Args:
        fn: the derivation.
        equal: when the new input counts as the last one; default identity or ``==``.  Pass
            ``operator.is_`` to recompute on every new object.

    Returns:
        A :class:`Selector` (callable, with a ``recomputations`` counter and ``clear()``).

    Raises:
        TypeError: ``fn`` or ``equal`` is not callable.
    """
    check_callable("fn", fn)
    check_callable("equal", equal)
    return Selector(fn, equal)
