"""The workflow's own check of read-back weights (beside each shifter's verify)."""

from migration.contracts import ShifterReading, ShifterWeights
from workflows.migration import weight_mismatches


def _cf(blue: float, green: float, promoted: bool) -> ShifterWeights:
    return ShifterWeights(shifter_id="cloudfront:E1", mechanism="cloudfront", blue=blue, green=green, promoted=promoted)


def _read(blue: float, green: float, promoted: bool) -> ShifterReading:
    return ShifterReading(
        shifter_id="cloudfront:E1",
        mechanism="cloudfront",
        blue=blue,
        green=green,
        promoted=promoted,
        green_percent=100.0 if promoted else green * 100,
    )


def test_promoted_cloudfront_matches_whatever_its_unused_policy_weight() -> None:
    # After promotion the policy still says 15% staging; the primary serves green regardless.
    assert weight_mismatches([_cf(0.85, 0.15, True)], [_read(0.85, 0.15, True)]) == []
    assert weight_mismatches([_cf(0.0, 1.0, True)], [_read(0.85, 0.15, True)]) == []


def test_not_promoted_when_promotion_expected_is_a_mismatch() -> None:
    assert weight_mismatches([_cf(0.85, 0.15, True)], [_read(0.85, 0.15, False)])


def test_staging_weight_compared_before_promotion() -> None:
    assert weight_mismatches([_cf(0.95, 0.05, False)], [_read(0.95, 0.05, False)]) == []
    assert weight_mismatches([_cf(0.95, 0.05, False)], [_read(0.99, 0.01, False)])
