"""Number formatting shared by the terminal table and the Markdown rendering."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trio_orch.bench._compare import Change
    from trio_orch.bench._results import FigureResult, Spread

_SECONDS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))


def number(value: float) -> str:
    """``value`` in 3-4 significant digits, with ``k``/``M``/``G`` above 10,000."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    size = abs(value)
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if size >= 10 * scale or (suffix != "k" and size >= scale):
            return f"{value / scale:.3g}{suffix}"
    if size >= 100:
        return f"{value:,.0f}"
    if size == 0:
        return "0"
    return f"{value:.3g}"


def _seconds_scale(value: float) -> tuple[str, float]:
    for name, scale in _SECONDS:
        if abs(value) >= scale:
            return name, scale
    return _SECONDS[-1]


def quantity(value: float, unit: str) -> str:
    """``value`` with ``unit``; seconds below 1 s are shown in ms, µs or ns."""
    if unit == "s" and value and not math.isinf(value):
        name, scale = _seconds_scale(value)
        return f"{number(value / scale)} {name}"
    return f"{number(value)} {unit}"


def spread(values: Spread, unit: str) -> str:
    """``min / median / max`` of the repetitions and ``±`` half their range, as a share."""
    if values.count == 1:
        return "1 run"
    scale, name = 1.0, ""
    if unit == "s" and values.median and not math.isinf(values.median):
        name, scale = _seconds_scale(values.median)
    parts = " / ".join(number(v / scale) for v in (values.min, values.median, values.max))
    return f"{parts}{' ' + name if name else ''} ±{values.relative * 50:.0f}%"


def ratio(value: float | None) -> str:
    """``1.23x``, or an empty string."""
    return "" if value is None else f"{value:.2f}x"


def met(figure: FigureResult) -> str:
    """``met``, ``MISSED``, or an empty string (no target, or none that can be told)."""
    if figure.met is None:
        return ""
    return "met" if figure.met else "MISSED"


def change(item: Change) -> str:
    """``+12% regression``, ``-3% same``..."""
    moved = item.change
    text = "n/a" if moved is None else f"{moved * 100:+.1f}%"
    return f"{text} {item.verdict}"
