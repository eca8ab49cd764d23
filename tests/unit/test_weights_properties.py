"""Property tests: every mechanism's weights give the intended share within its granularity,
100 means blue 0, and no mechanism ever gets all-zero weights."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshshift.migration import weights
from meshshift.migration.edge import alb, cloudfront, route53
from meshshift.migration.edge.alb import AlbEdge
from meshshift.migration.edge.cloudfront import CloudFrontEdge, CloudFrontPromotion
from meshshift.migration.edge.route53 import Route53Edge
from meshshift.migration.plan import rollback_weights, weights_for
from tests.unit.specdata import BLUE_TG, CLOUDFRONT_EDGE, GREEN_TG, LISTENER

percents = st.integers(min_value=0, max_value=100)


@settings(max_examples=500, deadline=None)
@given(percent=percents, scale=st.integers(min_value=1, max_value=route53.MAX_WEIGHT))
def test_route53_pair_share_within_granularity(percent: int, scale: int) -> None:
    try:
        pair = route53.weight_pair(percent, scale)
    except weights.WeightError as exc:
        # Only a partial step that the scale cannot split is refused, and the reason says so.
        assert 0 < percent < 100 and "weight_scale" in str(exc)
        return
    assert 0 <= pair.blue <= 255 and 0 <= pair.green <= 255
    assert pair.blue + pair.green == scale > 0  # never all zero
    assert abs(pair.green_percent - percent) <= 50 / scale + 1e-9
    if percent == 100:
        assert pair.blue == 0
    if percent == 0:
        assert pair.green == 0
    if 0 < percent < 100:
        assert pair.blue > 0 and pair.green > 0


@settings(max_examples=500, deadline=None)
@given(percent=percents, scale=st.integers(min_value=1, max_value=alb.MAX_WEIGHT))
def test_alb_pair_share_within_granularity(percent: int, scale: int) -> None:
    try:
        pair = alb.weight_pair(percent, scale)
    except weights.WeightError:
        assert 0 < percent < 100
        return
    assert 0 <= pair.blue <= 999 and 0 <= pair.green <= 999 and pair.blue + pair.green == scale
    assert abs(pair.green_percent - percent) <= 50 / scale + 1e-9
    assert (pair.blue == 0) == (percent == 100) or scale * percent < 100


@given(percent=percents)
def test_default_scale_is_exact(percent: int) -> None:
    for pair in (route53.weight_pair(percent), alb.weight_pair(percent)):
        assert (pair.blue, pair.green) == (100 - percent, percent)


@given(percent=percents, rule=st.sampled_from(list(CloudFrontPromotion)))
def test_cloudfront_weight(percent: int, rule: CloudFrontPromotion) -> None:
    try:
        cf = cloudfront.staging_weight(percent, rule)
    except weights.WeightError as exc:
        assert percent > 15
        assert rule is CloudFrontPromotion.REFUSE or (rule is CloudFrontPromotion.PROMOTE_AT_100 and percent < 100)
        assert "15" in exc.expected
        return
    assert 0 <= cf.staging <= 1
    if cf.promoted:
        assert percent == 100 and cf.green_percent == 100
    else:
        assert cf.staging <= 0.15
        assert cf.green_percent == (percent if percent <= 15 else 15)


def test_out_of_range_percent_is_refused() -> None:
    for bad in (-1, 101):
        with pytest.raises(weights.WeightError):
            route53.weight_pair(bad)
    with pytest.raises(weights.WeightError):
        alb.weight_pair(5, 1000)


_ALB = AlbEdge(type="alb", listener_arn=LISTENER, blue_target_group_arn=BLUE_TG, green_target_group_arn=GREEN_TG)
_R53 = Route53Edge.model_validate(
    {
        "type": "route53",
        "hosted_zone_id": "Z0123456789",
        "record_name": "api.shop.example.com",
        "blue": {"set_identifier": "blue", "value": "blue.example.com"},
        "green": {"set_identifier": "green", "value": "green.example.com"},
    }
)
_CF = CloudFrontEdge.model_validate({**CLOUDFRONT_EDGE, "promotion": "hold_at_cap"})


@given(percent=percents)
def test_weights_for_every_mechanism(percent: int) -> None:
    for edge in (_ALB, _R53, _CF):
        w = weights_for(edge, percent)
        assert w.blue + w.green > 0
        if edge is _CF:
            assert w.promoted == (percent == 100)
        else:
            assert w.green == percent and w.blue == 100 - percent
        if percent == 100:
            assert w.blue == 0


def test_rollback_weights_are_all_blue() -> None:
    from meshshift.migration.loading import load_spec
    from tests.unit.specdata import SHOP

    for w in rollback_weights(load_spec(SHOP)):
        assert w.green == 0 and w.blue > 0 and not w.promoted
