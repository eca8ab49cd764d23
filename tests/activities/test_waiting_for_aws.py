"""The activities' reaction to AWS taking its time, against the simulated account on a ManualClock.

- a CloudFront weight change is read back and judged only once the primary distribution is
  Deployed again (the Route 53 counterpart, INSYNC, is in test_edge_route53.py; validation waiting
  for green's own targets to turn healthy is in test_health.py);
- decommission deletes blue's target group only once the targets of blue's deleted tasks have
  drained, heartbeating meanwhile.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.decommission import DecommissionActivities
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.activities.edge.base import ShifterOptions
from meshshift.migration.contracts import (
    AwsContext,
    DeleteServicesInput,
    DeleteTargetGroupsInput,
    SetEdgeWeightsInput,
    ShifterTarget,
)
from meshshift.sim.aws.settings import ManualClock
from tests.activities import conftest_local as blue
from tests.activities.test_edge_cloudfront import make_distributions, weights

CTX = AwsContext(region="us-east-1")


def test_a_cloudfront_weight_is_judged_only_once_the_primary_is_deployed(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    edge = make_distributions(weight=0.0)
    sim_clock.advance(600)  # the seeded distributions have deployed
    events: list[str] = []  # call names, GetDistribution with the status it answered
    cf = aws_clients.cloudfront(CTX)
    cf.meta.events.register("before-call.cloudfront.*", lambda model, **_: events.append(model.name))

    def status(parsed: dict[str, Any], **_: Any) -> None:
        events[-1] += ":" + parsed["Distribution"]["Status"]

    cf.meta.events.register("after-call.cloudfront.GetDistribution", status)
    options = ShifterOptions(poll_interval=timedelta(seconds=20), sleep=sim_clock.advance)
    target = ShifterTarget(edge=edge, weights=weights(edge, 0.05))
    result = ActivityEnvironment().run(
        EdgeActivities(aws_clients, options=options).set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=[target])
    )

    after = events[events.index("UpdateContinuousDeploymentPolicy") + 1 :]
    waits = [e for e in after if e.startswith("GetDistribution")]
    # The primary redeploys (InProgress for minutes), polled until Deployed ...
    assert waits[0] == "GetDistribution:InProgress" and "GetDistribution:Deployed" in waits
    # ... and only then judged: the poll that read Deployed is the last call, and the policy is
    # judged from the update's own answer (no read of it after the write).
    assert after[-1] == "GetDistribution:Deployed"
    assert "GetContinuousDeploymentPolicyConfig" not in after
    (reading,) = result.readings
    assert reading.in_sync and reading.green == 0.05


def test_decommission_waits_out_blues_draining_targets_before_deleting_the_group(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    app = blue.seed_blue(with_mesh=False, services=["frontend"])
    sim_clock.advance(600)  # blue has been running a long time
    group = app.target_groups["frontend"]
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    # The cutover happened: the rule forwards everything to green, blue stays in it at weight 0.
    (rule,) = [r for r in elbv2.describe_rules(ListenerArn=app.listener_arn)["Rules"] if not r["IsDefault"]]
    forward = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": group, "Weight": 0},
                {"TargetGroupArn": app.green_target_groups["frontend"], "Weight": 100},
            ]
        },
    }
    elbv2.modify_rule(RuleArn=rule["RuleArn"], Actions=[forward])
    assert {t["TargetHealth"]["State"] for t in _targets(elbv2, group)} == {"healthy"}

    acts = DecommissionActivities(aws_clients, poll_interval=0.0)
    deleted = ActivityEnvironment().run(
        acts.delete_ecs_services, DeleteServicesInput(aws=CTX, cluster=blue.CLUSTER, services=["frontend"])
    )
    assert deleted.deleted == ["frontend"]
    assert {t["TargetHealth"]["State"] for t in _targets(elbv2, group)} == {"draining"}

    beats: list[str] = []
    env = ActivityEnvironment()

    def beat(*details: Any) -> None:
        if "draining" in str(details):
            beats.append(str(details))
            sim_clock.advance(30)  # half a minute of draining between two polls

    env.on_heartbeat = beat
    result = env.run(acts.delete_target_groups, DeleteTargetGroupsInput(aws=CTX, target_group_arns=[group]))
    assert result.deleted == [group]
    # ELB's default deregistration delay is 300 s: ten polls of 30 s while the targets drained.
    assert len(beats) == 10 and "2 draining target(s)" in beats[0]


def _targets(elbv2: Any, group: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    return found
