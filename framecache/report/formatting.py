"""How the report writes a number: percentages with their intervals, p-values, CSV cells and JSON values.

One place, so a value reads the same in comparison.md, report.html and the CSV files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from framecache.evaluation import statistics

DASH = "–"  # what an empty cell shows
# what an interval or test shows when the test set has too few groups for it (evaluation.design.GroupDesign)
TOO_FEW_GROUPS = "too few groups"


def is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x: float | None) -> str:
    return DASH if is_missing(x) else f"{100 * x:.1f}%"


def bounds(low: float | None, high: float | None, signed: bool = False) -> str:
    """``[71.7, 91.7]`` in percent (``[+1.2, +5.0]`` when ``signed``); ``[too few groups]`` when not computed."""
    if is_missing(low) or is_missing(high):
        return f"[{TOO_FEW_GROUPS}]"
    spec = "+.1f" if signed else ".1f"
    return f"[{100 * low:{spec}}, {100 * high:{spec}}]"  # type: ignore[operator]


def ci(iv: statistics.Interval | None) -> str:
    """``81.7% [71.7, 91.7]``: the point and its interval in percent."""
    if iv is None or math.isnan(iv.point):
        return DASH
    return f"{pct(iv.point)} {bounds(iv.low, iv.high)}"


def p_value(p: float | None) -> str:
    if p is None or math.isnan(p):
        return DASH
    return f"{p:.2g}" if p >= 1e-4 else "< 1e-4"


def p_relation(p: float | None) -> str:
    """``= 0.03`` or ``< 1e-4``: a p-value as a relation, for running text."""
    text = p_value(p)
    return text if text.startswith("<") else f"= {text}"


def csv_value(x: Any) -> Any:
    """A CSV cell: empty for missing, six significant digits for floats (stable across platforms)."""
    if is_missing(x):
        return ""
    if isinstance(x, float | np.floating):
        return f"{float(x):.6g}"
    return x


def json_value(x: Any, digits: int = 6) -> Any:
    """A summary.json value: floats rounded (NaN as null), anything else as is."""
    if isinstance(x, float | np.floating):
        return None if math.isnan(x) else round(float(x), digits)
    return x


def shown(value: Any, nested: bool = False) -> str:
    """A recorded setting (provenance, metrics) as one short line: ``a=1, b=[x, y]``; long lists are counted."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        text = ", ".join(f"{k}={shown(v, True)}" for k, v in value.items())
        return f"{{{text}}}" if nested else text
    if isinstance(value, list | tuple):
        if len(value) > 12:
            return f"{len(value)} items"
        text = ", ".join(shown(v, True) for v in value)
        return f"[{text}]" if nested else text
    return str(value)
