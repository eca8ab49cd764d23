"""Verdicts on measured traffic, as pure functions. (Signatures fixed; bodies filled in later.)"""

from __future__ import annotations

from migration.contracts import AnalysisVerdict, MetricsSnapshot
from migration.spec import AnalysisSpec, DrainSpec


def judge(snapshot: MetricsSnapshot, thresholds: AnalysisSpec) -> AnalysisVerdict:
    """pass / fail / inconclusive for green, with the numbers and reasons behind it."""
    raise NotImplementedError


def blue_is_idle(snapshot: MetricsSnapshot, drain: DrainSpec) -> bool:
    """True when blue's requests (and connections, where measured) are at or under the idle threshold."""
    raise NotImplementedError
