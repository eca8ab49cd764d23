"""Each shifter's read-only ``inspect()`` against the simulated AWS, and its mechanism's preflight
judging what was read: the edge as it is today, before the plan."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from temporalio.exceptions import ApplicationError

from meshshift.activities.aws import AwsClients
from meshshift.activities.edge.alb import AlbShifter
from meshshift.activities.edge.cloudfront import CloudFrontShifter
from meshshift.activities.edge.inspect import inspect_edges
from meshshift.activities.edge.route53 import Route53Shifter
from meshshift.migration.edge.alb import ALB, AlbEdge, AlbFacts
from meshshift.migration.edge.base import EdgeFacts, GreenPorts, PreflightContext, PreflightProblem
from meshshift.migration.edge.cloudfront import CLOUDFRONT, CloudFrontEdge, CloudFrontFacts
from meshshift.migration.edge.route53 import ROUTE53, Route53Edge, Route53Facts
from tests.activities.test_edge_alb import CTX, make_alb
from tests.activities.test_edge_cloudfront import make_distributions
from tests.activities.test_edge_route53 import make_zone
from tests.activities.throttle import no_retry_backoff, throttle_once

__all__ = ["no_retry_backoff"]

pytestmark = pytest.mark.usefixtures("aws_inprocess")


def calls_made(clients: AwsClients, service: str) -> list[str]:
    """Names of the operations ``clients``' client for ``service`` sends from now on."""
    calls: list[str] = []
    getattr(clients, service)(CTX).meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    return calls


def fields(problems: list[PreflightProblem]) -> list[tuple[str, str]]:
    return [(p.severity, p.field) for p in problems]


# --- ALB ------------------------------------------------------------------------------------------


def alb_facts(clients: AwsClients, edge: AlbEdge) -> AlbFacts:
    facts = AlbShifter(edge, clients, CTX).inspect()
    assert isinstance(facts, AlbFacts) and facts.shifter_id == ALB.shifter_id(edge)
    return facts


def test_alb_inspect_reads_default_action_rules_and_target_groups_and_writes_nothing(aws_clients: AwsClients) -> None:
    edge, tgs = make_alb(rule=True, third_group=True)
    calls = calls_made(aws_clients, "elbv2")

    facts = alb_facts(aws_clients, edge)

    assert all(c.startswith("Describe") for c in calls) and calls
    assert facts.listener_found and facts.unreadable is None
    assert facts.default_action is not None and facts.default_action.rule_arn is None
    assert [(f.target_group_arn, f.weight) for f in facts.default_action.forwards] == [(tgs["blue"], 1)]
    (rule,) = facts.rules
    assert (rule.rule_arn, rule.priority, rule.conditions) == (edge.rule_arn, "10", ["path-pattern /api/*"])
    assert [(f.target_group_arn, f.weight) for f in rule.forwards] == [(tgs["blue"], 1), (tgs["canary"], 7)]
    green = facts.target_group(tgs["green"])
    assert green is not None and green.found and green.port == 80 and green.health_check_port == "traffic-port"


def test_alb_default_action_behind_a_catch_all_rule_is_an_error_naming_the_rule(aws_clients: AwsClients) -> None:
    edge, tgs = make_alb()
    catch_all = boto3.client("elbv2", region_name="us-east-1").create_rule(
        ListenerArn=edge.listener_arn,
        Priority=1,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": tgs["blue"]}],
    )["Rules"][0]["RuleArn"]

    problems = ALB.preflight(edge, "edge[0]", alb_facts(aws_clients, edge), PreflightContext())

    assert fields(problems) == [("error", "edge[0].rule_arn")]
    assert "matches every request" in problems[0].found and catch_all in problems[0].next_step
    # Pointed at the rule, the same edge passes.
    fixed = edge.model_copy(update={"rule_arn": catch_all})
    assert ALB.preflight(fixed, "edge[0]", alb_facts(aws_clients, fixed), PreflightContext()) == []


def test_alb_green_health_check_on_envoys_admin_port_is_an_error(aws_clients: AwsClients) -> None:
    edge, tgs = make_alb(rule=True)
    boto3.client("elbv2", region_name="us-east-1").modify_target_group(
        TargetGroupArn=tgs["green"], HealthCheckPort="9901", HealthCheckPath="/ready"
    )
    green = PreflightContext(green=(GreenPorts("shop", "shop-sc", frozenset({8080}), ((tgs["green"], "app", 8080),)),))

    problems = ALB.preflight(edge, "edge[0]", alb_facts(aws_clients, edge), green)

    # make_alb's default action forwards to blue as well: its requests would stay on blue.
    assert fields(problems) == [("warning", "edge[0]"), ("error", "edge[0].green_target_group_arn")]
    assert "the listener's default action sends to it" in problems[0].found
    assert "9901 path /ready" in problems[1].found and "traffic-port" in problems[1].next_step


