"""Weight arithmetic per edge mechanism, as pure functions of a green percent.

Route 53 and ALB both take integer weights; the share a target receives is its weight divided by
the sum. meshshift always writes a pair that sums to the shifter's ``weight_scale`` (default 100,
so the weights read as percents in the console), which makes the share exact for integer percents
and can never produce the all-zero pair that Route 53 would treat as an equal split.

CloudFront continuous deployment is different in kind: the staging distribution's weight is a
fraction capped at 0.15, and going beyond it means *promoting* the staging config to the primary,
which moves 100% at once. How a ramp step above the cap is handled is the shifter's ``promotion``
rule (see ``cloudfront_weight``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ROUTE53_MAX_WEIGHT = 255
ALB_MAX_WEIGHT = 999
DEFAULT_WEIGHT_SCALE = 100
CLOUDFRONT_MAX_STAGING_PERCENT = 15


class CloudFrontRule(StrEnum):
    """Mirror of ``migration.spec.CloudFrontPromotion`` (kept here so this module has no spec import)."""

    REFUSE = "refuse"
    PROMOTE_AT_100 = "promote_at_100"
    HOLD_AT_CAP = "hold_at_cap"


class WeightError(ValueError):
    """A percent that the mechanism cannot express: what it can express, what arrived, what to do."""

    def __init__(self, expected: str, got: str, hint: str = ""):
        self.expected = expected
        self.got = got
        self.hint = hint
        super().__init__(f"expected {expected}, got {got}" + (f"; {hint}" if hint else ""))


@dataclass(frozen=True)
class IntegerPair:
    blue: int
    green: int

    @property
    def green_percent(self) -> float:
        return 100.0 * self.green / (self.blue + self.green)


@dataclass(frozen=True)
class CloudFrontWeight:
    """``staging`` is the fraction of requests sent to the staging (green) distribution."""

    staging: float
    promoted: bool

    @property
    def green_percent(self) -> float:
        return 100.0 if self.promoted else round(100.0 * self.staging, 6)


def _check_percent(percent: int) -> None:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise WeightError("an integer green percent in 0..100", repr(percent))


def integer_pair(percent: int, scale: int, *, max_weight: int) -> IntegerPair:
    """Blue/green integer weights summing to ``scale`` whose green share is ``percent`` rounded
    half-up to the nearest 1/scale. Raises WeightError when the pair would misrepresent the step."""
    _check_percent(percent)
    if isinstance(scale, bool) or not 1 <= scale <= max_weight:
        raise WeightError(f"a weight scale in 1..{max_weight}", repr(scale))
    # Integer arithmetic: round(percent * scale / 100) with halves rounded up, no float error.
    green = (2 * percent * scale + 100) // 200
    pair = IntegerPair(blue=scale - green, green=green)
    if 0 < percent < 100 and (pair.green == 0 or pair.blue == 0):
        raise WeightError(
            f"a step that weights summing to {scale} can express as a split",
            f"{percent}, which becomes blue {pair.blue} / green {pair.green} ({pair.green_percent:g}% green)",
            f"use a larger weight_scale (at most {max_weight}) or steps that are multiples of {100 / scale:g}%",
        )
    return pair


def route53_pair(percent: int, scale: int = DEFAULT_WEIGHT_SCALE) -> IntegerPair:
    return integer_pair(percent, scale, max_weight=ROUTE53_MAX_WEIGHT)


def alb_pair(percent: int, scale: int = DEFAULT_WEIGHT_SCALE) -> IntegerPair:
    return integer_pair(percent, scale, max_weight=ALB_MAX_WEIGHT)


def cloudfront_weight(percent: int, rule: CloudFrontRule | str) -> CloudFrontWeight:
    """The CloudFront shifter's setting for a green percent.

    - 0..15: staging weight ``percent / 100`` under every rule.
    - 100: promotion of the staging config to the primary, under ``promote_at_100`` and
      ``hold_at_cap``; refused under ``refuse``.
    - 16..99: refused under ``refuse`` and ``promote_at_100`` (the shifter cannot express it);
      under ``hold_at_cap`` the staging weight stays at 15% while other shifters move on.
    """
    _check_percent(percent)
    rule = CloudFrontRule(rule)
    if percent <= CLOUDFRONT_MAX_STAGING_PERCENT:
        return CloudFrontWeight(staging=percent / 100, promoted=False)
    if rule is CloudFrontRule.REFUSE:
        raise WeightError(
            f"at most {CLOUDFRONT_MAX_STAGING_PERCENT} (a CloudFront staging weight is capped at 15%)",
            str(percent),
            "set the shifter's promotion to 'promote_at_100' (steps up to 15, then 100 promotes staging to "
            "primary) or 'hold_at_cap' (stay at 15% until 100, then promote)",
        )
    if percent == 100:
        return CloudFrontWeight(staging=1.0, promoted=True)
    if rule is CloudFrontRule.PROMOTE_AT_100:
        raise WeightError(
            f"at most {CLOUDFRONT_MAX_STAGING_PERCENT} or exactly 100 (promotion 'promote_at_100')",
            str(percent),
            "remove the step, or use promotion 'hold_at_cap' to stay at 15% until 100",
        )
    return CloudFrontWeight(staging=CLOUDFRONT_MAX_STAGING_PERCENT / 100, promoted=False)
