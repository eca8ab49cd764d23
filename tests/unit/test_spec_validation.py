"""Every validation rule has a failing case whose message names the field path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from meshshift.migration.errors import SpecError, SpecProblem, format_problems
from meshshift.migration.loading import load_spec, validate_spec
from meshshift.migration.spec import MigrationSpec, RampStep
from tests.unit.specdata import ALB_ONLY, BLUE_TG, CLOUDFRONT_EDGE, GREEN_TG, LISTENER, RULE, SHOP, shop

Edit = Callable[[dict[str, Any]], None]


def problems_of(data: dict[str, Any]) -> list[SpecProblem]:
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    assert info.value.problems, "a refused spec must say why"
    return info.value.problems


def assert_problem(data: dict[str, Any], path: str, *needles: str) -> SpecProblem:
    found = problems_of(data)
    matching = [p for p in found if p.path == path]
    assert matching, f"no problem at {path!r}; got {[p.message for p in found]}"
    p = matching[0]
    assert p.message.startswith(f"{path}: "), p.message
    for needle in needles:
        assert needle in p.message, f"{needle!r} not in {p.message!r}"
    assert p.expected and p.got
    return p


def edited(*edits: Edit) -> dict[str, Any]:
    data = shop()
    for edit in edits:
        edit(data)
    return data


def steps(*values: Any) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        d["ramp"]["steps"] = list(values)

    return edit


def add_cloudfront(**extra: Any) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        d["edge"].append({**CLOUDFRONT_EDGE, **extra})

    return edit


def test_examples_are_valid() -> None:
    spec = load_spec(SHOP)
    assert spec.name == "shop" and spec.ramp.weights() == [1, 5, 25, 50, 100]
    assert load_spec(ALB_ONLY).edge[0].type == "alb"


# --- ramp ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "path", "needle"),
    [
        ((1, 5, 5, 100), "ramp.steps[2]", "more than the previous step"),
        ((1, 25, 5, 100), "ramp.steps[2]", "strictly increase"),
        ((0, 5, 100), "ramp.steps[0]", "greater than 0 and at most 100"),
        ((-3, 100), "ramp.steps[0]", "greater than 0"),
        ((5, 101), "ramp.steps[1]", "at most 100"),
        ((1, 5, 50), "ramp.steps[2]", "the last step to be 100"),
        (({"weight": 0}, 100), "ramp.steps[0].weight", "greater than 0"),
        (({"weight": 10}, {"weight": 10}, 100), "ramp.steps[1].weight", "more than the previous step"),
        ((True, 100), "ramp.steps[0]", "integer"),
        (("5", 100), "ramp.steps[0]", "integer"),
        ((2.5, 100), "ramp.steps[0]", "integer"),
        (({"weight": 5, "wait": "PT1M"}, 100), "ramp.steps[0].wait", "unknown field 'wait'"),
        (({"weight": 5, "approval": "maybe"}, 100), "ramp.steps[0].approval", "'required' or 'auto'"),
        ((), "ramp.steps", "at least one step"),
    ],
)
def test_ramp_rules(values: tuple[Any, ...], path: str, needle: str) -> None:
    assert_problem(edited(steps(*values)), path, needle)


def test_ramp_steps_accept_objects_with_overrides() -> None:
    spec = validate_spec(edited(steps(1, {"weight": 50, "bake": "PT1H", "approval": "auto"}, 100)))
    step = spec.ramp.steps[1]
    assert isinstance(step, RampStep) and step.bake is not None and step.bake.total_seconds() == 3600
    assert spec.ramp.step_approval(1).value == "auto" and spec.ramp.step_approval(0).value == "required"


# --- weights per mechanism ----------------------------------------------------------------------


def test_route53_weight_scale_beyond_255() -> None:
    data = edited(lambda d: d["edge"][1].update(weight_scale=256))
    assert_problem(data, "edge[1].weight_scale", "255", "256")


def test_alb_weight_scale_beyond_999() -> None:
    data = edited(lambda d: d["edge"][0].update(weight_scale=1000))
    assert_problem(data, "edge[0].weight_scale", "999", "1000")


def test_weight_scale_too_coarse_for_a_step() -> None:
    data = edited(lambda d: d["edge"][1].update(weight_scale=10))
    p = assert_problem(data, "ramp.steps[0]", "edge[1] (route53)", "edge[1].weight_scale")
    assert "blue 10 / green 0" in p.message


def test_weight_scale_that_rounds_a_partial_step_to_all_green() -> None:
    data = edited(steps(1, 99, 100), lambda d: d["edge"][0].update(weight_scale=20))
    assert_problem(data, "ramp.steps[1]", "edge[0] (alb)", "blue 0 / green 20")


def test_cloudfront_refuses_steps_above_15_by_default() -> None:
    found = problems_of(edited(add_cloudfront()))
    assert {p.path for p in found} == {"ramp.steps[2]", "ramp.steps[3]", "ramp.steps[4]"}
    assert all("edge[2].promotion" in p.message and "15" in p.message for p in found)


def test_cloudfront_promote_at_100_refuses_steps_between_15_and_100() -> None:
    data = edited(add_cloudfront(promotion="promote_at_100"))
    found = problems_of(data)
    assert {p.path for p in found} == {"ramp.steps[2]", "ramp.steps[3]"}
    assert "hold_at_cap" in found[0].message
    validate_spec(edited(add_cloudfront(promotion="promote_at_100"), steps(1, 5, 15, 100)))


def test_cloudfront_hold_at_cap_accepts_the_standard_ramp() -> None:
    validate_spec(edited(add_cloudfront(promotion="hold_at_cap")))


def test_cloudfront_same_distribution_and_stickiness() -> None:
    data = edited(add_cloudfront(promotion="hold_at_cap", staging_distribution_id="E2QWRUHAPOMQZL"))
    assert_problem(data, "edge[2].staging_distribution_id", "different from distribution_id")
    data = edited(add_cloudfront(promotion="hold_at_cap", session_stickiness_idle_ttl="PT10M"))
    assert_problem(data, "edge[2].session_stickiness_max_ttl", "both stickiness TTLs")
    data = edited(
        add_cloudfront(promotion="hold_at_cap", session_stickiness_idle_ttl=60, session_stickiness_max_ttl=600)
    )
    assert_problem(data, "edge[2].session_stickiness_idle_ttl", "300 to 3600")


# --- approvals ----------------------------------------------------------------------------------


def test_approvers_required_when_any_approval_is_required() -> None:
    data = edited(lambda d: d.update(approvers=[]))
    assert_problem(data, "approvers", "at least one approver", "ramp.steps[0]")


def test_decommission_approval_alone_requires_approvers() -> None:
    data = edited(lambda d: d.update(approvers=[]), lambda d: d["ramp"].update(approval="auto"))
    assert_problem(data, "approvers", "decommission.approval")


def test_per_step_approval_requires_approvers() -> None:
    data = edited(
        lambda d: d.update(approvers=[]),
        lambda d: d["ramp"].update(approval="auto"),
        lambda d: d["decommission"].update(approval="auto"),
        steps(1, {"weight": 50, "approval": "required"}, 100),
    )
    assert_problem(data, "approvers", "ramp.steps[1]")


def test_no_approvers_needed_when_everything_is_auto() -> None:
    spec = validate_spec(
        edited(
            lambda d: d.update(approvers=[]),
            lambda d: d["ramp"].update(approval="auto"),
            lambda d: d["decommission"].update(approval="auto"),
        )
    )
    assert spec.approval_required_at() == []


def test_two_person_rule_refuses_requester_as_only_approver() -> None:
    data = edited(lambda d: d.update(approvers=["carol"]))
    p = assert_problem(data, "approvers", "other than requested_by 'carol'", "two_person_rule")
    assert p.got == '["carol"]'


def test_requester_is_never_counted_as_an_approver() -> None:
    spec = validate_spec(edited(lambda d: d.update(approvers=["carol", "alice"])))
    assert spec.eligible_approvers() == ["alice"]


def test_two_person_rule_off_lets_the_requester_approve() -> None:
    spec = validate_spec(edited(lambda d: d.update(approvers=["carol"], two_person_rule=False)))
    assert spec.eligible_approvers() == ["carol"]


def test_duplicate_approver() -> None:
    assert_problem(edited(lambda d: d.update(approvers=["alice", "bob", "alice"])), "approvers[2]", "approvers[0]")


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "path", "needle"),
    [
        (lambda d: d["ramp"].update(bake="-1"), "ramp.bake", "zero or positive"),
        (lambda d: d["ramp"].update(bake=-5), "ramp.bake", "zero or positive"),
        (lambda d: d["ramp"].update(approval_timeout="PT0S"), "ramp.approval_timeout", "positive"),
        (lambda d: d["ramp"].update(bake=-5), "ramp.bake", "positive"),
        (lambda d: d["ramp"].update(bake="10 minutes"), "ramp.bake", "ISO 8601"),
        (lambda d: d["ramp"].update(bake="P1000D"), "ramp.bake", "at most"),
        (lambda d: d["ramp"].update(bake=float("nan")), "ramp.bake", "ISO 8601"),
        (lambda d: d["ramp"].update(bake=1e300), "ramp.bake", "at most"),
        (lambda d: d["ramp"].update(bake=True), "ramp.bake", "ISO 8601"),
        (lambda d: d["health"].update(interval="PT0S"), "health.interval", "positive"),
        (lambda d: d["drain"].update(max_wait=""), "drain.max_wait", "ISO 8601"),
        (lambda d: d["decommission"].update(after="-PT1H"), "decommission.after", "ISO 8601"),
        (steps(1, {"weight": 5, "bake": -1}, 100), "ramp.steps[1].bake", "zero or positive"),
    ],
)
def test_durations_must_be_positive(edit: Edit, path: str, needle: str) -> None:
    assert_problem(edited(edit), path, needle)


def test_bakes_and_soak_may_be_zero() -> None:
    spec = validate_spec(edited(lambda d: (d["ramp"].update(bake=0), d["decommission"].update(after="PT0S"))))
    assert spec.ramp.bake.total_seconds() == 0 and spec.decommission.after.total_seconds() == 0


def test_durations_accept_iso_and_seconds() -> None:
    spec = validate_spec(edited(lambda d: d["ramp"].update(bake="90", approval_timeout=3600.5)))
    assert spec.ramp.bake.total_seconds() == 90 and spec.ramp.approval_timeout.total_seconds() == 3600.5
    assert spec.model_dump(mode="json")["ramp"]["bake"] == "PT1M30S"


# --- ARNs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "path", "needle"),
    [
        ("listener_arn", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", "edge[0].listener_arn", "listener ARN"),
        ("listener_arn", BLUE_TG, "edge[0].listener_arn", "listener ARN"),
        ("listener_arn", "not-an-arn", "edge[0].listener_arn", "arn:aws:elasticloadbalancing"),
        ("rule_arn", LISTENER, "edge[0].rule_arn", "listener-rule ARN"),
        ("blue_target_group_arn", LISTENER, "edge[0].blue_target_group_arn", "targetgroup ARN"),
        (
            "green_target_group_arn",
            "arn:aws:elasticloadbalancing:us-east-1:12345:targetgroup/x/1",
            "edge[0].green_target_group_arn",
            "targetgroup ARN",
        ),
        ("green_target_group_arn", BLUE_TG, "edge[0].green_target_group_arn", "different from blue_target_group_arn"),
        (
            "rule_arn",
            RULE.replace("f2f7dc8efc522ab2", "0000000000000000"),
            "edge[0].rule_arn",
            "a rule of the listener",
        ),
        (
            "green_target_group_arn",
            GREEN_TG.replace("123456789012", "999999999999"),
            "edge[0].green_target_group_arn",
            "account",
        ),
    ],
)
def test_alb_arns(field: str, value: str, path: str, needle: str) -> None:
    assert_problem(edited(lambda d: d["edge"][0].update({field: value})), path, needle)


def test_rule_arn_of_the_listener_is_accepted() -> None:
    spec = validate_spec(edited(lambda d: d["edge"][0].update(rule_arn=RULE)))
    assert spec.edge[0].type == "alb"


def test_arn_region_must_equal_spec_region() -> None:
    data = edited(lambda d: d.update(region="eu-west-1"))
    found = problems_of(data)
    assert {p.path for p in found} >= {"edge[0].listener_arn", "edge[0].blue_target_group_arn"}
    assert "eu-west-1" in found[0].message


def test_arn_regions_must_agree_without_spec_region() -> None:
    def second_alb(d: dict[str, Any]) -> None:
        d.pop("region")
        d["edge"].append(
            {
                "type": "alb",
                "listener_arn": LISTENER.replace("us-east-1", "us-west-2").replace("/shop/", "/shop2/"),
                "blue_target_group_arn": BLUE_TG.replace("us-east-1", "us-west-2"),
                "green_target_group_arn": GREEN_TG.replace("us-east-1", "us-west-2"),
            }
        )

    assert_problem(edited(second_alb), "edge[2].listener_arn", "same region as edge[0].listener_arn", "set 'region'")


def test_duplicate_edge() -> None:
    assert_problem(edited(lambda d: d["edge"].append(dict(d["edge"][0]))), "edge[2]", "edge[0]")


# --- names --------------------------------------------------------------------------------------


def test_duplicate_blue_service() -> None:
    data = edited(lambda d: d["blue"]["services"].append("user-api"))
    assert_problem(data, "blue.services[3]", "services[1]", "'user-api'")


def test_duplicate_async_worker() -> None:
    def worker(d: dict[str, Any]) -> None:
        d["async_workers"].append(
            {"blue_service": "order-worker", "green_service": "order-worker-2", "desired_count": 1}
        )

    assert_problem(edited(worker), "async_workers[1].blue_service", "async_workers[0].blue_service")


def test_two_workers_mapped_to_one_green_name() -> None:
    def worker(d: dict[str, Any]) -> None:
        d["async_workers"].append(
            {"blue_service": "mail-worker", "green_service": "order-worker-sc", "desired_count": 1}
        )

    assert_problem(edited(worker), "async_workers[1].green_service", "async_workers[0].green_service")


def test_worker_cannot_also_be_a_ramped_service() -> None:
    data = edited(lambda d: d["async_workers"][0].update(blue_service="user-api", green_service="user-api-w"))
    assert_problem(data, "async_workers[0].blue_service", "blue.services[1]")


def test_green_name_equal_to_a_blue_name_in_the_same_cluster() -> None:
    data = edited(lambda d: d["blue"].update(services=["api", "api-sc"]))
    assert_problem(data, "blue.services[0]", "'api' + '-sc'", "blue.services[1]")


def test_green_name_may_equal_a_blue_name_in_another_cluster() -> None:
    validate_spec(
        edited(lambda d: d["blue"].update(services=["api", "api-sc"]), lambda d: d["green"].update(cluster="shop-sc"))
    )


def test_empty_suffix_in_the_same_cluster() -> None:
    data = edited(lambda d: d["green"].update(service_suffix=""))
    assert_problem(data, "green.service_suffix", "non-empty suffix")
    arn_cluster = edited(
        lambda d: d["green"].update(service_suffix=""),
        lambda d: d["blue"].update(cluster="arn:aws:ecs:us-east-1:123456789012:cluster/shop"),
    )
    assert_problem(arn_cluster, "green.service_suffix", "non-empty suffix")


def test_empty_suffix_with_another_cluster_is_fine() -> None:
    validate_spec(edited(lambda d: d["green"].update(service_suffix="", cluster="shop-green")))


def test_green_worker_equal_to_a_green_service() -> None:
    data = edited(lambda d: d["async_workers"][0].update(green_service="user-api-sc"))
    assert_problem(data, "async_workers[0].green_service", "'user-api-sc'")


@pytest.mark.parametrize(
    ("edit", "path", "needle"),
    [
        (lambda d: d["blue"]["services"].append("bad name"), "blue.services[3]", "ECS service name"),
        (lambda d: d["green"].update(service_suffix="/x"), "green.service_suffix", "letters, digits"),
        (lambda d: d.update(name="Shop!"), "name", "lowercase"),
        (lambda d: d.update(region="useast1"), "region", "AWS region"),
        (lambda d: d["edge"][1].update(hosted_zone_id="z-123"), "edge[1].hosted_zone_id", "hosted zone id"),
        (lambda d: d["edge"][1].update(record_name="api shop"), "edge[1].record_name", "DNS name"),
        (lambda d: d["health"].update(urls=["green.internal/health"]), "health.urls[0]", "http://"),
        (lambda d: d["green"].update(subnets=["sub-1"]), "green.subnets[0]", "subnet-"),
    ],
)
def test_formats(edit: Edit, path: str, needle: str) -> None:
    assert_problem(edited(edit), path, needle)


# --- Route 53 -----------------------------------------------------------------------------------


def test_route53_set_identifiers_must_differ() -> None:
    data = edited(lambda d: d["edge"][1]["green"].update(set_identifier="blue"))
    assert_problem(data, "edge[1].green.set_identifier", "different from blue.set_identifier")


def test_route53_values_must_differ() -> None:
    data = edited(lambda d: d["edge"][1]["green"].update(value="blue.shop.example.com"))
    assert_problem(data, "edge[1].green.value", "different from blue.value")


def test_route53_alias_needs_a_or_aaaa() -> None:
    data = edited(lambda d: d["edge"][1].update(alias_hosted_zone_id="Z35SXDOTRQ7X7K"))
    assert_problem(data, "edge[1].record_type", "'A' or 'AAAA'")


# --- structure ----------------------------------------------------------------------------------


def test_unknown_top_level_field() -> None:
    assert_problem(edited(lambda d: d.update(bogus=1)), "bogus", "unknown field 'bogus'", "requested_by")


def test_unknown_nested_field_suggests_the_right_name() -> None:
    data = edited(lambda d: d["ramp"].update(stepz=[1, 100]))
    assert_problem(data, "ramp.stepz", "did you mean 'steps'?")
    data = edited(lambda d: d["edge"][1].update(ttll=60))
    assert_problem(data, "edge[1].ttll", "did you mean 'ttl'?")


def test_unknown_edge_type() -> None:
    assert_problem(edited(lambda d: d["edge"][0].update(type="nlb")), "edge[0]", "'alb', 'route53', 'cloudfront'")


def test_missing_required_field() -> None:
    assert_problem(edited(lambda d: d.pop("requested_by")), "requested_by", "required")


def test_duplicate_alarm() -> None:
    assert_problem(edited(lambda d: d.update(alarms=["a", "b", "a"])), "alarms[2]", "alarms[0]")


def test_every_problem_is_listed_at_once() -> None:
    data = edited(
        lambda d: d.update(bogus=1),
        lambda d: d["ramp"].update(bake="-1"),
        lambda d: d["edge"][1]["green"].update(set_identifier="blue"),
        lambda d: d["blue"]["services"].append("frontend"),
    )
    paths = {p.path for p in problems_of(data)}
    assert paths == {"bogus", "ramp.bake", "edge[1].green.set_identifier", "blue.services[3]"}


def test_cross_field_rules_still_run_when_another_section_is_invalid() -> None:
    data = edited(
        lambda d: d["health"].update(interval="PT0S"),
        lambda d: d.update(approvers=["carol"]),
        lambda d: d["async_workers"][0].update(green_service="user-api-sc"),
    )
    paths = [p.path for p in problems_of(data)]
    assert paths == ["health.interval", "approvers", "async_workers[0].green_service"]


def test_problems_nested_in_another_model_keep_their_full_path() -> None:
    from pydantic import BaseModel

    class Wrapper(BaseModel):
        spec: MigrationSpec

    data = edited(lambda d: d["health"].update(interval="PT0S"), lambda d: d.update(approvers=["carol"]))
    with pytest.raises(ValidationError) as info:
        Wrapper.model_validate({"spec": data})
    found = format_problems(info.value, Wrapper)
    assert [p.path for p in found] == ["spec.health.interval", "spec.approvers"]
    assert found[0].message == "spec.health.interval: expected a positive duration, got 'PT0S'"


def test_format_problems_is_reusable_on_model_validate() -> None:
    with pytest.raises(ValidationError) as info:
        MigrationSpec.model_validate(edited(steps(1, 5, 3, 100)))
    (p,) = format_problems(info.value, MigrationSpec)
    assert p.path == "ramp.steps[2]"
    assert (
        p.message
        == "ramp.steps[2]: expected more than the previous step (steps[1] is 5): steps strictly increase, got 3"
    )


def test_valid_spec_round_trips_through_json() -> None:
    spec = load_spec(SHOP)
    again = MigrationSpec.model_validate(spec.model_dump(mode="json"))
    assert again == spec
