"""collect_metrics and poll_alarms against the simulated CloudWatch (in-process and server mode)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.metrics import MetricsActivities, build_queries, period_for
from meshshift.migration.contracts import (
    AlbMetricSource,
    AwsContext,
    CollectMetricsInput,
    MetricSources,
    PollAlarmsInput,
    ServiceConnectMetricSource,
)
from tests.activities.throttle import no_retry_backoff, throttle_once

__all__ = ["no_retry_backoff"]

CTX = AwsContext(region="us-east-1")
LB = "app/shop/50dc6c495c0c9188"
BLUE_TG = "targetgroup/shop-blue/73e2d6bc24d8a067"
GREEN_TG = "targetgroup/shop-green/943f017f100becff"
SOURCES = MetricSources(
    alb=[AlbMetricSource(load_balancer=LB, blue_target_group=BLUE_TG, green_target_group=GREEN_TG)],
    service_connect=[
        ServiceConnectMetricSource(
            cluster="shop", blue_service="user-api", green_service="user-api-sc", discovery_name="user-api"
        )
    ],
)


def _seed(end: datetime) -> None:
    """What ALB and Service Connect would have published over the last minutes."""
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    at = end - timedelta(seconds=90)
    # Dimensions deliberately listed in another order than the activity queries them.
    alb = lambda tg: [{"Name": "TargetGroup", "Value": tg}, {"Name": "LoadBalancer", "Value": LB}]  # noqa: E731
    green_latencies = [round(0.010 + i * 0.002, 3) for i in range(100)]  # 10 ms .. 208 ms
    cw.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": "RequestCount", "Dimensions": alb(GREEN_TG), "Value": 100, "Timestamp": at},
            {"MetricName": "RequestCount", "Dimensions": alb(GREEN_TG), "Value": 50, "Timestamp": at},
            {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": alb(GREEN_TG), "Value": 3, "Timestamp": at},
            {
                "MetricName": "TargetResponseTime",
                "Dimensions": alb(GREEN_TG),
                "Values": green_latencies,
                "Timestamp": at,
            },
            {"MetricName": "RequestCount", "Dimensions": alb(BLUE_TG), "Value": 400, "Timestamp": at},
            # Outside the window: must not count.
            {
                "MetricName": "RequestCount",
                "Dimensions": alb(GREEN_TG),
                "Value": 9999,
                "Timestamp": end - timedelta(hours=1),
            },
        ],
    )
    target = [{"Name": "TargetDiscoveryName", "Value": "user-api"}]
    inbound = [
        {"Name": "DiscoveryName", "Value": "user-api"},
        {"Name": "ServiceName", "Value": "user-api-sc"},
        {"Name": "ClusterName", "Value": "shop"},
    ]
    cw.put_metric_data(
        Namespace="AWS/ECS",
        MetricData=[
            {"MetricName": "RequestCount", "Dimensions": target, "Value": 20, "Timestamp": at},
            {"MetricName": "TargetResponseTime", "Dimensions": target, "Values": [5.0, 7.0, 250.0], "Timestamp": at},
            {"MetricName": "ActiveConnectionCount", "Dimensions": inbound, "Values": [4.0, 7.0], "Timestamp": at},
        ],
    )


def _collect(clients: AwsClients, end: datetime, sources: MetricSources = SOURCES) -> Any:
    inp = CollectMetricsInput(aws=CTX, sources=sources, window=timedelta(minutes=5), end=end)
    return ActivityEnvironment().run(MetricsActivities(clients).collect_metrics, inp)


def _assert_seeded_figures(snapshot: Any, end: datetime) -> None:
    assert snapshot.window_end == end
    assert snapshot.window_start == end - timedelta(minutes=5)
    assert snapshot.green.requests == 170  # 150 at the ALB + 20 through Service Connect
    assert snapshot.green.errors_5xx == 3
    # Worst p99 of the two populations: Service Connect's 250 ms beats the ALB's 206 ms.
    assert snapshot.green.p99_ms == pytest.approx(250.0)
    assert snapshot.green.active_connections == 7
    assert snapshot.blue.requests == 400
    assert snapshot.blue.errors_5xx == 0  # no datapoints: zero errors
    assert snapshot.blue.p99_ms is None  # no datapoints: latency unknown, not zero
    assert snapshot.blue.active_connections is None  # cannot be split blue/green at the ALB
    assert any("ActiveConnectionCount exists only per load balancer" in n for n in snapshot.notes)


def _end() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_period_is_window_rounded_up_to_minutes() -> None:
    assert period_for(timedelta(seconds=1)) == 60
    assert period_for(timedelta(seconds=60)) == 60
    assert period_for(timedelta(seconds=61)) == 120
    assert period_for(timedelta(minutes=5)) == 300


def test_query_dimension_sets() -> None:
    queries, _ = build_queries(SOURCES)
    by_metric = {(q.namespace, q.metric, q.side): q for q in queries}
    assert by_metric[("AWS/ApplicationELB", "TargetResponseTime", "green")].stat == "p99"
    assert dict(by_metric[("AWS/ApplicationELB", "RequestCount", "blue")].dimensions) == {
        "LoadBalancer": LB,
        "TargetGroup": BLUE_TG,
    }
    assert dict(by_metric[("AWS/ECS", "HTTPCode_Target_5XX_Count", "green")].dimensions) == {
        "TargetDiscoveryName": "user-api"
    }
    assert set(dict(by_metric[("AWS/ECS", "ActiveConnectionCount", "green")].dimensions)) == {
        "ClusterName",
        "ServiceName",
        "DiscoveryName",
    }
    assert not any(q.namespace == "AWS/ECS" and q.side == "blue" for q in queries)


def test_collect_metrics_round_trip_inprocess(aws_inprocess: None, aws_clients: AwsClients) -> None:
    end = _end()
    _seed(end)
    first = _collect(aws_clients, end)
    _assert_seeded_figures(first, end)
    # Reading again changes nothing and gives the same figures.
    assert _collect(aws_clients, end) == first


def test_collect_metrics_round_trip_server_mode(aws_server_env: str, aws_clients: AwsClients) -> None:
    end = _end()
    _seed(end)
    _assert_seeded_figures(_collect(aws_clients, end), end)


def test_no_datapoints_means_zero_requests_and_unknown_latency(aws_inprocess: None, aws_clients: AwsClients) -> None:
    snapshot = _collect(aws_clients, _end())
    assert snapshot.green.requests == 0 and snapshot.blue.requests == 0
    assert snapshot.green.p99_ms is None
    assert snapshot.green.active_connections == 0


def test_service_connect_without_discovery_name_is_noted(aws_inprocess: None, aws_clients: AwsClients) -> None:
    sources = MetricSources(
        service_connect=[ServiceConnectMetricSource(cluster="shop", blue_service="a", green_service="a-sc")]
    )
    snapshot = _collect(aws_clients, _end(), sources)
    assert snapshot.green.requests == 0
    assert any("no discovery_name" in n for n in snapshot.notes)


def test_throttled_get_metric_data_succeeds_on_retry(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    end = _end()
    _seed(end)
    fault = throttle_once(aws_clients.cloudwatch(CTX), "GetMetricData", "Throttling")
    _assert_seeded_figures(_collect(aws_clients, end), end)
    assert fault.fired == 1


def test_get_metric_data_paginates(aws_clients: AwsClients) -> None:
    client = aws_clients.cloudwatch(CTX)
    end = _end()
    with Stubber(client) as stub:
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [{"Id": "q0", "Values": [10.0], "Timestamps": [end]}], "NextToken": "page2"},
        )
        stub.add_response(
            "get_metric_data", {"MetricDataResults": [{"Id": "q0", "Values": [5.0], "Timestamps": [end]}]}
        )
        snapshot = _collect(aws_clients, end, MetricSources(alb=SOURCES.alb))
        stub.assert_no_pending_responses()
    assert snapshot.blue.requests == 15  # q0 is blue's ALB RequestCount


def test_permanent_error_is_non_retryable_with_advice(aws_clients: AwsClients) -> None:
    client = aws_clients.cloudwatch(CTX)
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_metric_data",
            service_error_code="AccessDenied",
            service_message="User is not authorized to perform: cloudwatch:GetMetricData",
            http_status_code=403,
        )
        with pytest.raises(ApplicationError) as err:
            _collect(aws_clients, _end())
    assert err.value.non_retryable
    assert "GetMetricData" in str(err.value) and "docs/iam-policy.json" in str(err.value)


# --- alarms -----------------------------------------------------------------------------------


def _put_alarm(name: str) -> None:
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_alarm(
        AlarmName=name,
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )


def test_poll_alarms_states_and_missing(aws_inprocess: None, aws_clients: AwsClients) -> None:
    _put_alarm("shop-green-5xx")
    _put_alarm("shop-green-p99")
    boto3.client("cloudwatch", region_name="us-east-1").set_alarm_state(
        AlarmName="shop-green-5xx", StateValue="ALARM", StateReason="5xx above 10"
    )
    inp = PollAlarmsInput(aws=CTX, alarm_names=["shop-green-5xx", "shop-green-p99", "typo-alarm"])
    result = ActivityEnvironment().run(MetricsActivities(aws_clients).poll_alarms, inp)
    assert [a.name for a in result.firing] == ["shop-green-5xx"]
    assert result.firing[0].reason == "5xx above 10"
    assert result.missing == ["typo-alarm"]
    again = ActivityEnvironment().run(MetricsActivities(aws_clients).poll_alarms, inp)
    assert again == result


def test_poll_alarms_batches_of_100(aws_inprocess: None, aws_clients: AwsClients) -> None:
    names = [f"alarm-{i:03d}" for i in range(150)]
    for name in names[:120]:
        _put_alarm(name)
    client = aws_clients.cloudwatch(CTX)
    sizes: list[int] = []
    client.meta.events.register(
        "provide-client-params.cloudwatch.DescribeAlarms", lambda params, **_: sizes.append(len(params["AlarmNames"]))
    )
    result = ActivityEnvironment().run(
        MetricsActivities(aws_clients).poll_alarms, PollAlarmsInput(aws=CTX, alarm_names=names)
    )
    assert sizes == [100, 50]
    assert len(result.alarms) == 120
    assert result.missing == names[120:]


def test_poll_alarms_throttled_then_ok(aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None) -> None:
    _put_alarm("shop-green-5xx")
    fault = throttle_once(aws_clients.cloudwatch(CTX), "DescribeAlarms", "Throttling")
    result = ActivityEnvironment().run(
        MetricsActivities(aws_clients).poll_alarms, PollAlarmsInput(aws=CTX, alarm_names=["shop-green-5xx"])
    )
    assert fault.fired == 1
    assert [a.name for a in result.alarms] == ["shop-green-5xx"]


def test_poll_alarms_empty_list_makes_no_call(aws_clients: AwsClients) -> None:
    result = ActivityEnvironment().run(
        MetricsActivities(aws_clients).poll_alarms, PollAlarmsInput(aws=CTX, alarm_names=[])
    )
    assert result.alarms == [] and result.missing == []


def test_many_services_of_a_cluster_share_one_note() -> None:
    """One note per cluster, whatever the number of services (2,000 notes made a 321 KB result)."""
    many = MetricSources(
        service_connect=[
            ServiceConnectMetricSource(
                cluster="shop", blue_service=f"s{i}", green_service=f"s{i}-sc", discovery_name=f"s{i}"
            )
            for i in range(500)
        ]
    )
    queries, notes = build_queries(many)
    assert len(queries) == 4 * 500
    assert notes == [
        "Service Connect shop: blue's services run in App Mesh and publish no Service Connect metrics; blue's "
        "traffic is measured at the edge (ALB) only."
    ]
