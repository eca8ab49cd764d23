"""Hypothesis throws generated specs at the validator: it either accepts a spec whose ramp and
approvals really are valid, or raises a ValidationError whose every problem has a message
naming a path. Nothing else ever comes out."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from meshshift.migration.errors import format_problems
from meshshift.migration.plan import ramp_steps
from meshshift.migration.spec import MigrationSpec
from tests.unit.specdata import CLOUDFRONT_EDGE, shop

PEOPLE = ["alice", "bob", "carol"]

durations = st.one_of(
    st.sampled_from(["PT5M", "PT1H", "P1D", "PT0S", "-PT1M", "abc", "", "P400D", "P1W"]),
    st.integers(min_value=-10, max_value=10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
step_weights = st.one_of(st.integers(min_value=-5, max_value=110), st.booleans(), st.floats(), st.text(max_size=3))
step_objects = st.fixed_dictionaries(
    {"weight": step_weights},
    optional={
        "bake": durations,
        "approval": st.sampled_from(["required", "auto", "sometimes"]),
        "wait": st.just(1),
    },
)
any_steps = st.lists(st.one_of(step_weights, step_objects, st.none()), max_size=7)
good_steps = st.lists(st.integers(min_value=1, max_value=99), unique=True, max_size=6).map(lambda s: [*sorted(s), 100])
steps = st.one_of(good_steps, good_steps, any_steps)

cloudfront = st.builds(
    lambda promotion: {**CLOUDFRONT_EDGE, "promotion": promotion},
    st.sampled_from(["refuse", "promote_at_100", "hold_at_cap", "later"]),
)


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """The shop example with each knob left valid most of the time and broken some of the time,
    so that both accepted and refused specs are common."""

    def sometimes() -> bool:
        return draw(st.integers(min_value=0, max_value=5)) == 0

    data = shop()
    data["ramp"]["steps"] = draw(steps)
    data["ramp"]["approval"] = draw(st.sampled_from(["required", "auto"]))
    data["decommission"]["approval"] = draw(st.sampled_from(["required", "auto"]))
    if sometimes():
        data["ramp"]["bake"] = draw(durations)
    if sometimes():
        data["approvers"] = draw(st.lists(st.sampled_from(PEOPLE), max_size=3))
        data["requested_by"] = draw(st.sampled_from(PEOPLE))
        data["two_person_rule"] = draw(st.booleans())
    if sometimes():
        data["edge"][1]["weight_scale"] = draw(st.integers(min_value=-1, max_value=300))
    if sometimes():
        data["edge"][0]["weight_scale"] = draw(st.sampled_from([1, 3, 7, 100, 999, 1000]))
    if sometimes():
        data["edge"].append(draw(cloudfront))
    if sometimes():
        data["green"]["service_suffix"] = draw(st.sampled_from(["-sc", "", "-green", "!"]))
        data["green"]["cluster"] = draw(st.sampled_from(["shop", "shop-green"]))
    if sometimes():
        data["blue"]["services"] = draw(
            st.lists(st.sampled_from(["api", "api-sc", "web", "order-worker"]), min_size=0, max_size=4)
        )
    if draw(st.integers(min_value=0, max_value=19)) == 0:
        data[draw(st.sampled_from(["bogus", "ramp_steps"]))] = 1
    return data


def raw_ramp_is_valid(raw: Any) -> bool:
    """An independent reading of the ramp rules on the raw input."""
    if not isinstance(raw, list) or not raw:
        return False
    values = []
    for item in raw:
        if isinstance(item, dict):
            if set(item) - {"weight", "bake", "approval"}:
                return False
            item = item.get("weight")
        if isinstance(item, bool) or not isinstance(item, int):
            return False
        values.append(item)
    increasing = all(a < b for a, b in pairwise(values))
    return increasing and all(0 < v <= 100 for v in values) and values[-1] == 100


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=specs())
def test_validator_only_accepts_valid_specs_and_always_explains(data: dict[str, Any]) -> None:
    try:
        spec = MigrationSpec.model_validate(data)
    except ValidationError as exc:
        event("refused")
        found = format_problems(exc, MigrationSpec)
        assert found
        for p in found:
            assert p.message.startswith(f"{p.path or 'spec'}: "), p.message
            assert p.expected and p.got
            assert "expected" in p.message
        return
    event("accepted")
    assert raw_ramp_is_valid(data["ramp"]["steps"]), data["ramp"]["steps"]
    values = spec.ramp.weights()
    assert values[-1] == 100 and all(0 < a < b for a, b in pairwise(values))
    for step in ramp_steps(spec):
        for w in step.weights:
            assert w.blue + w.green > 0
            if w.mechanism == "route53":
                assert 0 <= w.blue <= 255 and 0 <= w.green <= 255
            elif w.mechanism == "alb":
                assert 0 <= w.blue <= 999 and 0 <= w.green <= 999
            else:
                assert w.promoted or w.green <= 0.15
    if spec.approval_required_at():
        assert spec.eligible_approvers()
        if spec.two_person_rule:
            assert spec.requested_by not in spec.eligible_approvers()
