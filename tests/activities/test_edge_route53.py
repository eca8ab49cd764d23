"""Route 53 shifter: both weighted records in one ChangeBatch, INSYNC wait, all-zero refusal."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import boto3
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.activities.edge.base import NOT_IN_SYNC, READBACK_MISMATCH, WEIGHTS_REFUSED, ShifterOptions
from meshshift.migration import plan
from meshshift.migration.contracts import (
    AwsContext,
    EdgeWeightsResult,
    ReadEdgeWeightsInput,
    SetEdgeWeightsInput,
    ShifterTarget,
    ShifterWeights,
)
from meshshift.migration.edge.route53 import Route53Edge, WeightedRecord
from meshshift.sim.aws.settings import ManualClock
from tests.activities.throttle import no_retry_backoff, throttle_once

__all__ = ["no_retry_backoff"]

CTX = AwsContext(region="us-east-1")
FAST = ShifterOptions(poll_interval=timedelta(0), sync_timeout=timedelta(seconds=30), sleep=lambda _s: None)


def make_zone(alias: bool = False) -> Route53Edge:
    zone = boto3.client("route53").create_hosted_zone(Name="shop.example.com", CallerReference="shop")
    zone_id = zone["HostedZone"]["Id"].removeprefix("/hostedzone/")
    return Route53Edge(
        type="route53",
        hosted_zone_id=zone_id,
        record_name="api.shop.example.com",
        record_type="A" if alias else "CNAME",
        ttl=30,
        alias_hosted_zone_id="Z35SXDOTRQ7X7K" if alias else None,
        blue=WeightedRecord(set_identifier="blue", value="blue-123.us-east-1.elb.amazonaws.com"),
        green=WeightedRecord(set_identifier="green", value="green-456.us-east-1.elb.amazonaws.com"),
    )


def weights(edge: Route53Edge, blue: int, green: int) -> ShifterWeights:
    return ShifterWeights(shifter_id=plan.shifter_id(edge), mechanism="route53", blue=blue, green=green)


def set_weights(
    clients: AwsClients, edge: Route53Edge, blue: int, green: int, env: ActivityEnvironment | None = None
) -> Any:
    acts = EdgeActivities(clients, options=FAST)
    target = ShifterTarget(edge=edge, weights=weights(edge, blue, green))
    return (env or ActivityEnvironment()).run(acts.set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=[target]))


def records(edge: Route53Edge) -> list[dict[str, Any]]:
    sets = boto3.client("route53").list_resource_record_sets(HostedZoneId=edge.hosted_zone_id)["ResourceRecordSets"]
    return [r for r in sets if "SetIdentifier" in r]


def test_both_records_in_one_change_batch(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_zone()
    batches: list[int] = []
    aws_clients.route53(CTX).meta.events.register(
        "provide-client-params.route-53.ChangeResourceRecordSets",
        lambda params, **_: batches.append(len(params["ChangeBatch"]["Changes"])),
    )

    set_weights(aws_clients, edge, 255, 0)
    result = set_weights(aws_clients, edge, 192, 64)

    assert batches == [2, 2]
    reading = result.readings[0]
    assert (reading.blue, reading.green, reading.green_percent, reading.in_sync) == (192, 64, 25.0, True)
    by_id = {r["SetIdentifier"]: r for r in records(edge)}
    assert by_id["green"]["TTL"] == 30
    assert by_id["green"]["ResourceRecords"] == [{"Value": edge.green.value}]
    assert by_id["blue"]["Weight"] == 192


def test_alias_records_keep_their_target(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_zone(alias=True)

    result = set_weights(aws_clients, edge, 254, 1)

    by_id = {r["SetIdentifier"]: r for r in records(edge)}
    assert by_id["green"]["AliasTarget"]["DNSName"].rstrip(".") == edge.green.value
    assert "TTL" not in by_id["green"]
    assert result.readings[0].green == 1


def test_repeat_after_success_same_state(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_zone()
    first = set_weights(aws_clients, edge, 128, 127)
    second = set_weights(aws_clients, edge, 128, 127)

    assert second == first
    assert len(records(edge)) == 2


def test_all_zero_refused_and_nothing_written(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_zone()

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 0, 0)

    assert info.value.non_retryable and info.value.type == WEIGHTS_REFUSED
    assert "splits traffic equally" in str(info.value)
    assert records(edge) == []


def test_weight_above_255_refused(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_zone()
    with pytest.raises(ApplicationError, match="integer 0-255, got 256"):
        set_weights(aws_clients, edge, 256, 0)


@pytest.mark.parametrize("code", ["PriorRequestNotComplete", "Throttling"])
def test_transient_errors_succeed_on_retry(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None, code: str
) -> None:
    edge = make_zone()
    throttled = throttle_once(aws_clients.route53(CTX), "ChangeResourceRecordSets", code)

    result = set_weights(aws_clients, edge, 250, 5)

    assert throttled.fired == 1
    assert result.readings[0].green == 5


def test_missing_zone_is_permanent_and_named(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_zone().model_copy(update={"hosted_zone_id": "ZNOTTHERE"})

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 255, 0)

    assert info.value.non_retryable
    assert "NoSuchHostedZone" in str(info.value) and "ZNOTTHERE" in str(info.value)


def test_waits_for_insync_with_heartbeats(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_zone()
    pending = [2]  # the first two polls see PENDING, as on AWS for the first seconds

    def still_pending(parsed: dict[str, Any], **_: Any) -> None:
        if pending[0] > 0:
            pending[0] -= 1
            parsed["ChangeInfo"]["Status"] = "PENDING"

    aws_clients.route53(CTX).meta.events.register("after-call.route-53.GetChange", still_pending)
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    result = set_weights(aws_clients, edge, 255, 0, env)

    assert pending == [0]
    assert any("INSYNC" in str(b) for b in beats)
    assert result.readings[0].in_sync


def test_the_weights_are_read_back_only_once_the_change_is_insync(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    """The simulated Route 53 keeps a change PENDING for 45 s: the shifter waits, then reads back once."""
    edge = make_zone()
    calls: list[str] = []
    statuses: list[str] = []
    r53 = aws_clients.route53(CTX)
    r53.meta.events.register("before-call.route-53.*", lambda model, **_: calls.append(model.name))
    r53.meta.events.register(
        "after-call.route-53.GetChange", lambda parsed, **_: statuses.append(parsed["ChangeInfo"]["Status"])
    )
    options = ShifterOptions(
        poll_interval=timedelta(seconds=5), sync_timeout=timedelta(minutes=5), sleep=sim_clock.advance
    )
    acts = EdgeActivities(aws_clients, options=options)
    target = ShifterTarget(edge=edge, weights=weights(edge, 255, 0))
    result = ActivityEnvironment().run(acts.set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=[target]))

    # Read the records, write both in one batch, wait for INSYNC, read back: INSYNC is final.
    assert calls[:2] == ["ListResourceRecordSets", "ChangeResourceRecordSets"]
    assert calls[2:-1] == ["GetChange"] * len(statuses) and calls[-1] == "ListResourceRecordSets"
    assert statuses[0] == "PENDING" and statuses[-1] == "INSYNC" and statuses.count("INSYNC") == 1
    assert result.readings[0].in_sync


def _route53_calls(clients: AwsClients) -> list[str]:
    """Every Route 53 call the clients make, with the change id of each GetChange."""
    calls: list[str] = []
    r53 = clients.route53(CTX)
    r53.meta.events.register(
        "before-parameter-build.route-53.*",
        lambda event_name, params, **_: calls.append(
            event_name.rsplit(".", 1)[-1] + (f" {params['Id']}" if "Id" in params else "")
        ),
    )
    return calls


def _write(
    clients: AwsClients,
    clock: ManualClock,
    target: ShifterTarget,
    env: ActivityEnvironment | None = None,
    **first: bool,
) -> EdgeWeightsResult:
    """set_edge_weights on one target; its propagation polls advance the simulation's clock."""
    options = ShifterOptions(poll_interval=timedelta(seconds=5), sync_timeout=timedelta(minutes=5), sleep=clock.advance)
    return (env or ActivityEnvironment()).run(
        EdgeActivities(clients, options=options).set_edge_weights,
        SetEdgeWeightsInput(aws=CTX, targets=[target], **first),
    )


