"""Targets: ``">= 0.8x"``, ``">= 100k/s and >= 2x"``, ``"<= 2 µs"``, ``"~80"``: met or missed.

A target is one or more clauses joined by ``" and "``.  A clause is a comparison (``>=``,
``<=``, ``>``, ``<``, ``=`` or ``~``), a number with an optional ``k``/``M``/``G`` suffix,
and optional words.  A clause whose number is followed by ``x`` is on the ratio against the
baseline; any other is on the figure itself (the words after the number, a unit, are not
checked, except that a unit of time is converted to the figure's: ``"<= 50 µs"`` on a
figure in seconds).  ``~N`` means within 10 % of N.  A target that cannot be parsed, or a ratio
clause on a figure without a ratio, is neither met nor missed (None).
"""

from __future__ import annotations

import re
from typing import Final

_CLAUSE: Final = re.compile(
    r"^\s*(?P<op>>=|<=|>|<|=|~)\s*(?P<number>[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*"
    r"(?P<scale>[kMG](?![a-zA-Z]))?\s*(?P<rest>.*?)\s*$"
)
_SCALES: Final = {None: 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
_SECONDS: Final = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}
_WORD: Final = re.compile(r"^[^\s/]+")
#: ``~N``: within this share of N.
ABOUT: Final = 0.10


def _holds(op: str, actual: float, expected: float) -> bool:
    if op == ">=":
        return actual >= expected
    if op == "<=":
        return actual <= expected
    if op == ">":
        return actual > expected
    if op == "<":
        return actual < expected
    if op == "=":
        return actual == expected
    return abs(actual - expected) <= ABOUT * abs(expected)


def _in_unit(expected: float, words: str, unit: str) -> float:
    """``expected`` (followed by ``words``) in ``unit``, when both are units of time."""
    said = _WORD.match(words)
    mine = unit.partition("/")[0]
    if said is None or said[0] not in _SECONDS or mine not in _SECONDS:
        return expected
    return expected * _SECONDS[said[0]] / _SECONDS[mine]


def target_met(
    target: str | None, value: float, ratio: float | None, unit: str = ""
) -> bool | None:
    """Whether ``value`` (in ``unit``) and ``ratio`` meet ``target``; None if it cannot be told.

    A clause on the value in a unit of time (``"<= 50 µs"``) is converted to ``unit`` when
    that is one too (``"s"``, ``"ms"``, ``"µs/call"``...).
    """
    if not target:
        return None
    met = True
    for clause in target.split(" and "):
        match = _CLAUSE.match(clause)
        if match is None:
            return None
        expected = float(match["number"]) * _SCALES[match["scale"]]
        on_ratio = match["rest"].startswith("x") and not match["rest"][1:2].isalpha()
        if on_ratio:
            if ratio is None:
                return None
            actual = ratio
        else:
            actual = value
            expected = _in_unit(expected, match["rest"], unit)
        met = met and _holds(match["op"], actual, expected)
    return met
