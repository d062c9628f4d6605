"""trio_orch._validate: one wording for every argument error, pinned exactly."""

from __future__ import annotations

import math
import re

import attrs
import pytest

from trio_orch._validate import (
    callable_validator,
    check_callable,
    check_instance,
    check_int,
    check_nonempty_str,
    check_number,
    instance_validator,
    int_validator,
    nonempty_str_validator,
    number_validator,
)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: check_int("count", "x", minimum=1), TypeError, "count must be an int, got 'x'"),
        (lambda: check_int("count", True, minimum=1), TypeError, "count must be an int, got True"),
        (lambda: check_int("count", 0, minimum=1), ValueError, "count must be >= 1, got 0"),
        (
            lambda: check_int("count", "x", minimum=1, allow_none=True),
            TypeError,
            "count must be an int or None, got 'x'",
        ),
        (lambda: check_number("delay", None), TypeError, "delay must be a number, got None"),
        (
            lambda: check_number("delay", math.inf),
            ValueError,
            "delay must be finite and >= 0, got inf",
        ),
        (
            lambda: check_number("timeout", math.nan, strict=True, allow_inf=True),
            ValueError,
            "timeout must be > 0, got nan",
        ),
        (lambda: check_callable("fn", 3), TypeError, "fn must be callable, got 3"),
        (
            lambda: check_instance("drop", "x", int, "an int", allow_none=True),
            TypeError,
            "drop must be an int or None, got 'x'",
        ),
        (lambda: check_nonempty_str("name", 3), TypeError, "name must be a str, got 3"),
        (lambda: check_nonempty_str("name", ""), ValueError, "name must not be empty, got ''"),
    ],
)
def test_messages(call: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=rf"^{re.escape(message)}$"):
        call()  # type: ignore[operator]


def test_good_values_come_back() -> None:
    assert check_int("n", 3, minimum=1) == 3
    assert check_int("n", None, minimum=1, allow_none=True) is None
    assert check_number("x", 2) == 2.0
    assert isinstance(check_number("x", 2), float)
    assert check_number("x", None, allow_none=True) is None
    assert check_number("x", math.inf, allow_inf=True) == math.inf
    assert check_instance("x", 3, int, "an int") == 3
    assert check_instance("x", None, int, "an int", allow_none=True) is None
    assert check_nonempty_str("x", "a") == "a"
    check_callable("fn", None, allow_none=True)


@attrs.define
class _Spec:
    count: int = attrs.field(validator=int_validator(minimum=1))
    _delay: float = attrs.field(default=0.0, alias="delay", validator=number_validator())
    fn: object = attrs.field(default=print, validator=callable_validator())
    kind: object = attrs.field(default=1, validator=instance_validator(int, "an int"))
    name: str = attrs.field(default="x", validator=nonempty_str_validator())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"count": 0}, ValueError, "count must be >= 1, got 0"),
        ({"delay": -1}, ValueError, "delay must be finite and >= 0, got -1"),  # the alias
        ({"fn": 3}, TypeError, "fn must be callable, got 3"),
        ({"kind": "k"}, TypeError, "kind must be an int, got 'k'"),
        ({"name": ""}, ValueError, "name must not be empty, got ''"),
    ],
)
def test_attrs_validators_name_the_argument(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"^{re.escape(message)}$"):
        _Spec(**{"count": 1, **kwargs})  # type: ignore[arg-type]
