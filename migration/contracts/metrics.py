"""Watching green: metrics for the analysis, and the spec's CloudWatch alarms."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from meshshift.migration.contracts.base import ActivityDef, AwsContext, Payload, Retry
from meshshift.migration.spec import AnalysisSpec


class AlbMetricSource(Payload):
    load_balancer: str  # the LoadBalancer dimension: app/<name>/<id>
    blue_target_group: str  # the TargetGroup dimension: targetgroup/<name>/<id>
    green_target_group: str


class ServiceConnectMetricSource(Payload):
    cluster: str
    blue_service: str
    green_service: str
    discovery_name: str | None = None


class MetricSources(Payload):
    alb: list[AlbMetricSource] = Field(default_factory=list)
    service_connect: list[ServiceConnectMetricSource] = Field(default_factory=list)


class CollectMetricsInput(Payload):
    aws: AwsContext
    sources: MetricSources
    window: timedelta
    end: datetime | None = Field(default=None, description="Window end; default now")


class TrafficFigures(Payload):
    requests: float = 0.0
    errors_5xx: float = 0.0
    p99_ms: float | None = None
    active_connections: float | None = None


class MetricsSnapshot(Payload):
    window_start: datetime
    window_end: datetime
    green: TrafficFigures
    blue: TrafficFigures
    notes: list[str] = Field(
        default_factory=list, description="What could not be measured or split blue/green, and why"
    )


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class AnalysisVerdict(Payload):
    verdict: Verdict
    reasons: list[str]
    snapshot: MetricsSnapshot
    thresholds: AnalysisSpec


class PollAlarmsInput(Payload):
    aws: AwsContext
    alarm_names: list[str]


class AlarmState(Payload):
    name: str
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str | None = None
    updated: datetime | None = None


class PollAlarmsResult(Payload):
    alarms: list[AlarmState]
    missing: list[str] = Field(default_factory=list)

    @property
    def firing(self) -> list[AlarmState]:
        return [a for a in self.alarms if a.state == "ALARM"]


COLLECT_METRICS = ActivityDef(
    "collect_metrics", CollectMetricsInput, MetricsSnapshot, start_to_close=timedelta(minutes=2), retry=Retry.WATCH
)
POLL_ALARMS = ActivityDef(
    "poll_alarms", PollAlarmsInput, PollAlarmsResult, start_to_close=timedelta(minutes=1), retry=Retry.WATCH
)
