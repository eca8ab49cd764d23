"""CloudFront continuous deployment shifter against the simulated CloudFront (meshshift.sim.aws)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.activities.edge.base import EDGE_MISCONFIGURED, READBACK_MISMATCH, WEIGHTS_REFUSED, ShifterOptions
from meshshift.activities.edge.cloudfront import ALREADY_PROMOTED
from meshshift.migration import plan
from meshshift.migration.contracts import (
    AwsContext,
    ReadEdgeWeightsInput,
    SetEdgeWeightsInput,
    ShifterTarget,
    ShifterWeights,
)
from meshshift.migration.edge.cloudfront import CloudFrontEdge
from tests.activities.throttle import ThrottleOnce, no_retry_backoff, throttle_once

__all__ = ["no_retry_backoff"]

CTX = AwsContext(region="us-east-1")
FAST = ShifterOptions(poll_interval=timedelta(0), sleep=lambda _s: None)


def _config(ref: str, origin: str) -> dict[str, Any]:
    return {
        "CallerReference": ref,
        "Comment": "shop",
        "Enabled": True,
        "Aliases": {"Quantity": 1, "Items": ["www.shop.example.com"]},
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "app",
                    "DomainName": origin,
                    "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "app",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        },
    }


def make_distributions(attach: bool = True, weight: float = 0.0) -> CloudFrontEdge:
    """Primary serving blue, a staging copy changed to serve green, a policy attached to the primary."""
    cf = boto3.client("cloudfront")
    primary = cf.create_distribution(DistributionConfig=_config("shop", "blue.shop.example.com"))
    primary_id = primary["Distribution"]["Id"]
    staging = cf.copy_distribution(
        PrimaryDistributionId=primary_id, Staging=True, IfMatch=primary["ETag"], CallerReference="shop-staging"
    )["Distribution"]
    config = cf.get_distribution_config(Id=staging["Id"])
    config["DistributionConfig"]["Origins"]["Items"][0]["DomainName"] = "green.shop.example.com"
    cf.update_distribution(Id=staging["Id"], IfMatch=config["ETag"], DistributionConfig=config["DistributionConfig"])
    policy = cf.create_continuous_deployment_policy(
        ContinuousDeploymentPolicyConfig={
            "StagingDistributionDnsNames": {"Quantity": 1, "Items": [staging["DomainName"]]},
            "Enabled": True,
            "TrafficConfig": {
                "Type": "SingleWeight",
                "SingleWeightConfig": {
                    "Weight": weight,
                    "SessionStickinessConfig": {"IdleTTL": 300, "MaximumTTL": 600},
                },
            },
        }
    )["ContinuousDeploymentPolicy"]
    if attach:
        config = cf.get_distribution_config(Id=primary_id)
        config["DistributionConfig"]["ContinuousDeploymentPolicyId"] = policy["Id"]
        cf.update_distribution(Id=primary_id, IfMatch=config["ETag"], DistributionConfig=config["DistributionConfig"])
    return CloudFrontEdge(
        type="cloudfront",
        distribution_id=primary_id,
        staging_distribution_id=staging["Id"],
        continuous_deployment_policy_id=policy["Id"],
    )


def weights(edge: CloudFrontEdge, green: float, promoted: bool = False) -> ShifterWeights:
    return ShifterWeights(
        shifter_id=plan.shifter_id(edge),
        mechanism="cloudfront",
        blue=0.0 if promoted else 1.0 - green,
        green=1.0 if promoted else green,
        promoted=promoted,
    )


def set_weights(
    clients: AwsClients, edge: CloudFrontEdge, green: float, promoted: bool = False, *, write_only: bool = False
) -> Any:
    """``write_only``: as a rollback's first write sends it (no propagation wait, no read-back)."""
    acts = EdgeActivities(clients, options=FAST)
    target = ShifterTarget(edge=edge, weights=weights(edge, green, promoted))
    verified = not write_only
    arg = SetEdgeWeightsInput(aws=CTX, targets=[target], wait_for_sync=verified, read_back=verified)
    return ActivityEnvironment().run(acts.set_edge_weights, arg)


def read(clients: AwsClients, edge: CloudFrontEdge) -> Any:
    acts = EdgeActivities(clients, options=FAST)
    return ActivityEnvironment().run(acts.read_edge_weights, ReadEdgeWeightsInput(aws=CTX, edges=[edge])).readings[0]


def policy_config(edge: CloudFrontEdge) -> tuple[dict[str, Any], str]:
    answer = boto3.client("cloudfront").get_continuous_deployment_policy_config(Id=edge.continuous_deployment_policy_id)
    return answer["ContinuousDeploymentPolicyConfig"], answer["ETag"]


