"""ALB shifter and the edge activities: weights on a listener's default action or a rule."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.activities.edge.base import READBACK_MISMATCH, WEIGHTS_REFUSED
from meshshift.migration import plan
from meshshift.migration.contracts import (
    AwsContext,
    ReadEdgeWeightsInput,
    SetEdgeWeightsInput,
    ShifterTarget,
    ShifterWeights,
)
from meshshift.migration.edge.alb import AlbEdge
from tests.activities.throttle import no_retry_backoff, throttle_once

__all__ = ["no_retry_backoff"]

CTX = AwsContext(region="us-east-1")


def make_alb(rule: bool = False, sticky: bool = False, third_group: bool = False) -> tuple[AlbEdge, dict[str, str]]:
    """A load balancer whose listener (or rule) forwards to blue only, as before a migration."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate("ab")
    ]
    lb = elbv2.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tgs = {
        name: elbv2.create_target_group(Name=f"shop-{name}", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for name in ("blue", "green", "canary")
    }
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs["blue"]}],
    )["Listeners"][0]["ListenerArn"]
    rule_arn = None
    if rule:
        groups: list[dict[str, Any]] = [{"TargetGroupArn": tgs["blue"], "Weight": 1}]
        if third_group:
            groups.append({"TargetGroupArn": tgs["canary"], "Weight": 7})
        forward: dict[str, Any] = {"TargetGroups": groups}
        if sticky:
            forward["TargetGroupStickinessConfig"] = {"Enabled": True, "DurationSeconds": 3600}
        rule_arn = elbv2.create_rule(
            ListenerArn=listener,
            Priority=10,
            Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
            Actions=[{"Type": "forward", "ForwardConfig": forward}],
        )["Rules"][0]["RuleArn"]
    edge = AlbEdge(
        type="alb",
        listener_arn=listener,
        rule_arn=rule_arn,
        blue_target_group_arn=tgs["blue"],
        green_target_group_arn=tgs["green"],
    )
    return edge, tgs


def weights(edge: AlbEdge, blue: int, green: int) -> ShifterWeights:
    return ShifterWeights(shifter_id=plan.shifter_id(edge), mechanism="alb", blue=blue, green=green)


def set_weights(clients: AwsClients, edge: AlbEdge, blue: int, green: int) -> Any:
    acts = EdgeActivities(clients)
    target = ShifterTarget(edge=edge, weights=weights(edge, blue, green))
    return ActivityEnvironment().run(acts.set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=[target]))


def forward_action(edge: AlbEdge) -> dict[str, Any]:
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    if edge.rule_arn:
        actions = elbv2.describe_rules(RuleArns=[edge.rule_arn])["Rules"][0]["Actions"]
    else:
        actions = elbv2.describe_listeners(ListenerArns=[edge.listener_arn])["Listeners"][0]["DefaultActions"]
    return next(a for a in actions if a["Type"] == "forward")


