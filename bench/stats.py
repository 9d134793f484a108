"""Percentiles and summaries (milliseconds in, milliseconds out)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def quantile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted data (like numpy's default)."""
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(values: Iterable[float]) -> dict[str, Any]:
    """n, mean, median, p90, p99 and max of samples given in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "mean_ms": round(sum(ordered) / len(ordered), 3),
        "median_ms": round(quantile(ordered, 0.5), 3),
        "p90_ms": round(quantile(ordered, 0.9), 3),
        "p99_ms": round(quantile(ordered, 0.99), 3),
        "max_ms": round(ordered[-1], 3),
    }


def ratio(subject: float, baseline: float) -> float:
    return round(subject / baseline, 3) if baseline > 0 else math.inf


def median(values: Sequence[float]) -> float:
    return quantile(sorted(values), 0.5)