def _first_write(clients: AwsClients, clock: ManualClock) -> tuple[ShifterTarget, str]:
    """A rollback's first write of blue's weights (not waited on): its target and its change id."""
    edge = make_zone()
    target = ShifterTarget(edge=edge, weights=weights(edge, 255, 0))
    return target, _write(clients, clock, target, wait_for_sync=False, read_back=False).changes[0].change_id


def test_a_write_waits_for_the_pending_change_that_set_its_weights(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    """A rollback's first write is not waited on; the verified write that follows finds the weights
    in place and waits for that write's change instead of making a second one, which would
    propagate from the start again."""
    edge = make_zone()
    calls = _route53_calls(aws_clients)
    target = ShifterTarget(edge=edge, weights=weights(edge, 255, 0))

    first = _write(aws_clients, sim_clock, target, wait_for_sync=False, read_back=False)

    assert [c.shifter_id for c in first.changes] == [target.weights.shifter_id]
    change = first.changes[0].change_id
    assert calls == ["ListResourceRecordSets", "ChangeResourceRecordSets"]
    calls.clear()

    verified = _write(aws_clients, sim_clock, target.model_copy(update={"pending_change": change}))

    # Read, then poll the first write's change until INSYNC (the simulation keeps it PENDING for
    # 45 s), then read back: no change of its own.
    assert calls[0] == calls[-1] == "ListResourceRecordSets"
    assert set(calls[1:-1]) == {f"GetChange {change}"}
    assert verified.readings[0].in_sync and verified.readings[0].blue == 255
    assert verified.changes == []


def test_a_pending_change_of_other_weights_is_not_waited_for(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    """Someone changed the records after the first write: the verified write writes them again."""
    target, change = _first_write(aws_clients, sim_clock)
    _write(aws_clients, sim_clock, ShifterTarget(edge=target.edge, weights=weights(target.edge, 0, 255)))
    calls = _route53_calls(aws_clients)

    verified = _write(aws_clients, sim_clock, target.model_copy(update={"pending_change": change}))

    assert "ChangeResourceRecordSets" in calls and f"GetChange {change}" not in calls
    assert verified.readings[0].blue == 255


def test_a_retry_does_not_wait_for_the_pending_change(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    """A retried attempt writes afresh: the change it was given may be why the first attempt failed."""
    target, change = _first_write(aws_clients, sim_clock)
    calls = _route53_calls(aws_clients)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2)

    _write(aws_clients, sim_clock, target.model_copy(update={"pending_change": change}), env)

    assert "ChangeResourceRecordSets" in calls and f"GetChange {change}" not in calls


def test_insync_timeout_is_retryable(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_zone()
    aws_clients.route53(CTX).meta.events.register(
        "after-call.route-53.GetChange", lambda parsed, **_: parsed["ChangeInfo"].update(Status="PENDING")
    )
    options = ShifterOptions(poll_interval=timedelta(0), sync_timeout=timedelta(0), sleep=lambda _s: None)
    acts = EdgeActivities(aws_clients, options=options)
    target = ShifterTarget(edge=edge, weights=weights(edge, 255, 0))

    with pytest.raises(ApplicationError) as info:
        ActivityEnvironment().run(acts.set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=[target]))

    assert info.value.type == NOT_IN_SYNC and not info.value.non_retryable


def test_readback_mismatch_detected(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = make_zone()

    def drifted(parsed: dict[str, Any], **_: Any) -> None:
        for record in parsed["ResourceRecordSets"]:
            if record.get("SetIdentifier") == "green":
                record["Weight"] = 1

    set_weights(aws_clients, edge, 255, 0)
    aws_clients.route53(CTX).meta.events.register("after-call.route-53.ListResourceRecordSets", drifted)

    with pytest.raises(ApplicationError) as info:
        set_weights(aws_clients, edge, 200, 55)

    assert info.value.type == READBACK_MISMATCH
    assert "read back blue=200 green=1" in str(info.value)


def test_round_trip_in_server_mode(aws_server_env: str, aws_clients: AwsClients) -> None:
    edge = make_zone()
    set_weights(aws_clients, edge, 0, 255)

    result = ActivityEnvironment().run(
        EdgeActivities(aws_clients).read_edge_weights, ReadEdgeWeightsInput(aws=CTX, edges=[edge])
    )

    assert aws_clients.route53(CTX).meta.endpoint_url == aws_server_env
    assert result.readings[0].green_percent == 100