def test_staging_weight_set_and_read(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions()
    assert read(aws_clients, edge).green_percent == 0

    result = set_weights(aws_clients, edge, 0.05)

    reading = result.readings[0]
    assert reading.green == pytest.approx(0.05) and reading.green_percent == pytest.approx(5.0)
    assert not reading.promoted and reading.shifter_id == f"cloudfront:{edge.distribution_id}"
    config, _ = policy_config(edge)
    # Session stickiness the operator configured on the policy is kept.
    assert config["TrafficConfig"]["SingleWeightConfig"]["SessionStickinessConfig"] == {
        "IdleTTL": 300,
        "MaximumTTL": 600,
    }


def test_repeat_after_success_does_not_write(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions()
    set_weights(aws_clients, edge, 0.15)
    _, etag = policy_config(edge)

    set_weights(aws_clients, edge, 0.15)

    assert policy_config(edge)[1] == etag


def test_weight_above_fifteen_percent_refused(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions()
    _, etag = policy_config(edge)

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 0.25)

    assert info.value.non_retryable and info.value.type == WEIGHTS_REFUSED
    assert "limit of 0.15 (15%)" in str(info.value) and "promote_at_100" in str(info.value)
    assert policy_config(edge)[1] == etag


def test_lost_etag_race_is_reread_and_retried(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions()
    client = aws_clients.cloudfront(CTX)
    race = ThrottleOnce(client.meta.service_model.resolved_protocol, "PreconditionFailed", status=412)
    client.meta.events.register_first("before-send.cloudfront.UpdateContinuousDeploymentPolicy", race)

    result = set_weights(aws_clients, edge, 0.1)

    assert race.fired == 1
    assert result.readings[0].green == pytest.approx(0.1)


def test_throttled_read_succeeds_on_retry(aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None) -> None:
    edge = make_distributions()
    throttled = throttle_once(aws_clients.cloudfront(CTX), "GetContinuousDeploymentPolicyConfig", "Throttling")

    set_weights(aws_clients, edge, 0.01)

    assert throttled.fired == 1


def test_missing_policy_is_permanent(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions().model_copy(update={"continuous_deployment_policy_id": "NOPE"})

    with pytest.raises(ApplicationError) as info:
        read(aws_clients, edge)

    assert info.value.non_retryable and "NoSuchContinuousDeploymentPolicy" in str(info.value)


def test_unattached_policy_refused(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions(attach=False)

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 0.05)

    assert info.value.type == EDGE_MISCONFIGURED
    assert "attach the policy" in str(info.value)


def test_promotion_at_100_and_no_way_back(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions(weight=0.15)

    result = set_weights(aws_clients, edge, 1.0, promoted=True)
    again = set_weights(aws_clients, edge, 1.0, promoted=True)

    assert result.readings[0].promoted and result.readings[0].green_percent == 100
    assert again.readings[0].promoted
    primary = boto3.client("cloudfront").get_distribution_config(Id=edge.distribution_id)["DistributionConfig"]
    assert primary["Origins"]["Items"][0]["DomainName"] == "green.shop.example.com"
    assert primary["Aliases"]["Items"] == ["www.shop.example.com"]  # the primary keeps its aliases
    assert primary["ContinuousDeploymentPolicyId"] == edge.continuous_deployment_policy_id

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 0.0)
    assert info.value.type == ALREADY_PROMOTED and info.value.non_retryable
    assert "restore blue's config" in str(info.value)


def test_readback_mismatch_detected(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions()
    client = aws_clients.cloudfront(CTX)

    def reverted(parsed: dict[str, Any], **_: Any) -> None:
        # The write's response is the read-back (the policy as AWS now holds it): pretend another
        # writer reverted the weight in between.
        config = parsed["ContinuousDeploymentPolicy"]["ContinuousDeploymentPolicyConfig"]
        config["TrafficConfig"]["SingleWeightConfig"]["Weight"] = 0.0

    client.meta.events.register("after-call.cloudfront.UpdateContinuousDeploymentPolicy", reverted)

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 0.05)

    assert info.value.type == READBACK_MISMATCH
    assert "wrote blue=0.95 green=0.05" in str(info.value) and "read back blue=1 green=0" in str(info.value)


def test_round_trip_in_server_mode(aws_server_env: str, aws_clients: AwsClients) -> None:
    edge = make_distributions()

    set_weights(aws_clients, edge, 0.05)
    promoted = set_weights(aws_clients, edge, 1.0, promoted=True)

    assert aws_clients.cloudfront(CTX).meta.endpoint_url == aws_server_env
    assert read(aws_clients, edge).green_percent == 100
    assert promoted.readings[0].promoted


class CallLog:
    """Every CloudFront operation the shifter makes, with the id it asks about (a botocore hook)."""

    def __init__(self, clients: AwsClients) -> None:
        self.calls: list[tuple[str, str]] = []
        clients.cloudfront(CTX).meta.events.register("before-parameter-build.cloudfront.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, params.get("Id", "")))


def test_rollback_reads_each_resource_once_and_reuses_the_answers(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions()
    set_weights(aws_clients, edge, 0.15)  # the hold
    log = CallLog(aws_clients)

    result = set_weights(aws_clients, edge, 0.0)  # the rollback

    assert result.readings[0].green_percent == 0
    before_write = [
        ("GetDistribution", edge.distribution_id),  # attached? (and the promotion check's primary)
        ("GetDistribution", edge.staging_distribution_id),  # promoted?
        ("GetContinuousDeploymentPolicyConfig", edge.continuous_deployment_policy_id),  # the ETag
    ]
    write = [("UpdateContinuousDeploymentPolicy", edge.continuous_deployment_policy_id)]
    # The three reads are made at once (any order), then the write.
    assert sorted(log.calls[:3]) == sorted(before_write) and log.calls[3:4] == write
    # Then only the propagation wait's polls of the primary: the read-back asks nothing again.
    polls = log.calls[4:]
    assert polls and set(polls) == {("GetDistribution", edge.distribution_id)}


def test_a_rollback_already_in_place_reads_and_writes_nothing_more(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    edge = make_distributions()
    set_weights(aws_clients, edge, 0.0)
    log = CallLog(aws_clients)

    set_weights(aws_clients, edge, 0.0)

    # Nothing to write, and the primary already read Deployed: no propagation wait, no read-back calls.
    assert sorted(name for name, _ in log.calls) == [
        "GetContinuousDeploymentPolicyConfig",
        "GetDistribution",
        "GetDistribution",
    ]


def test_promotion_reads_each_resource_once(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_distributions(weight=0.15)
    log = CallLog(aws_clients)

    set_weights(aws_clients, edge, 1.0, promoted=True)

    # The primary, the staging distribution and the policy (which the read-back reports) at once ...
    assert sorted(log.calls[:3]) == sorted(
        [
            ("GetDistribution", edge.distribution_id),
            ("GetDistribution", edge.staging_distribution_id),
            ("GetContinuousDeploymentPolicyConfig", edge.continuous_deployment_policy_id),
        ]
    )
    # ... then the promotion, then only the propagation polls of the primary.
    assert log.calls[3] == ("UpdateDistributionWithStagingConfig", edge.distribution_id)
    assert set(log.calls[4:]) == {("GetDistribution", edge.distribution_id)}


def test_a_write_only_write_reads_only_the_policy(aws_inprocess: None, aws_clients: AwsClients) -> None:
    """A rollback's first write needs the policy's ETag and nothing else: whether the policy is
    attached and whether the primary was promoted are checked by the verified write that follows."""
    edge = make_distributions()
    set_weights(aws_clients, edge, 0.15)  # the hold
    log = CallLog(aws_clients)

    result = set_weights(aws_clients, edge, 0.0, write_only=True)

    assert result.readings == []
    assert log.calls == [
        ("GetContinuousDeploymentPolicyConfig", edge.continuous_deployment_policy_id),
        ("UpdateContinuousDeploymentPolicy", edge.continuous_deployment_policy_id),
    ]
    assert read(aws_clients, edge).green_percent == 0


def test_a_write_only_write_to_an_unattached_policy_leaves_the_refusal_to_the_verified_write(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    """Weights written to a policy no distribution uses change no traffic: the write-only write
    makes them, and the verified write refuses as it always has."""
    edge = make_distributions(attach=False, weight=0.1)

    set_weights(aws_clients, edge, 0.0, write_only=True)

    assert policy_config(edge)[0]["TrafficConfig"]["SingleWeightConfig"]["Weight"] == 0.0
    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 0.0)
    assert info.value.type == EDGE_MISCONFIGURED


def test_a_write_only_write_after_promotion_leaves_the_refusal_to_the_verified_write(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    """After promotion the primary and the staging distribution both serve green: the policy's
    weight moves no traffic, and the verified write says blue cannot come back this way."""
    edge = make_distributions(weight=0.15)
    set_weights(aws_clients, edge, 1.0, promoted=True)

    set_weights(aws_clients, edge, 0.0, write_only=True)

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 0.0)
    assert info.value.type == ALREADY_PROMOTED
