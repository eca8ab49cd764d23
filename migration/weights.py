"""Weight arithmetic shared by the edge mechanisms, as pure functions of a green percent.

Mechanisms with integer weights (ALB, Route 53, ...) give a target the share weight / sum of
weights. meshshift always writes a pair that sums to the shifter's ``weight_scale`` (default 100,
so the weights read as percents in the console), which makes the share exact for integer percents
and can never produce the all-zero pair that Route 53 would treat as an equal split. Each
mechanism's own limits and rules are in its module under ``migration/edge/``.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_WEIGHT_SCALE = 100


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


def check_percent(percent: int) -> None:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise WeightError("an integer green percent in 0..100", repr(percent))


def integer_pair(percent: int, scale: int, *, max_weight: int) -> IntegerPair:
    """Blue/green integer weights summing to ``scale`` whose green share is ``percent`` rounded
    half-up to the nearest 1/scale. Raises WeightError when the pair would misrepresent the step."""
    check_percent(percent)
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
