"""Every rule of the edge preflight, on facts written by hand (pure: no AWS), and how the plan
turns the findings into a planning error or warnings."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from meshshift.migration.contracts import BlueDiscovery, LoadBalancerAttachment
from meshshift.migration.edge.alb import (
    ALB,
    AlbActionFacts,
    AlbEdge,
    AlbFacts,
    AlbTargetGroupFacts,
    AlbWeightedTargetGroup,
)
from meshshift.migration.edge.base import GreenPorts, PreflightContext, PreflightProblem, preflight_error
from meshshift.migration.edge.cloudfront import (
    CLOUDFRONT,
    CloudFrontDistributionFacts,
    CloudFrontEdge,
    CloudFrontFacts,
)
from meshshift.migration.edge.route53 import ROUTE53, Route53Edge, Route53Facts, Route53RecordFacts
from meshshift.migration.loading import validate_spec
from meshshift.migration.plan import build_plan
from meshshift.migration.plan_preflight import EdgePreflightError, edge_preflight, judge
from meshshift.migration.spec import MigrationSpec
from tests.unit.meshdata import inventory
from tests.unit.specdata import BLUE_TG, CLOUDFRONT_EDGE, GREEN_TG, LISTENER, RULE, shop
from tests.unit.test_plan import blue_service, discovery

OTHER_TG = BLUE_TG.replace("shop-blue", "shop-admin")
RULE_2 = RULE[:-4] + "beef"


def fields(problems: list[PreflightProblem]) -> list[tuple[str, str]]:
    return [(p.severity, p.field) for p in problems]


# --- ALB ------------------------------------------------------------------------------------------


def alb_edge(rule_arn: str | None = None) -> AlbEdge:
    return AlbEdge(
        type="alb",
        listener_arn=LISTENER,
        rule_arn=rule_arn,
        blue_target_group_arn=BLUE_TG,
        green_target_group_arn=GREEN_TG,
    )


def action(
    rule_arn: str | None = None, priority: str = "default", conditions: tuple[str, ...] = (), **forwards: int
) -> AlbActionFacts:
    """An action forwarding to ``blue``/``green``/``other`` with the given weights."""
    arns = {"blue": BLUE_TG, "green": GREEN_TG, "other": OTHER_TG}
    return AlbActionFacts(
        rule_arn=rule_arn,
        priority=priority,
        conditions=list(conditions),
        action_types=["forward"] if forwards else ["fixed-response"],
        forwards=[AlbWeightedTargetGroup(target_group_arn=arns[k], weight=w) for k, w in forwards.items()],
    )


def target_group(arn: str, health_check_port: str = "traffic-port", found: bool = True) -> AlbTargetGroupFacts:
    return AlbTargetGroupFacts(
        target_group_arn=arn, found=found, port=8080, health_check_port=health_check_port, health_check_path="/health"
    )


def alb_facts(
    default: AlbActionFacts | None = None, rules: tuple[AlbActionFacts, ...] = (), green_port: str = "traffic-port"
) -> AlbFacts:
    return AlbFacts(
        shifter_id=ALB.shifter_id(alb_edge()),
        default_action=default if default is not None else action(blue=1),
        rules=list(rules),
        target_groups=[target_group(BLUE_TG), target_group(GREEN_TG, green_port)],
    )


def green_serving(*ports: int) -> PreflightContext:
    return PreflightContext(
        green=(GreenPorts("frontend", "frontend-sc", frozenset(ports), ((GREEN_TG, "app", ports[0]),)),)
    )


def alb(edge: AlbEdge, facts: AlbFacts, context: PreflightContext | None = None) -> list[PreflightProblem]:
    return ALB.preflight(edge, "edge[0]", facts, context or PreflightContext())


def test_alb_default_action_that_forwards_to_blue_passes() -> None:
    assert alb(alb_edge(), alb_facts(rules=(action(RULE, "5", ("path-pattern /admin/*"), other=1),))) == []


@pytest.mark.parametrize("pattern", ["path-pattern /*", "path-pattern *", "path-pattern /api/* or /*"])
def test_alb_default_action_behind_a_catch_all_rule_is_an_error_naming_that_rule(pattern: str) -> None:
    facts = alb_facts(rules=(action(RULE, "10", (pattern,), blue=1),))

    (problem,) = alb(alb_edge(), facts)

    assert (problem.severity, problem.field) == ("error", "edge[0].rule_arn")
    assert "matches every request" in problem.found and f"set rule_arn to {RULE}" in problem.next_step


def test_a_catch_all_rule_with_another_condition_does_not_take_every_request() -> None:
    facts = alb_facts(rules=(action(RULE, "10", ("path-pattern /*", "host-header a.example.com"), blue=1),))

    assert fields(alb(alb_edge(), facts)) == [("warning", "edge[0]")]


def test_alb_rule_edge_behind_a_catch_all_of_higher_priority_is_an_error() -> None:
    facts = alb_facts(rules=(action(RULE_2, "1", ("path-pattern /*",), other=1), action(RULE, "10", (), blue=1)))

    (problem,) = alb(alb_edge(RULE), facts)

    assert problem.field == "edge[0].rule_arn" and RULE_2 in problem.found
    assert "none forwards" not in problem.next_step


def test_another_rule_that_also_sends_to_blue_is_a_warning_naming_it() -> None:
    facts = alb_facts(rules=(action(RULE, "10", ("path-pattern /api/*",), blue=1),))

    (problem,) = alb(alb_edge(), facts)

    assert (problem.severity, problem.field) == ("warning", "edge[0]")
    assert f"rule_arn {RULE}" in problem.next_step


def test_a_rule_another_edge_of_the_spec_shifts_is_no_warning() -> None:
    facts = alb_facts(rules=(action(RULE, "10", ("path-pattern /api/*",), blue=1),))
    both = PreflightContext(edges=(alb_edge(), alb_edge(RULE)))

    assert alb(alb_edge(), facts, both) == []
    assert alb(alb_edge(RULE), facts, both) == []
    assert fields(alb(alb_edge(RULE), facts)) == [("warning", "edge[0]")]  # the default action, unshifted


def test_a_rule_that_is_not_on_the_listener_is_an_error_naming_the_one_that_is() -> None:
    facts = alb_facts(default=action(other=1), rules=(action(RULE_2, "3", ("path-pattern /*",), blue=1),))

    (problem,) = alb(alb_edge(RULE), facts)

    assert problem.field == "edge[0].rule_arn" and RULE_2 in problem.next_step


def test_shifted_action_that_does_not_forward_to_blue_names_the_rule_that_does() -> None:
    facts = alb_facts(default=action(other=1), rules=(action(RULE, "10", ("host-header api.example.com",), blue=1),))

    (problem,) = alb(alb_edge(), facts)

    assert (problem.severity, problem.field) == ("error", "edge[0].rule_arn")
    assert OTHER_TG in problem.found and RULE in problem.next_step


def test_shifted_action_without_a_single_forward_is_an_error() -> None:
    assert fields(alb(alb_edge(), alb_facts(default=action()))) == [("error", "edge[0].rule_arn")]


def test_missing_listener_and_target_groups_are_errors_on_their_fields() -> None:
    gone = AlbFacts(shifter_id="x", listener_found=False)
    assert fields(alb(alb_edge(), gone)) == [("error", "edge[0].listener_arn")]
    facts = alb_facts()
    facts.target_groups[0] = target_group(BLUE_TG, found=False)
    assert fields(alb(alb_edge(), facts)) == [("error", "edge[0].blue_target_group_arn")]


def test_green_health_check_on_envoys_admin_port_is_an_error() -> None:
    (problem,) = alb(alb_edge(), alb_facts(green_port="9901"), green_serving(8080))

    assert (problem.severity, problem.field) == ("error", "edge[0].green_target_group_arn")
    assert "Envoy's admin port" in problem.found and "--health-check-port traffic-port" in problem.next_step


def test_green_health_check_on_a_port_green_does_not_serve_is_an_error() -> None:
    (problem,) = alb(alb_edge(), alb_facts(green_port="15000"), green_serving(8080, 8081))

    assert problem.field == "edge[0].green_target_group_arn" and "8080, 8081" in problem.expected


@pytest.mark.parametrize("port", ["traffic-port", "8081"])
def test_green_health_check_on_traffic_port_or_a_served_port_passes(port: str) -> None:
    assert alb(alb_edge(), alb_facts(green_port=port), green_serving(8080, 8081)) == []


def test_without_facts_or_when_unreadable_nothing_stops_the_plan() -> None:
    assert ALB.preflight(alb_edge(), "edge[0]", None, PreflightContext()) == []
    unreadable = AlbFacts(shifter_id="x", unreadable="AccessDenied")
    assert fields(alb(alb_edge(), unreadable)) == [("warning", "edge[0]")]


# --- Route 53 -------------------------------------------------------------------------------------


def r53_edge() -> Route53Edge:
    return Route53Edge.model_validate(shop()["edge"][1])


def record(side: str, found: bool = True, routing: str = "weighted", value: str | None = None) -> Route53RecordFacts:
    return Route53RecordFacts(
        set_identifier=side,
        found=found,
        routing=routing if found else None,
        weight=1 if found and routing == "weighted" else None,
        value=(value or f"{side}.shop.example.com") if found else None,
    )


def r53(*records: Route53RecordFacts, **extra: Any) -> list[PreflightProblem]:
    facts = Route53Facts(shifter_id=ROUTE53.shifter_id(r53_edge()), records=list(records), **extra)
    return ROUTE53.preflight(r53_edge(), "edge[1]", facts, PreflightContext())


def test_route53_weighted_records_pointing_where_the_spec_says_pass() -> None:
    assert r53(record("blue", value="Blue.Shop.Example.com."), record("green")) == []


def test_route53_missing_records_are_warnings_they_may_be_created() -> None:
    assert fields(r53(record("blue", found=False), record("green", found=False))) == [
        ("warning", "edge[1].blue.set_identifier"),
        ("warning", "edge[1].green.set_identifier"),
    ]


def test_route53_missing_record_names_the_set_identifiers_there_are() -> None:
    (problem,) = r53(record("blue", found=False), record("green"), other_set_identifiers=["Blue"])
    assert problem.field == "edge[1].blue.set_identifier" and "'Blue'" in problem.found


def test_route53_alias_target_with_the_dualstack_prefix_is_the_same_target() -> None:
    assert r53(record("blue", value="dualstack.blue.shop.example.com."), record("green")) == []


def test_route53_records_that_are_not_weighted_are_errors() -> None:
    problems = r53(record("blue", routing="latency"), record("green"))
    assert fields(problems) == [("error", "edge[1].blue.set_identifier")]
    assert problems[0].found == "a latency record"


def test_route53_simple_record_beside_is_an_error_and_a_missing_zone_too() -> None:
    assert fields(r53(record("blue"), record("green"), simple_record=True)) == [("error", "edge[1].record_name")]
    assert fields(r53(zone_found=False)) == [("error", "edge[1].hosted_zone_id")]


def test_route53_blue_pointing_elsewhere_is_an_error_green_a_warning() -> None:
    problems = r53(record("blue", value="old.shop.example.com"), record("green", value="new.example.com"))
    assert fields(problems) == [("error", "edge[1].blue.value"), ("warning", "edge[1].green.value")]
    assert "old.shop.example.com" in problems[0].next_step


def test_route53_unreadable_is_a_warning() -> None:
    assert fields(r53(unreadable="AccessDenied")) == [("warning", "edge[1]")]


# --- CloudFront -----------------------------------------------------------------------------------


def cf_edge() -> CloudFrontEdge:
    return CloudFrontEdge.model_validate(CLOUDFRONT_EDGE)


def distribution(distribution_id: str, staging: bool, found: bool = True, **extra: Any) -> CloudFrontDistributionFacts:
    return CloudFrontDistributionFacts(
        distribution_id=distribution_id,
        found=found,
        staging=staging if found else None,
        domain_name=f"{distribution_id.lower()}.cloudfront.net" if found else None,
        **extra,
    )


def cf_facts(**changes: Any) -> CloudFrontFacts:
    edge = cf_edge()
    base = CloudFrontFacts(
        shifter_id=CLOUDFRONT.shifter_id(edge),
        primary=distribution(
            edge.distribution_id, False, continuous_deployment_policy_id=edge.continuous_deployment_policy_id
        ),
        staging=distribution(edge.staging_distribution_id, True),
        policy_enabled=True,
        policy_traffic_type="SingleWeight",
        policy_weight=0.0,
        policy_staging_dns_names=[f"{edge.staging_distribution_id.lower()}.cloudfront.net"],
        same_routing=False,
    )
    return base.model_copy(update=changes)


def cf(facts: CloudFrontFacts) -> list[PreflightProblem]:
    return CLOUDFRONT.preflight(cf_edge(), "edge[2]", facts, PreflightContext())


def test_cloudfront_ready_for_a_staging_weight_passes() -> None:
    assert cf(cf_facts()) == []


def test_cloudfront_missing_distributions_and_policy_are_errors() -> None:
    edge = cf_edge()
    assert fields(cf(cf_facts(primary=distribution(edge.distribution_id, False, found=False)))) == [
        ("error", "edge[2].distribution_id")
    ]
    assert ("error", "edge[2].staging_distribution_id") in fields(
        cf(cf_facts(staging=distribution(edge.staging_distribution_id, True, found=False)))
    )
    assert fields(cf(cf_facts(policy_found=False))) == [("error", "edge[2].continuous_deployment_policy_id")]


def test_cloudfront_staging_that_is_not_a_staging_distribution_is_an_error() -> None:
    edge = cf_edge()
    problems = cf(cf_facts(staging=distribution(edge.staging_distribution_id, False)))
    assert fields(problems) == [("error", "edge[2].staging_distribution_id")]


def test_cloudfront_policy_attached_elsewhere_or_for_another_staging_is_an_error() -> None:
    edge = cf_edge()
    detached = distribution(edge.distribution_id, False, continuous_deployment_policy_id="other-policy")
    assert fields(cf(cf_facts(primary=detached))) == [("error", "edge[2].continuous_deployment_policy_id")]
    assert fields(cf(cf_facts(policy_staging_dns_names=["x.cloudfront.net"]))) == [
        ("error", "edge[2].staging_distribution_id")
    ]


def test_cloudfront_header_policy_traffic_already_staged_and_unchanged_staging_are_warnings() -> None:
    assert fields(cf(cf_facts(policy_traffic_type="SingleHeader"))) == [
        ("warning", "edge[2].continuous_deployment_policy_id")
    ]
    assert fields(cf(cf_facts(policy_weight=0.1))) == [("warning", "edge[2].continuous_deployment_policy_id")]
    assert fields(cf(cf_facts(same_routing=True))) == [("warning", "edge[2].staging_distribution_id")]


# --- the plan -------------------------------------------------------------------------------------


@pytest.fixture
def spec() -> MigrationSpec:
    return validate_spec(shop())


def with_facts(found: BlueDiscovery, *facts: Any) -> BlueDiscovery:
    return found.model_copy(update={"edge_facts": list(facts)})


def test_an_error_stops_the_plan_naming_every_field(spec: MigrationSpec) -> None:
    facts = alb_facts(rules=(action(RULE, "10", ("path-pattern /*",), blue=1),), green_port="9901")
    facts = facts.model_copy(update={"shifter_id": ALB.shifter_id(spec.edge[0])})
    r53_facts = Route53Facts(
        shifter_id=ROUTE53.shifter_id(spec.edge[1]), records=[record("blue", found=False), record("green")]
    )

    with pytest.raises(EdgePreflightError) as info:
        build_plan(spec, with_facts(discovery(), facts, r53_facts))

    text = str(info.value)
    assert isinstance(info.value, ValueError)  # the workflow and the CLI say "planning failed: ..." for it
    assert text.startswith("edge preflight: 2 errors\n")
    assert "error edge[0].rule_arn: expected" in text and "error edge[0].green_target_group_arn" in text
    assert "warning edge[1].blue.set_identifier" in text


def test_warnings_go_into_the_plan_prefixed_and_structured(spec: MigrationSpec) -> None:
    r53_facts = Route53Facts(
        shifter_id=ROUTE53.shifter_id(spec.edge[1]), records=[record("blue", found=False), record("green")]
    )
    found = with_facts(discovery(), alb_facts().model_copy(update={"shifter_id": ALB.shifter_id(spec.edge[0])}))

    plan = build_plan(spec, with_facts(found, *found.edge_facts, r53_facts))

    edge_warnings = [w for w in plan.warnings if w.startswith("edge preflight: ")]
    assert edge_warnings == ["edge preflight: " + plan.preflight[0].field + ": " + edge_warnings[0].split(": ", 2)[2]]
    assert [(f.severity, f.field) for f in plan.preflight] == [("warning", "edge[1].blue.set_identifier")]


def test_a_history_without_edge_facts_plans_as_before(spec: MigrationSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = build_plan(spec, discovery())
    assert plan.preflight == [] and not [w for w in plan.warnings if w.startswith("edge preflight")]
    # A mechanism that reports an error without facts is heard, but cannot stop an old history's plan.
    monkeypatch.setattr(ALB, "preflight", lambda *_: [preflight_error("edge[0].x", "a", "b")])
    problems = edge_preflight(spec, discovery(), [])
    assert fields(problems) == [("warning", "edge[0].x")]
    assert judge(problems)[0] == ["edge preflight: edge[0].x: expected a, found b"]


def test_a_service_found_by_an_alb_dns_name_is_a_warning_naming_it(spec: MigrationSpec) -> None:
    found = discovery()
    hostname = "internal-shop-1234567890.us-east-1.elb.amazonaws.com"
    found = found.model_copy(
        update={
            "appmesh": inventory(dns_hostname=hostname, cloud_map_service=None, cloud_map_namespace=None),
            "services": [
                blue_service(
                    "frontend",
                    virtual_node_name="user-api-vn",
                    load_balancers=[
                        LoadBalancerAttachment(target_group_arn=BLUE_TG, container_name="app", container_port=8080)
                    ],
                ),
                blue_service("user-api"),
                *found.services[2:],
            ],
        }
    )

    plan = build_plan(spec, found)

    (finding,) = plan.preflight
    assert (finding.severity, finding.field) == ("warning", "blue.services[0]")
    assert hostname in finding.found and "internal-shop-1234567890" in finding.found


def test_edge_facts_travel_as_json_and_an_old_discovery_still_decodes() -> None:
    found = with_facts(discovery(), alb_facts(), Route53Facts(shifter_id="r"), cf_facts())
    payload = pydantic_data_converter.payload_converter.to_payloads([found])
    (back,) = pydantic_data_converter.payload_converter.from_payloads(payload, [BlueDiscovery])
    assert [type(f) for f in back.edge_facts] == [AlbFacts, Route53Facts, CloudFrontFacts]
    assert back == found
    old = found.model_dump(mode="json")
    del old["edge_facts"]
    assert BlueDiscovery.model_validate(old).edge_facts == []
