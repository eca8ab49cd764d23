"""CloudWatch reads: traffic figures for blue and green, and the state of the spec's alarms.

Only I/O lives here. The verdict on the figures (pass / fail / inconclusive) is computed purely in
``migration.analysis`` so it can be tested and replayed without AWS.

Where each figure comes from:

- **ALB** (``AWS/ApplicationELB``, dimensions ``LoadBalancer`` + ``TargetGroup``): ``RequestCount``
  (Sum), ``HTTPCode_Target_5XX_Count`` (Sum) and ``TargetResponseTime`` (p99, in seconds). The
  ALB's ``ActiveConnectionCount`` exists only per load balancer, not per target group, so it
  cannot be split into blue and green and is not read.
- **Service Connect** (``AWS/ECS``): the target-side metrics ``RequestCount``,
  ``HTTPCode_Target_5XX_Count`` and ``TargetResponseTime`` (p99, in milliseconds) are published
  by the calling proxies on the ``TargetDiscoveryName`` dimension, so requests, errors and latency
  come from that one dimension set (one population for the error rate). ``ActiveConnectionCount``
  is published by the service's own proxy on ``ClusterName`` + ``ServiceName`` +
  ``DiscoveryName`` (Maximum over the window). Blue runs in App Mesh and publishes no Service
  Connect metrics, so Service Connect sources only ever measure green.

A count with no datapoints means no requests (CloudWatch stores nothing for an idle series); a
latency with no datapoints is unknown (``None``), never zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from meshshift.activities.aws import AwsClients, aws_errors
from meshshift.activities.definition import implements
from meshshift.migration import contracts
from meshshift.migration.contracts import (
    AlarmState,
    CollectMetricsInput,
    MetricSources,
    MetricsSnapshot,
    PollAlarmsInput,
    PollAlarmsResult,
    TrafficFigures,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef

ALB_NAMESPACE = "AWS/ApplicationELB"
ECS_NAMESPACE = "AWS/ECS"
# GetMetricData accepts at most 500 queries per call; DescribeAlarms at most 100 names.
MAX_QUERIES_PER_CALL = 500
MAX_ALARM_NAMES_PER_CALL = 100

Side = Literal["blue", "green"]
Kind = Literal["requests", "errors_5xx", "p99_ms", "active_connections"]


@dataclass(frozen=True)
class MetricQuery:
    """One GetMetricData query and where its values go in the snapshot."""

    side: Side
    kind: Kind
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    scale: float = 1.0  # multiplies each value (ALB latency: seconds -> milliseconds)

    def to_aws(self, query_id: str, period: int) -> MetricDataQueryTypeDef:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in self.dimensions],
                },
                "Period": period,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }


def period_for(window: timedelta) -> int:
    """The window rounded up to whole minutes: one period covers the whole window."""
    seconds = max(window.total_seconds(), 1.0)
    return max(60, math.ceil(seconds / 60.0) * 60)


def build_queries(sources: MetricSources) -> tuple[list[MetricQuery], list[str]]:
    """The queries for every source, plus notes on what cannot be measured."""
    queries: list[MetricQuery] = []
    notes: list[str] = []
    for alb in sources.alb:
        sides: tuple[tuple[Side, str], ...] = (("blue", alb.blue_target_group), ("green", alb.green_target_group))
        for side, target_group in sides:
            dims = (("LoadBalancer", alb.load_balancer), ("TargetGroup", target_group))
            queries += [
                MetricQuery(side, "requests", ALB_NAMESPACE, "RequestCount", dims, "Sum"),
                MetricQuery(side, "errors_5xx", ALB_NAMESPACE, "HTTPCode_Target_5XX_Count", dims, "Sum"),
                MetricQuery(side, "p99_ms", ALB_NAMESPACE, "TargetResponseTime", dims, "p99", scale=1000.0),
            ]
        notes.append(
            f"ALB {alb.load_balancer}: ActiveConnectionCount exists only per load balancer, so it cannot be "
            "split into blue and green and is not measured; requests per target group are."
        )
    for sc in sources.service_connect:
        if not sc.discovery_name:
            notes.append(
                f"Service Connect {sc.cluster}/{sc.green_service}: no discovery_name given (use the service's "
                "discoveryName, or its portName when none is set), so its Service Connect metrics were not read."
            )
            continue
        target = (("TargetDiscoveryName", sc.discovery_name),)
        inbound = (("ClusterName", sc.cluster), ("ServiceName", sc.green_service), ("DiscoveryName", sc.discovery_name))
        queries += [
            MetricQuery("green", "requests", ECS_NAMESPACE, "RequestCount", target, "Sum"),
            MetricQuery("green", "errors_5xx", ECS_NAMESPACE, "HTTPCode_Target_5XX_Count", target, "Sum"),
            MetricQuery("green", "p99_ms", ECS_NAMESPACE, "TargetResponseTime", target, "p99"),
            MetricQuery("green", "active_connections", ECS_NAMESPACE, "ActiveConnectionCount", inbound, "Maximum"),
        ]
        # One note per cluster, naming no service: at 2,000 services one note each made a 321 KB
        # result, and the note is the same for every blue service.
        note = (
            f"Service Connect {sc.cluster}: blue's services run in App Mesh and publish no Service Connect "
            "metrics; blue's traffic is measured at the edge (ALB) only."
        )
        if note not in notes:
            notes.append(note)
    return queries, notes


def _combine(queries: list[MetricQuery], values: dict[str, list[float]], side: Side) -> TrafficFigures:
    figures = TrafficFigures()
    latencies: list[float] = []
    connections: float | None = None
    for index, query in enumerate(queries):
        if query.side != side:
            continue
        found = [v * query.scale for v in values.get(f"q{index}", [])]
        if query.kind == "requests":
            figures.requests += sum(found)
        elif query.kind == "errors_5xx":
            figures.errors_5xx += sum(found)
        elif query.kind == "p99_ms":
            latencies += found
        else:
            # Measured: no datapoint means no connection was open.
            connections = (connections or 0.0) + (max(found) if found else 0.0)
    # Percentiles of different populations cannot be merged exactly; the worst one is the safe
    # figure to judge green by.
    figures.p99_ms = max(latencies) if latencies else None
    figures.active_connections = connections
    return figures


class MetricsActivities:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    @implements(contracts.COLLECT_METRICS)
    def collect_metrics(self, inp: CollectMetricsInput) -> MetricsSnapshot:
        end = (inp.end or datetime.now(UTC)).replace(microsecond=0)
        period = period_for(inp.window)
        start = end - timedelta(seconds=period)
        queries, notes = build_queries(inp.sources)
        values: dict[str, list[float]] = {}
        if queries:
            cloudwatch = self._clients.cloudwatch(inp.aws)
            aws_queries = [q.to_aws(f"q{i}", period) for i, q in enumerate(queries)]
            for offset in range(0, len(aws_queries), MAX_QUERIES_PER_CALL):
                batch = aws_queries[offset : offset + MAX_QUERIES_PER_CALL]
                token: str | None = None
                while True:
                    kwargs: dict[str, Any] = {"MetricDataQueries": batch, "StartTime": start, "EndTime": end}
                    if token:
                        kwargs["NextToken"] = token
                    with aws_errors(
                        f"CloudWatch GetMetricData ({len(batch)} queries, {start.isoformat()}..{end.isoformat()})"
                    ):
                        page = cloudwatch.get_metric_data(**kwargs)
                    for result in page.get("MetricDataResults", []):
                        values.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values", []))
                    token = page.get("NextToken")
                    if not token:
                        break
        return MetricsSnapshot(
            window_start=start,
            window_end=end,
            green=_combine(queries, values, "green"),
            blue=_combine(queries, values, "blue"),
            notes=notes,
        )

    @implements(contracts.POLL_ALARMS)
    def poll_alarms(self, inp: PollAlarmsInput) -> PollAlarmsResult:
        names = list(dict.fromkeys(inp.alarm_names))
        if not names:
            return PollAlarmsResult(alarms=[])
        cloudwatch = self._clients.cloudwatch(inp.aws)
        found: dict[str, AlarmState] = {}
        for offset in range(0, len(names), MAX_ALARM_NAMES_PER_CALL):
            batch = names[offset : offset + MAX_ALARM_NAMES_PER_CALL]
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {
                    "AlarmNames": batch,
                    # Without AlarmTypes, DescribeAlarms returns metric alarms only.
                    "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                }
                if token:
                    kwargs["NextToken"] = token
                with aws_errors(f"CloudWatch DescribeAlarms for {len(batch)} alarm(s) named in `alarms`"):
                    page = cloudwatch.describe_alarms(**kwargs)
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    name = alarm.get("AlarmName", "")
                    found[name] = AlarmState(
                        name=name,
                        state=str(alarm.get("StateValue", "INSUFFICIENT_DATA")),
                        reason=alarm.get("StateReason"),
                        updated=alarm.get("StateUpdatedTimestamp"),
                    )
                token = page.get("NextToken")
                if not token:
                    break
        return PollAlarmsResult(
            alarms=[found[n] for n in names if n in found],
            missing=[n for n in names if n not in found],
        )
