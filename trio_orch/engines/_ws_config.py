"""The WebSocket client's options, typed and checked once: :class:`WebSocketConfig`.

:func:`trio_orch.open_ws_client` turns its keyword arguments into one frozen
:class:`WebSocketConfig`; the supervisor and the connections read their options from it and
from nowhere else.  Building it is where every argument error is raised, before any task
starts.  This module does not import trio-websocket, so it is cheap to import.
"""

from __future__ import annotations

import inspect
import random
import ssl
import typing
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs

from trio_orch._validate import (
    callable_validator,
    instance_validator,
    int_validator,
    number_validator,
)
from trio_orch.engines._ws_policy import ConnectionState, ReconnectPolicy
from trio_orch.primitives import DropPolicy

if typing.TYPE_CHECKING:
    import cattrs
    import trio

    from trio_orch.engines._ws_events import WebSocketEvent

__all__ = ["EventSink", "WebSocketConfig"]


class EventSink(typing.Protocol):
    """Where the client publishes its events: anything with ``emit(event)``, e.g. an ``EventBus``."""

    def emit(self, event: WebSocketEvent, /) -> object:
        """Deliver ``event`` without blocking."""


def _check_url(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    _parse_url(value)


def _check_sync_callback(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    callable_validator(allow_none=True)(_inst, attr, value)
    if inspect.iscoroutinefunction(value):
        msg = (
            f"{attr.name} must be a sync callable (it is called inline; "
            f"subscribe an async handler on a bus instead), got {value!r}"
        )
        raise TypeError(msg)


def _check_bus(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(getattr(value, "emit", None)):
        msg = f"{attr.name} must have an emit(event) method, got {value!r}"
        raise TypeError(msg)


def _check_converter(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        import cattrs  # lazily: only a client given its own converter pays for it here

        instance_validator(cattrs.Converter, "a cattrs.Converter", allow_none=True)(
            _inst, attr, value
        )


def _check_receive_drop(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    instance_validator(DropPolicy, "a DropPolicy")(_inst, attr, value)
    if value is DropPolicy.REJECT:
        msg = f"{attr.name} must be BLOCK, OLDEST or NEWEST, got {value!r}"
        raise ValueError(msg)


def _to_tuple(value: object) -> object:
    # A str or bytes is one value, not an iterable of them: leave it for the validator.
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return tuple(value)
    return value


def _check_subprotocols(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
        msg = f"{attr.name} must be an iterable of str, got {value!r}"
        raise TypeError(msg)


def _check_headers(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(v, bytes) for v in pair)
        for pair in value
    ):
        msg = f"{attr.name} must be an iterable of (bytes, bytes) pairs, got {value!r}"
        raise TypeError(msg)


@typing.final
@attrs.frozen(kw_only=True)
class WebSocketConfig:
    """Every option of one WebSocket client, checked when it is built.

    The fields are :func:`trio_orch.open_ws_client`'s keyword arguments (see there for what
    each one means), with ``reconnect`` already defaulted and the iterables made tuples;
    ``host``, ``port``, ``resource`` and ``secure`` are derived from ``url``.

    Raises:
        TypeError: an argument has the wrong type (the message names it and its value).
        ValueError: an argument is out of range: a URL that is not ``ws://``/``wss://`` with
            a host, a time that is not finite and > 0, a buffer below its minimum,
            ``receive_drop=REJECT``, ``send_buffer=0`` with ``send_drop=OLDEST``, or an
            ``ssl_context`` for a ``ws://`` URL.
    """

    url: str = attrs.field(validator=_check_url)
    reconnect: ReconnectPolicy = attrs.field(
        factory=ReconnectPolicy, validator=instance_validator(ReconnectPolicy, "a ReconnectPolicy")
    )
    heartbeat_interval: float | None = attrs.field(
        default=30.0, validator=number_validator(strict=True, allow_none=True)
    )
    heartbeat_timeout: float = attrs.field(default=10.0, validator=number_validator(strict=True))
    send_buffer: int = attrs.field(default=100, validator=int_validator(minimum=0))
    send_drop: DropPolicy = attrs.field(
        default=DropPolicy.BLOCK, validator=instance_validator(DropPolicy, "a DropPolicy")
    )
    receive_buffer: int = attrs.field(default=100, validator=int_validator(minimum=1))
    receive_drop: DropPolicy = attrs.field(default=DropPolicy.BLOCK, validator=_check_receive_drop)
    on_state_change: Callable[[ConnectionState], object] | None = attrs.field(
        default=None, validator=_check_sync_callback
    )
    bus: EventSink | None = attrs.field(default=None, validator=_check_bus)
    converter: cattrs.Converter | None = attrs.field(default=None, validator=_check_converter)
    connect_timeout: float = attrs.field(default=10.0, validator=number_validator(strict=True))
    close_timeout: float = attrs.field(default=5.0, validator=number_validator(strict=True))
    ssl_context: ssl.SSLContext | None = attrs.field(
        default=None,
        validator=instance_validator(ssl.SSLContext, "an ssl.SSLContext", allow_none=True),
    )
    subprotocols: tuple[str, ...] = attrs.field(
        default=(), converter=_to_tuple, validator=_check_subprotocols
    )
    extra_headers: tuple[tuple[bytes, bytes], ...] = attrs.field(
        default=(), converter=_to_tuple, validator=_check_headers
    )
    max_message_size: int = attrs.field(default=2**20, validator=int_validator(minimum=1))
    connect_stream: Callable[[], Awaitable[trio.abc.Stream]] | None = attrs.field(
        default=None, validator=callable_validator(allow_none=True)
    )
    rng: random.Random | None = attrs.field(
        default=None,
        validator=instance_validator(random.Random, "a random.Random", allow_none=True),
    )

    host: str = attrs.field(init=False)
    port: int = attrs.field(init=False)
    resource: str = attrs.field(init=False)
    secure: bool = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        host, port, resource, secure = _parse_url(self.url)
        if self.ssl_context is not None and not secure:
            msg = f"ssl_context is only for wss:// URLs, got {self.url!r}"
            raise ValueError(msg)
        if self.send_buffer == 0 and self.send_drop is DropPolicy.OLDEST:
            msg = "send_buffer must be >= 1 with send_drop=DropPolicy.OLDEST, got 0"
            raise ValueError(msg)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "secure", secure)

    @property
    def host_header(self) -> str:
        """The handshake's ``Host`` header: the host, and the port unless it is 80 or 443."""
        if self.port in (80, 443):
            return self.host
        return f"{self.host}:{self.port}"


def _parse_url(url: object) -> tuple[str, int, str, bool]:
    """Split a ``ws://`` or ``wss://`` URL into host, port, resource and whether it is TLS."""
    if not isinstance(url, str):
        msg = f"url must be a str, got {url!r}"
        raise TypeError(msg)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        msg = f"url must be a ws:// or wss:// URL with a host, got {url!r}"
        raise ValueError(msg)
    secure = parts.scheme == "wss"
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        msg = f"url must be a ws:// or wss:// URL with a host, got {url!r}"
        raise ValueError(msg) from None
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    return parts.hostname, port, resource, secure
