"""set_edge_weights over several mechanisms at once (a rollback moves every edge together)."""

from __future__ import annotations

import dataclasses

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients, RateLimiter
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.activities.edge.base import WEIGHTS_REFUSED
from meshshift.activities.edge.registry import SHIFTERS, shifter_class
from meshshift.migration.contracts import AwsContext, ReadEdgeWeightsInput, SetEdgeWeightsInput, ShifterTarget
from meshshift.migration.edge.registry import EdgeSpec
from tests.activities import test_edge_alb as alb
from tests.activities import test_edge_cloudfront as cloudfront
from tests.activities import test_edge_route53 as route53

CTX = AwsContext(region="us-east-1")


def test_registry_covers_every_edge_type() -> None:
    assert set(SHIFTERS) == {"alb", "route53", "cloudfront"}
    with pytest.raises(ValueError, match="known: alb, cloudfront, route53"):
        shifter_class("lattice")


def every_mechanism(green: bool) -> tuple[list[EdgeSpec], list[ShifterTarget]]:
    """An ALB rule, a Route 53 weighted pair and a CloudFront continuous deployment, and targets
    that put each half on green (15% on CloudFront, its limit) or all on blue."""
    a, _ = alb.make_alb()
    r = route53.make_zone()
    c = cloudfront.make_distributions()
    return [a, r, c], [
        ShifterTarget(edge=a, weights=alb.weights(a, 500, 500) if green else alb.weights(a, 999, 0)),
        ShifterTarget(edge=r, weights=route53.weights(r, 128, 128) if green else route53.weights(r, 255, 0)),
        ShifterTarget(edge=c, weights=cloudfront.weights(c, 0.15 if green else 0.0)),
    ]


def test_all_mechanisms_in_one_call(aws_inprocess: None, aws_clients: AwsClients) -> None:
    (a, r, c), targets = every_mechanism(green=True)
    acts = EdgeActivities(aws_clients, options=route53.FAST)

    result = ActivityEnvironment().run(acts.set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=targets))
    read = ActivityEnvironment().run(acts.read_edge_weights, ReadEdgeWeightsInput(aws=CTX, edges=[a, r, c]))

    assert [x.green_percent for x in result.readings] == [50, 50, pytest.approx(15)]
    assert read == result


def test_one_failing_shifter_does_not_stop_the_others(aws_inprocess: None, aws_clients: AwsClients) -> None:
    a, _ = alb.make_alb()
    r = route53.make_zone().model_copy(update={"hosted_zone_id": "ZGONE"})
    targets = [
        ShifterTarget(edge=r, weights=route53.weights(r, 255, 0)),
        ShifterTarget(edge=a, weights=alb.weights(a, 999, 0)),
    ]
    acts = EdgeActivities(aws_clients, options=route53.FAST)

    with pytest.raises(ApplicationError, match="ZGONE"):
        ActivityEnvironment().run(acts.set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=targets))

    groups = alb.forward_action(a)["ForwardConfig"]["TargetGroups"]
    assert {g["TargetGroupArn"]: g["Weight"] for g in groups} == {
        a.blue_target_group_arn: 999,
        a.green_target_group_arn: 0,
    }


def test_bad_weights_anywhere_touch_nothing(aws_inprocess: None, aws_clients: AwsClients) -> None:
    a, _ = alb.make_alb()
    r = route53.make_zone()
    targets = [
        ShifterTarget(edge=a, weights=alb.weights(a, 500, 500)),
        ShifterTarget(edge=r, weights=route53.weights(r, 0, 0)),
    ]

    with pytest.raises(ApplicationError) as info:
        ActivityEnvironment().run(
            EdgeActivities(aws_clients).set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=targets)
        )

    assert info.value.type == WEIGHTS_REFUSED
    untouched = alb.forward_action(a)
    assert untouched["TargetGroupArn"] == a.blue_target_group_arn
    assert len(untouched.get("ForwardConfig", {}).get("TargetGroups", [])) <= 1


def test_weights_for_another_shifter_refused(aws_inprocess: None, aws_clients: AwsClients) -> None:
    a, _ = alb.make_alb()
    r = route53.make_zone()
    wrong = ShifterTarget(edge=a, weights=route53.weights(r, 1, 1))

    with pytest.raises(ApplicationError, match="were sent to alb shifter"):
        ActivityEnvironment().run(
            EdgeActivities(aws_clients).set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=[wrong])
        )


class LaneSpy(RateLimiter):
    """Records the lane of every call (never waits)."""

    def __init__(self) -> None:
        super().__init__()
        self.lanes: list[bool] = []

    def acquire(
        self, service: str, region: str, rate: float, on_wait: object = None, *, priority: bool = False
    ) -> float:
        self.lanes.append(priority)
        return 0.0


@pytest.mark.parametrize("rollback", [True, False])
def test_a_rollback_write_as_a_local_activity_takes_the_priority_lane(aws_inprocess: None, rollback: bool) -> None:
    """A rollback's first write is a local activity, which carries no Temporal task priority: its
    input's ``rollback`` puts every call it makes, from every shifter's thread, in the lane."""
    _, targets = every_mechanism(green=False)
    spy = LaneSpy()
    acts = EdgeActivities(AwsClients(limiter=spy), options=route53.FAST)
    local = ActivityEnvironment()
    local.info = dataclasses.replace(local.info, is_local=True)

    arg = SetEdgeWeightsInput(aws=CTX, targets=targets, wait_for_sync=False, rollback=rollback)
    result = local.run(acts.set_edge_weights, arg)

    assert [x.green_percent for x in result.readings] == [0, 0, 0]
    assert len(spy.lanes) >= 5 and set(spy.lanes) == {rollback}


def test_a_write_without_read_back_makes_no_call_after_its_writes(aws_inprocess: None) -> None:
    """A rollback's first write is not read back (the verified write that follows does it): it
    makes the reads each mechanism's write needs and the write, and nothing else, so it leaves
    the rest of the per-second AWS budget to the verified write."""
    (a, r, c), green = every_mechanism(green=True)
    calls: list[str] = []
    clients = AwsClients(hooks=[("before-send", lambda event_name, **_: calls.append(event_name.split(".", 1)[1]))])
    acts = EdgeActivities(clients, options=route53.FAST)
    ActivityEnvironment().run(acts.set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=green))
    calls.clear()
    blue = [
        ShifterTarget(edge=a, weights=alb.weights(a, 999, 0)),
        ShifterTarget(edge=r, weights=route53.weights(r, 255, 0)),
        ShifterTarget(edge=c, weights=cloudfront.weights(c, 0.0)),
    ]

    arg = SetEdgeWeightsInput(aws=CTX, targets=blue, wait_for_sync=False, rollback=True, read_back=False)
    result = ActivityEnvironment().run(acts.set_edge_weights, arg)

    assert result.readings == []
    assert sorted(calls) == sorted(
        [
            "elastic-load-balancing-v2.DescribeListeners",
            "elastic-load-balancing-v2.ModifyListener",
            "route-53.ListResourceRecordSets",
            "route-53.ChangeResourceRecordSets",
            # CloudFront's checks of the distributions are the verified write's (test_edge_cloudfront.py).
            "cloudfront.GetContinuousDeploymentPolicyConfig",
            "cloudfront.UpdateContinuousDeploymentPolicy",
        ]
    )
    read = ActivityEnvironment().run(acts.read_edge_weights, ReadEdgeWeightsInput(aws=CTX, edges=[a, r, c]))
    assert [x.green_percent for x in read.readings] == [0, 0, 0]