def test_alb_missing_listener_and_target_group_are_facts_not_failures(aws_clients: AwsClients) -> None:
    edge, _ = make_alb()
    gone = edge.model_copy(update={"listener_arn": edge.listener_arn + "0"})
    assert not alb_facts(aws_clients, gone).listener_found
    no_green = edge.model_copy(update={"green_target_group_arn": edge.green_target_group_arn + "0"})

    problems = ALB.preflight(no_green, "edge[1]", alb_facts(aws_clients, no_green), PreflightContext())

    assert fields(problems) == [("error", "edge[1].green_target_group_arn")]


def test_alb_access_denied_is_recorded_and_a_throttle_is_retried(
    aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    edge, _ = make_alb()
    throttle_once(aws_clients.elbv2(CTX), "DescribeRules", "AccessDenied")

    facts = alb_facts(aws_clients, edge)

    assert facts.unreadable is not None and "AccessDenied" in facts.unreadable
    assert fields(ALB.preflight(edge, "edge[0]", facts, PreflightContext())) == [("warning", "edge[0]")]
    throttled = throttle_once(aws_clients.elbv2(CTX), "DescribeListeners", "Throttling")
    assert alb_facts(aws_clients, edge).unreadable is None and throttled.fired == 1


def test_alb_error_after_botocores_retries_stays_retryable(aws_clients: AwsClients, no_retry_backoff: None) -> None:
    edge, _ = make_alb()
    throttle_once(aws_clients.elbv2(CTX), "DescribeListeners", "Throttling", times=100)  # beyond botocore's tries

    with pytest.raises(ApplicationError) as info:
        AlbShifter(edge, aws_clients, CTX).inspect()

    assert not info.value.non_retryable and info.value.type == "Throttling"


# --- Route 53 -------------------------------------------------------------------------------------


def upsert(edge: Route53Edge, *records: dict[str, Any]) -> None:
    boto3.client("route53").change_resource_record_sets(
        HostedZoneId=edge.hosted_zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {"Name": edge.record_name, "Type": edge.record_type, "TTL": 30, **r},
                }
                for r in records
            ]
        },
    )


def weighted(edge: Route53Edge, side: str, weight: int, value: str | None = None) -> dict[str, Any]:
    record = getattr(edge, side)
    return {
        "SetIdentifier": record.set_identifier,
        "Weight": weight,
        "ResourceRecords": [{"Value": value or record.value}],
    }


def route53_facts(clients: AwsClients, edge: Route53Edge) -> Route53Facts:
    facts = Route53Shifter(edge, clients, CTX).inspect()
    assert isinstance(facts, Route53Facts) and facts.shifter_id == ROUTE53.shifter_id(edge)
    return facts


def test_route53_weighted_records_as_the_spec_says_pass(aws_clients: AwsClients) -> None:
    edge = make_zone()
    upsert(edge, weighted(edge, "blue", 100), weighted(edge, "green", 0))
    calls = calls_made(aws_clients, "route53")

    facts = route53_facts(aws_clients, edge)

    assert calls == ["ListResourceRecordSets"]
    assert [(r.set_identifier, r.found, r.routing, r.weight) for r in facts.records] == [
        ("blue", True, "weighted", 100),
        ("green", True, "weighted", 0),
    ]
    assert ROUTE53.preflight(edge, "edge[0]", facts, PreflightContext()) == []


def test_route53_missing_records_warn_and_a_repointed_blue_is_an_error(aws_clients: AwsClients) -> None:
    edge = make_zone()
    assert fields(ROUTE53.preflight(edge, "edge[0]", route53_facts(aws_clients, edge), PreflightContext())) == [
        ("warning", "edge[0].blue.set_identifier"),
        ("warning", "edge[0].green.set_identifier"),
    ]
    upsert(edge, weighted(edge, "blue", 100, "old-blue.example.com"), weighted(edge, "green", 0))

    problems = ROUTE53.preflight(edge, "edge[0]", route53_facts(aws_clients, edge), PreflightContext())

    assert fields(problems) == [("error", "edge[0].blue.value")]
    assert problems[0].expected.startswith("old-blue.example.com")


