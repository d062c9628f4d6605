"""argparse ``type=`` converters shared by every subcommand, with one wording."""

from __future__ import annotations

import argparse
import math

__all__ = ["count", "positive_seconds", "seconds"]


def count(text: str) -> int:
    """An integer >= 1 (``-j 8``, ``--concurrency 50``, ``--repeat 3``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"must be an integer >= 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def seconds(text: str, *, allow_zero: bool = True) -> float:
    """A finite number of seconds, >= 0 (or > 0 without ``allow_zero``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value >= 0 if allow_zero else value > 0)):
        rule = ">= 0" if allow_zero else "> 0"
        msg = f"must be a number of seconds {rule}, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 (a lease, a heartbeat interval)."""
    return seconds(text, allow_zero=False)
