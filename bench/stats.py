"""Percentiles and the shape every benchmark result takes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """n, min, p50, p95, p99, max and mean of ``values`` (seconds unless said otherwise)."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": round(min(values), digits),
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits),
        "mean": round(sum(values) / len(values), digits),
    }


def target(name: str, met: bool, measured: str, goal: str, why: str) -> dict[str, Any]:
    """A target's verdict. ``why`` (what limits the figure and what would move it) is required of every
    target, so that any run that misses explains itself; it is kept only on a miss."""
    if not why.strip():
        raise ValueError(f"target {name!r} must say what limits it")
    out: dict[str, Any] = {"target": name, "goal": goal, "measured": measured, "result": "pass" if met else "miss"}
    if not met:
        out["why"] = why
    return out