def test_route53_records_that_are_not_weighted_are_errors(aws_clients: AwsClients) -> None:
    edge = make_zone()
    upsert(
        edge,
        {"SetIdentifier": "blue", "Failover": "PRIMARY", "ResourceRecords": [{"Value": edge.blue.value}]},
        {"SetIdentifier": "green", "Failover": "SECONDARY", "ResourceRecords": [{"Value": edge.green.value}]},
    )

    problems = ROUTE53.preflight(edge, "edge[0]", route53_facts(aws_clients, edge), PreflightContext())

    assert fields(problems) == [("error", "edge[0].blue.set_identifier"), ("error", "edge[0].green.set_identifier")]
    assert problems[0].found == "a failover record"


def test_route53_simple_record_of_the_name_and_missing_zone(aws_clients: AwsClients) -> None:
    edge = make_zone()
    upsert(edge, {"ResourceRecords": [{"Value": edge.blue.value}]})
    facts = route53_facts(aws_clients, edge)
    assert facts.simple_record
    assert ("error", "edge[0].record_name") in fields(ROUTE53.preflight(edge, "edge[0]", facts, PreflightContext()))

    gone = edge.model_copy(update={"hosted_zone_id": "Z0000000000NONE"})
    facts = route53_facts(aws_clients, gone)
    assert not facts.zone_found
    assert fields(ROUTE53.preflight(gone, "edge[0]", facts, PreflightContext())) == [
        ("error", "edge[0].hosted_zone_id")
    ]


# --- CloudFront -----------------------------------------------------------------------------------


def cloudfront_facts(clients: AwsClients, edge: CloudFrontEdge) -> CloudFrontFacts:
    facts = CloudFrontShifter(edge, clients, CTX).inspect()
    assert isinstance(facts, CloudFrontFacts) and facts.shifter_id == CLOUDFRONT.shifter_id(edge)
    return facts


def test_cloudfront_ready_for_staging_passes_and_inspect_only_reads(aws_clients: AwsClients) -> None:
    edge = make_distributions()
    calls = calls_made(aws_clients, "cloudfront")

    facts = cloudfront_facts(aws_clients, edge)

    assert calls and all(c.startswith("Get") for c in calls)
    assert facts.primary is not None and facts.primary.found
    assert facts.primary.continuous_deployment_policy_id == edge.continuous_deployment_policy_id
    assert facts.staging is not None and facts.staging.found and facts.staging.domain_name
    assert facts.staging.domain_name in facts.policy_staging_dns_names
    assert (facts.policy_traffic_type, facts.same_routing) == ("SingleWeight", False)
    assert CLOUDFRONT.preflight(edge, "edge[2]", facts, PreflightContext()) == []


def test_cloudfront_policy_not_attached_and_green_already_served_are_reported(aws_clients: AwsClients) -> None:
    edge = make_distributions(attach=False, weight=0.05)

    problems = CLOUDFRONT.preflight(edge, "edge[2]", cloudfront_facts(aws_clients, edge), PreflightContext())

    assert fields(problems) == [
        ("error", "edge[2].continuous_deployment_policy_id"),
        ("warning", "edge[2].continuous_deployment_policy_id"),
    ]
    assert problems[0].found == "attached: none"


def test_cloudfront_missing_distribution_and_swapped_ids(aws_clients: AwsClients) -> None:
    edge = make_distributions()
    gone = edge.model_copy(update={"distribution_id": "E0000000000NONE"})
    assert ("error", "edge[0].distribution_id") in fields(
        CLOUDFRONT.preflight(gone, "edge[0]", cloudfront_facts(aws_clients, gone), PreflightContext())
    )
    swapped = edge.model_copy(
        update={"distribution_id": edge.staging_distribution_id, "staging_distribution_id": edge.distribution_id}
    )
    found = fields(CLOUDFRONT.preflight(swapped, "edge[0]", cloudfront_facts(aws_clients, swapped), PreflightContext()))
    assert ("error", "edge[0].staging_distribution_id") in found


# --- all edges at once, as discovery calls it -----------------------------------------------------


def test_inspect_edges_reads_every_edge_in_spec_order(aws_clients: AwsClients) -> None:
    alb, _ = make_alb()
    zone = make_zone()
    cloudfront = make_distributions()

    facts: list[EdgeFacts] = inspect_edges(aws_clients, CTX, [zone, alb, cloudfront])

    assert [f.type for f in facts] == ["route53", "alb", "cloudfront"]
