"""Argument checks shared by every layer, with one wording for every message.

Constructors and entry points call these once; nothing here belongs on a per-item path.
Each ``check_*`` raises ``TypeError`` for a value of the wrong type and ``ValueError`` for
one out of range, naming the argument and the bad value::

    count must be an int, got 'x'
    count must be >= 1, got 0
    delay must be a number, got None
    delay must be finite and >= 0, got inf
    timeout must be > 0, got nan          (allow_inf=True: inf passes, NaN never does)
    fn must be callable, got 3
    name must not be empty, got ''
    drop must be a DropPolicy, got 'x'

The ``*_validator`` adapters wrap them for ``attrs.field(validator=...)`` and name the
argument: its ``__init__`` alias (``max_concurrent`` for a field ``_max`` with that alias).  This module sits below every layer (like ``_exceptions``) so that they all
share it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

if TYPE_CHECKING:
    from collections.abc import Callable

    import attrs

T = TypeVar("T")


def _or_none(kind: str, allow_none: bool) -> str:
    return f"{kind} or None" if allow_none else kind


@overload
def check_int(
    name: str, value: object, *, minimum: int, allow_none: Literal[False] = ...
) -> int: ...
@overload
def check_int(name: str, value: object, *, minimum: int, allow_none: bool) -> int | None: ...
def check_int(name: str, value: object, *, minimum: int, allow_none: bool = False) -> int | None:
    """Return ``value`` if it is an int (not a bool) ``>= minimum`` (or None when allowed).

    Raises:
        TypeError: not an int (bools are rejected).
        ValueError: below ``minimum``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{name} must be {_or_none('an int', allow_none)}, got {value!r}"
        raise TypeError(msg)
    if value < minimum:
        msg = f"{name} must be >= {minimum}, got {value!r}"
        raise ValueError(msg)
    return value


@overload
def check_number(
    name: str,
    value: object,
    *,
    minimum: float = ...,
    strict: bool = ...,
    allow_none: Literal[False] = ...,
    allow_inf: bool = ...,
) -> float: ...
@overload
def check_number(
    name: str,
    value: object,
    *,
    minimum: float = ...,
    strict: bool = ...,
    allow_none: bool,
    allow_inf: bool = ...,
) -> float | None: ...
def check_number(
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    strict: bool = False,
    allow_none: bool = False,
    allow_inf: bool = False,
) -> float | None:
    """Return ``float(value)`` if it is a number ``>= minimum`` (``> minimum`` when ``strict``).

    NaN is always rejected; infinity only unless ``allow_inf``.

    Raises:
        TypeError: not an int or a float (bools are rejected), nor None when allowed.
        ValueError: out of range, NaN, or infinite when that is not allowed.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name} must be {_or_none('a number', allow_none)}, got {value!r}"
        raise TypeError(msg)
    in_range = value > minimum if strict else value >= minimum  # False for NaN
    if not (in_range and (allow_inf or math.isfinite(value))):
        rule = f"{'>' if strict else '>='} {minimum:g}"
        msg = f"{name} must be {rule if allow_inf else 'finite and ' + rule}, got {value!r}"
        raise ValueError(msg)
    return float(value)


def check_callable(name: str, value: object, *, allow_none: bool = False) -> None:
    """Raise ``TypeError`` unless ``value`` is callable (or None when allowed)."""
    if value is None and allow_none:
        return
    if not callable(value):
        msg = f"{name} must be {_or_none('callable', allow_none)}, got {value!r}"
        raise TypeError(msg)


@overload
def check_instance(
    name: str, value: object, cls: type[T], what: str, *, allow_none: Literal[False] = ...
) -> T: ...
@overload
def check_instance(
    name: str, value: object, cls: type[T], what: str, *, allow_none: bool
) -> T | None: ...
def check_instance(
    name: str, value: object, cls: type[T], what: str, *, allow_none: bool = False
) -> T | None:
    """Return ``value`` if it is a ``cls`` (or None when allowed), else raise ``TypeError``.

    ``what`` is how the message names the type, e.g. ``"a DropPolicy"``.
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, cls):
        msg = f"{name} must be {_or_none(what, allow_none)}, got {value!r}"
        raise TypeError(msg)
    return value


def check_nonempty_str(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty str.

    Raises:
        TypeError: not a str.
        ValueError: the empty string.
    """
    if not isinstance(value, str):
        msg = f"{name} must be a str, got {value!r}"
        raise TypeError(msg)
    if not value:
        msg = f"{name} must not be empty, got {value!r}"
        raise ValueError(msg)
    return value


# --- attrs adapters -------------------------------------------------------------------------


def _arg(attribute: attrs.Attribute[Any]) -> str:
    """The name the user passed the attribute under (its ``__init__`` alias)."""
    return attribute.alias or attribute.name


def int_validator(
    *, minimum: int, allow_none: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator running :func:`check_int` on the attribute."""

    def validate(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_int(_arg(attribute), value, minimum=minimum, allow_none=allow_none)

    return validate


def number_validator(
    *, minimum: float = 0.0, strict: bool = False, allow_none: bool = False, allow_inf: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator running :func:`check_number` on the attribute."""

    def validate(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_number(
            _arg(attribute),
            value,
            minimum=minimum,
            strict=strict,
            allow_none=allow_none,
            allow_inf=allow_inf,
        )

    return validate


def callable_validator(
    *, allow_none: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator running :func:`check_callable` on the attribute."""

    def validate(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_callable(_arg(attribute), value, allow_none=allow_none)

    return validate


def instance_validator(
    cls: type[Any], what: str, *, allow_none: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator running :func:`check_instance` on the attribute."""

    def validate(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_instance(_arg(attribute), value, cls, what, allow_none=allow_none)

    return validate


def nonempty_str_validator() -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator running :func:`check_nonempty_str` on the attribute."""

    def validate(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_nonempty_str(_arg(attribute), value)

    return validate