def test_default_action_from_single_target_forward(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge, tgs = make_alb()
    before = ActivityEnvironment().run(
        EdgeActivities(aws_clients).read_edge_weights, ReadEdgeWeightsInput(aws=CTX, edges=[edge])
    )
    assert before.readings[0].green_percent == 0
    assert "single-target forward" in before.readings[0].detail

    result = set_weights(aws_clients, edge, 990, 10)

    reading = result.readings[0]
    assert (reading.blue, reading.green, reading.green_percent) == (990, 10, 1.0)
    assert reading.shifter_id == f"alb:{edge.listener_arn}"
    groups = {g["TargetGroupArn"]: g["Weight"] for g in forward_action(edge)["ForwardConfig"]["TargetGroups"]}
    assert groups == {tgs["blue"]: 990, tgs["green"]: 10}


def test_rule_keeps_stickiness_and_other_target_groups(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge, tgs = make_alb(rule=True, sticky=True, third_group=True)

    result = set_weights(aws_clients, edge, 500, 500)

    forward = forward_action(edge)["ForwardConfig"]
    assert forward["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 3600}
    groups = {g["TargetGroupArn"]: g["Weight"] for g in forward["TargetGroups"]}
    assert groups == {tgs["blue"]: 500, tgs["green"]: 500, tgs["canary"]: 7}
    assert result.readings[0].green_percent == 50
    assert "stickiness 3600 s" in result.readings[0].detail
    assert result.readings[0].shifter_id == f"alb:{edge.rule_arn}"


def test_repeat_after_success_writes_nothing(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge, _ = make_alb()
    first = set_weights(aws_clients, edge, 750, 250)
    calls: list[str] = []
    aws_clients.elbv2(CTX).meta.events.register("before-call", lambda model, **_: calls.append(model.name))

    second = set_weights(aws_clients, edge, 750, 250)

    assert second == first
    assert "ModifyListener" not in calls


def test_throttled_write_succeeds_on_retry(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    edge, _ = make_alb()
    throttled = throttle_once(aws_clients.elbv2(CTX), "ModifyListener", "Throttling")

    result = set_weights(aws_clients, edge, 0, 999)

    assert throttled.fired == 1
    assert result.readings[0].green_percent == 100


def test_missing_listener_is_permanent_and_names_it(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge, _ = make_alb()
    missing = edge.model_copy(update={"listener_arn": edge.listener_arn + "0"})

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, missing, 999, 0)

    assert info.value.non_retryable
    assert missing.listener_arn in str(info.value)
    assert "ListenerNotFound" in str(info.value)


@pytest.mark.parametrize(("blue", "green"), [(1000, 0), (0, 0), (-1, 5)])
def test_out_of_range_weights_refused_before_any_call(
    aws_inprocess: None, aws_clients: AwsClients, blue: int, green: int
) -> None:
    edge, _ = make_alb()
    calls: list[str] = []
    aws_clients.elbv2(CTX).meta.events.register("before-call", lambda model, **_: calls.append(model.name))

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, blue, green)

    assert info.value.non_retryable and info.value.type == WEIGHTS_REFUSED
    assert calls == []


def test_readback_mismatch_is_reported_with_what_was_found(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge, tgs = make_alb()
    client = aws_clients.elbv2(CTX)

    def someone_else_reverts(parsed: dict[str, Any], **_: Any) -> None:
        # The write's response is the read-back (it carries the listener's actions as AWS holds
        # them): pretend another writer reverted green in between.
        for action in parsed["Listeners"][0]["DefaultActions"]:
            for group in action.get("ForwardConfig", {}).get("TargetGroups", []):
                if group["TargetGroupArn"] == tgs["green"]:
                    group["Weight"] = 0

    client.meta.events.register("after-call.elastic-load-balancing-v2.ModifyListener", someone_else_reverts)

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 750, 250)

    assert info.value.type == READBACK_MISMATCH
    assert "wrote blue=750 green=250" in str(info.value)
    assert "read back blue=750 green=0" in str(info.value)


def test_round_trip_in_server_mode(aws_server_env: str, aws_clients: AwsClients) -> None:
    edge, _ = make_alb(rule=True)
    set_weights(aws_clients, edge, 950, 50)

    result = ActivityEnvironment().run(
        EdgeActivities(aws_clients).read_edge_weights, ReadEdgeWeightsInput(aws=CTX, edges=[edge])
    )

    assert aws_clients.elbv2(CTX).meta.endpoint_url == aws_server_env
    assert (result.readings[0].blue, result.readings[0].green, result.readings[0].green_percent) == (950, 50, 5.0)


def test_a_weight_change_is_two_calls_the_write_answering_the_read_back(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    edge, _ = make_alb()
    set_weights(aws_clients, edge, 750, 250)
    calls: list[str] = []
    aws_clients.elbv2(CTX).meta.events.register(
        "before-parameter-build.elastic-load-balancing-v2.*", lambda model, **_: calls.append(model.name)
    )

    result = set_weights(aws_clients, edge, 999, 0)  # a rollback

    assert result.readings[0].green_percent == 0
    assert calls == ["DescribeListeners", "ModifyListener"]
