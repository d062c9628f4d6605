"""The WebSocket client's wire format: JSON envelopes ``{"t": <type>, "data": <payload>}``.

:class:`Envelope` is what the client delivers; :class:`EnvelopeCodec` turns outgoing
``(t, data)`` pairs into JSON text and incoming text back into envelopes, structuring ``data``
with cattrs into the type registered for ``t``.  Decoding never raises for bad input: it
returns a :class:`DecodeFailure` that the client counts and logs.
"""

from __future__ import annotations

import enum
import json
import typing
from typing import Any

import attrs

from trio_orch._validate import check_nonempty_str

if typing.TYPE_CHECKING:
    import cattrs

# Built once: json.dumps with options builds a new JSONEncoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


@typing.final
@attrs.frozen
class Envelope:
    """One message of the WebSocket client: a type tag ``t`` and its payload ``data``.

    ``data`` is an instance of the type registered for ``t`` with
    :meth:`WebSocketClient.register <trio_orch.WebSocketClient.register>`, or the raw JSON value
    (``dict``, ``list``, ``str``, number, ``bool`` or ``None``) when ``t`` has no registered type.
    """

    t: str
    data: Any = None


class DecodeProblem(enum.Enum):
    """Why an incoming message could not become an :class:`Envelope`."""

    INVALID_JSON = "invalid_json"
    """The message is not valid JSON (or not UTF-8)."""
    MISSING_TYPE = "missing_type"
    """The JSON is not an object with a string ``"t"``."""
    STRUCTURE_ERROR = "structure_error"
    """``data`` does not structure into the type registered for ``t``."""


@typing.final
@attrs.frozen
class DecodeFailure:
    """An incoming message that was dropped, and why (``detail`` is for the log line)."""

    problem: DecodeProblem
    detail: str
    t: str | None = None


def _default_converter() -> cattrs.Converter:
    """cattrs' JSON preset converter (imported here: cattrs costs tens of ms to import)."""
    from cattrs.preconf.json import make_converter

    return make_converter()


@typing.final
@attrs.define(eq=False)
class EnvelopeCodec:
    """Encode and decode envelopes with one cattrs converter and a registry of payload types.

    Args:
        converter: the cattrs converter; the default is cattrs' JSON preset converter
            (``cattrs.preconf.json.make_converter()``), which handles attrs classes,
            dataclasses, builtins, enums and datetimes.
    """

    converter: cattrs.Converter = attrs.field(factory=_default_converter)
    _types: dict[str, Any] = attrs.field(factory=dict, init=False)

    def register(self, t: str, tp: Any) -> None:
        """Structure the ``data`` of incoming messages tagged ``t`` into ``tp``.

        Registering the same type again is a no-op.

        Raises:
            TypeError: if ``t`` is not a string.
            ValueError: if ``t`` is empty, or already registered to a different type.
        """
        check_nonempty_str("t", t)
        known = self._types.get(t)
        if known is not None and known != tp:
            msg = f"t {t!r} is already registered to {known!r}, got {tp!r}"
            raise ValueError(msg)
        self._types[t] = tp

    def registered(self, t: str) -> Any | None:
        """The type registered for ``t``, or ``None``."""
        return self._types.get(t)

    def encode(self, t: str, data: Any) -> str:
        """Return the JSON text of the envelope ``{"t": t, "data": unstructure(data)}``.

        Raises:
            TypeError: if ``t`` is not a string, or ``data`` does not serialise to JSON.
            ValueError: if ``t`` is empty, or ``data`` holds a value JSON cannot represent.
        """
        if type(t) is not str or not t:  # per message: check only a bad value
            check_nonempty_str("t", t)
        payload = data if data is None else self.converter.unstructure(data)
        return _ENCODER.encode({"t": t, "data": payload})

    def decode(self, message: str | bytes) -> Envelope | DecodeFailure:
        """Turn one incoming message into an :class:`Envelope`, or say why it cannot be one.

        A ``t`` without a registered type gives an envelope with the raw JSON ``data``.
        """
        try:
            obj = json.loads(message)
        except (ValueError, UnicodeDecodeError) as exc:
            return DecodeFailure(DecodeProblem.INVALID_JSON, str(exc))
        except RecursionError:  # e.g. "[[[[...": a peer must not be able to crash the reader
            return DecodeFailure(DecodeProblem.INVALID_JSON, "JSON nested too deeply")
        if not isinstance(obj, dict):
            return DecodeFailure(DecodeProblem.MISSING_TYPE, f"not a JSON object: {_clip(obj)}")
        t = obj.get("t")
        if not isinstance(t, str):
            return DecodeFailure(DecodeProblem.MISSING_TYPE, f"no string 't' in {_clip(obj)}")
        data = obj.get("data")
        tp = self._types.get(t)
        if tp is None:
            return Envelope(t, data)
        try:
            value = self.converter.structure(data, tp)
        except Exception as exc:  # cattrs raises many kinds (and groups) for bad data
            return DecodeFailure(DecodeProblem.STRUCTURE_ERROR, _describe(exc), t)
        return Envelope(t, value)


def _clip(obj: object, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(exc: Exception) -> str:
    if isinstance(exc, ExceptionGroup):
        leaves = "; ".join(_describe(e) for e in exc.exceptions if isinstance(e, Exception))
        return f"{exc.message}: {leaves}" if leaves else exc.message
    return f"{type(exc).__name__}: {exc}"
