"""When the WebSocket client reconnects, how long it waits, and when it gives up.

:class:`ReconnectPolicy` holds a :class:`trio_orch.Backoff` (the schedule behind
:class:`trio_orch.RetryPolicy` too) for the delays between attempts, and adds what only a
long-lived connection needs: how long a connection must stay up before the backoff resets,
which handshake statuses are worth retrying, and which close codes end the client for good.
"""

from __future__ import annotations

import enum
import itertools
import typing
from typing import TYPE_CHECKING, Any

import attrs

from trio_orch._validate import int_validator, number_validator
from trio_orch.primitives import Backoff, Jitter

if TYPE_CHECKING:
    import random
    from collections.abc import Iterator


class ConnectionState(enum.Enum):
    """The state of a :class:`trio_orch.WebSocketClient`.

    Attributes:
        CONNECTING: the first connection is being made (including backoff between attempts);
            a client enters it from CLOSED as its ``async with`` block is entered.
        OPEN: connected; sends go out at once.
        RECONNECTING: an open connection was lost; a new one is being made.
        CLOSED: the client is closed, by the user or because it gave up; final once
            reached from another state.
    """

    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


def _check_codes(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    del inst
    if not isinstance(value, frozenset) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        msg = f"{attr.name} must be a frozenset of ints, got {value!r}"
        raise TypeError(msg)


def _to_codes(value: object) -> object:
    if isinstance(value, set | tuple | list):
        return frozenset(value)
    return value


@typing.final
@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """How :func:`trio_orch.open_ws_client` reconnects.

    The first attempt is made at once, and so is the first attempt after a *healthy*
    connection (one that stayed open for ``healthy_after`` seconds) is lost.  Every further
    attempt waits the next delay of :attr:`backoff`, the :class:`trio_orch.Backoff` built
    from ``initial_delay``, ``max_delay``, ``multiplier`` and ``jitter`` (the one backoff
    schedule of trio_orch, the same as :class:`trio_orch.RetryPolicy`'s).  A connection
    that opens and dies before ``healthy_after`` counts as a failed attempt: it neither
    resets the backoff nor the attempt count, so a server that accepts and closes at once
    cannot drive a tight loop.

    Args:
        max_attempts: consecutive attempts without a healthy connection before the client
            gives up and raises :class:`trio_orch.ConnectionLost`; ``None`` retries forever.
        initial_delay: the base delay before the second attempt, in seconds.
        max_delay: the cap of every delay (an ``initial_delay`` above it is not an error:
            every delay is then ``max_delay``).
        multiplier: the base delay grows by this factor per attempt.
        jitter: the :class:`trio_orch.Jitter` applied to each delay (default ``FULL``).
        healthy_after: seconds a connection must stay open before the backoff resets.
        retry_statuses: handshake HTTP statuses worth retrying; every other refusal is
            fatal (:class:`trio_orch.HandshakeRejected`).
        fatal_close_codes: close codes from the server that end the client
            (:class:`trio_orch.FatalCloseCode`); other closes reconnect.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: ``max_attempts < 1``, a negative or infinite time, or
            ``multiplier < 1`` (the four backoff arguments are checked by
            :class:`trio_orch.Backoff`, with its messages).
    """

    max_attempts: int | None = attrs.field(
        default=10, validator=int_validator(minimum=1, allow_none=True)
    )
    # Checked by the Backoff built from them (__attrs_post_init__), not here.
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: Jitter = Jitter.FULL
    healthy_after: float = attrs.field(default=5.0, validator=number_validator())
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({500, 502, 503, 504}), converter=_to_codes, validator=_check_codes
    )
    fatal_close_codes: frozenset[int] = attrs.field(
        default=frozenset({1002, 1003, 1008}), converter=_to_codes, validator=_check_codes
    )
    #: The :class:`trio_orch.Backoff` schedule built from the four delay fields.
    backoff: Backoff = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        backoff = Backoff(
            initial_delay=self.initial_delay,
            max_delay=self.max_delay,
            multiplier=self.multiplier,
            jitter=self.jitter,
        )
        object.__setattr__(self, "backoff", backoff)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the waits before the 2nd, 3rd, ... attempt of a series.

        ``max_attempts - 1`` of them (endless when ``max_attempts`` is ``None``): the
        first delays of :attr:`backoff`'s schedule.

        Args:
            rng: the random source for the jitter (a seeded one gives a reproducible
                schedule); ``None`` uses the ``random`` module's generator.
        """
        delays = self.backoff.delays(rng)
        if self.max_attempts is None:
            return delays
        return itertools.islice(delays, self.max_attempts - 1)

    def should_retry_status(self, status_code: int) -> bool:
        """True if a handshake refused with ``status_code`` is worth another attempt."""
        return status_code in self.retry_statuses

    def is_fatal_close(self, code: int | None) -> bool:
        """True if a close with ``code`` from the server ends the client."""
        return code is not None and code in self.fatal_close_codes
