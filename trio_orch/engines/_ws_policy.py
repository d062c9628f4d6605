"""When the WebSocket client reconnects, how long it waits, and when it gives up.

:class:`ReconnectPolicy` reuses :class:`trio_orch.RetryPolicy`'s backoff and jitter for the
delays between attempts, and adds what only a long-lived connection needs: how long a
connection must stay up before the backoff resets, which handshake statuses are worth
retrying, and which close codes end the client for good.
"""

from __future__ import annotations

import enum
import sys
import typing
from typing import TYPE_CHECKING, Any

import attrs

from trio_orch._validate import instance_validator, int_validator, number_validator
from trio_orch.primitives import Jitter, RetryPolicy

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
    attempt waits the next delay of the :class:`trio_orch.RetryPolicy` backoff built from
    ``initial_delay``, ``max_delay``, ``multiplier`` and ``jitter``.  A connection that opens
    and dies before ``healthy_after`` counts as a failed attempt: it neither resets the
    backoff nor the attempt count, so a server that accepts and closes at once cannot drive
    a tight loop.

    Args:
        max_attempts: consecutive attempts without a healthy connection before the client
            gives up and raises :class:`trio_orch.ConnectionLost`; ``None`` retries forever.
        initial_delay: the base delay before the second attempt, in seconds.
        max_delay: the cap on the base delay.
        multiplier: the base delay grows by this factor per attempt.
        jitter: the :class:`trio_orch.Jitter` applied to each delay (default ``FULL``).
        healthy_after: seconds a connection must stay open before the backoff resets.
        retry_statuses: handshake HTTP statuses worth retrying; every other refusal is
            fatal (:class:`trio_orch.HandshakeRejected`).
        fatal_close_codes: close codes from the server that end the client
            (:class:`trio_orch.FatalCloseCode`); other closes reconnect.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: ``max_attempts < 1``, a negative or infinite time, ``multiplier < 1``,
            or ``max_delay < initial_delay``.
    """

    max_attempts: int | None = attrs.field(
        default=10, validator=int_validator(minimum=1, allow_none=True)
    )
    initial_delay: float = attrs.field(default=1.0, validator=number_validator())
    max_delay: float = attrs.field(default=30.0, validator=number_validator())
    multiplier: float = attrs.field(default=2.0, validator=number_validator())
    jitter: Jitter = attrs.field(
        default=Jitter.FULL, validator=instance_validator(Jitter, "a Jitter")
    )
    healthy_after: float = attrs.field(default=5.0, validator=number_validator())
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({500, 502, 503, 504}), converter=_to_codes, validator=_check_codes
    )
    fatal_close_codes: frozenset[int] = attrs.field(
        default=frozenset({1002, 1003, 1008}), converter=_to_codes, validator=_check_codes
    )

    def __attrs_post_init__(self) -> None:
        if self.multiplier < 1:
            msg = f"multiplier must be >= 1, got {self.multiplier!r}"
            raise ValueError(msg)
        if self.max_delay < self.initial_delay:
            msg = (
                f"max_delay must be >= initial_delay ({self.initial_delay!r}), "
                f"got {self.max_delay!r}"
            )
            raise ValueError(msg)

    def backoff(self) -> RetryPolicy:
        """The :class:`trio_orch.RetryPolicy` whose ``delays()`` are this policy's waits.

        Its ``max_attempts`` is this policy's (or ``sys.maxsize`` when unbounded).
        """
        return RetryPolicy(
            max_attempts=sys.maxsize if self.max_attempts is None else self.max_attempts,
            initial_delay=self.initial_delay,
            max_delay=self.max_delay,
            multiplier=self.multiplier,
            jitter=self.jitter,
        )

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the waits before the 2nd, 3rd, ... attempt of a series.

        ``max_attempts - 1`` of them (endless when ``max_attempts`` is ``None``).

        Args:
            rng: the random source for the jitter (a seeded one gives a reproducible
                schedule); ``None`` uses the ``random`` module's generator.
        """
        return self.backoff().delays(rng)

    def should_retry_status(self, status_code: int) -> bool:
        """True if a handshake refused with ``status_code`` is worth another attempt."""
        return status_code in self.retry_statuses

    def is_fatal_close(self, code: int | None) -> bool:
        """True if a close with ``code`` from the server ends the client."""
        return code is not None and code in self.fatal_close_codes
