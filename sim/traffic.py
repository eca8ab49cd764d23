"""The demo's traffic: what AWS would measure if users were hitting the shop.

Every tick (a few seconds) the simulator:

1. reads the weights actually set in the simulated AWS: the ALB listener's forward action
   (``describe_listeners``) and the Route 53 weighted record pair (``list_resource_record_sets``);
2. splits the tick's requests by those weights. The shop has two ways in: web clients come through
   the ALB listener, whose forward weights pick the target group; API clients resolve
   ``api.shop.example.com``, whose weighted records send them to blue's or green's entry. So green
   gets exactly the share that the edge, as read back, gives it, and blue gets none once every
   shifter is at 100% green;
3. publishes what the load balancer and the Service Connect proxies would publish into the
   simulated CloudWatch, with the dimensions meshshift's metrics activity queries: per target group
   ``RequestCount``, ``HTTPCode_Target_5XX_Count`` and ``TargetResponseTime`` in
   ``AWS/ApplicationELB`` (``LoadBalancer`` + ``TargetGroup``), and for green's services the
   Service Connect metrics in ``AWS/ECS``. Like AWS, it publishes no datapoint for a count that is
   zero (no datapoints means no requests);
4. evaluates the CloudWatch alarms from the metrics it reads back (moto stores alarms but never
   evaluates them) and sets their state with ``set_alarm_state``, as CloudWatch would.

``fail_at``: once green's share reaches that percent, green starts failing (a bad build): its 5xx
rate and latency rise, the alarms fire on the data, and the workflow's alarm poll and analysis see
it. The simulated AWS is told too (``set_service_failing``), so the load balancer's health checks
of green's tasks fail and its targets turn ``unhealthy``, as they would. The failure stays (the
build is still bad) but stops costing anything once green gets no traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from meshshift.sim.demo_world import (
    CLUSTER,
    FRONT_SERVICE,
    HEALTH_DEPENDENCIES,
    DemoWorld,
    EdgeWeights,
    client,
    read_edge_weights,
)

log = logging.getLogger("meshshift.demo.traffic")

ALB_NAMESPACE = "AWS/ApplicationELB"
ECS_NAMESPACE = "AWS/ECS"
MAX_DATUMS_PER_CALL = 1000
LATENCY_SAMPLES = 20  # latency datapoints per target and tick (a sample of the requests)
GREEN_FRONT_SERVICE = f"{FRONT_SERVICE}-sc"  # the green service behind green's target group

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
_COMPARE_WORDS = {
    "GreaterThanThreshold": "greater than",
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


@dataclass(frozen=True)
class TrafficProfile:
    requests_per_second: float = 1000.0
    web_share: float = 0.6  # through the ALB listener; the rest resolves the Route 53 record
    error_rate: float = 0.0002
    latency_median_s: float = 0.045
    fail_at: int | None = None  # green percent at which green starts failing
    failing_error_rate: float = 0.2
    failing_latency_median_s: float = 0.8
    # Service Connect calls per frontend request, by green backend (the frontend's own fan-out).
    fan_out: dict[str, int] = field(default_factory=lambda: {"user-api": 1, "stock-api": 2})


@dataclass(frozen=True)
class TrafficSample:
    """One tick: the weights read from AWS and the traffic that followed them."""

    time: datetime
    weights: EdgeWeights
    blue_requests: int
    green_requests: int
    green_errors: int
    failing: bool

    @property
    def green_percent(self) -> float:
        total = self.blue_requests + self.green_requests
        return 100.0 * self.green_requests / total if total else 0.0


@dataclass(frozen=True)
class AlarmChange:
    time: datetime
    alarm: str
    state: str
    reason: str


class TrafficSimulator:
    def __init__(
        self,
        world: DemoWorld,
        profile: TrafficProfile | None = None,
        *,
        tick_seconds: float = 2.0,
        alarm_names: Iterable[str] = (),
        seed: int = 7,
    ) -> None:
        self.world = world
        self.profile = profile or TrafficProfile()
        self.tick_seconds = tick_seconds
        self.alarm_names = list(alarm_names)
        self.samples: list[TrafficSample] = []
        self.alarm_changes: list[AlarmChange] = []
        self.failing = False
        self.errors: list[str] = []
        self._rng = random.Random(seed)
        self._last_tick: float | None = None
        self._alb_dimension = world.load_balancer_dimension
        self._tg_dimensions = {
            "blue": world.target_group_dimension(world.blue_target_group_arn),
            "green": world.target_group_dimension(world.green_target_group_arn),
        }

    # --- one tick -----------------------------------------------------------------------------

    def tick(self, elapsed: float | None = None) -> TrafficSample:
        """One tick; ``elapsed`` (seconds of traffic) defaults to the time since the last tick."""
        now_mono = time.monotonic()
        if elapsed is None:
            elapsed = self.tick_seconds if self._last_tick is None else max(now_mono - self._last_tick, 0.1)
        self._last_tick = now_mono
        now = datetime.now(UTC)
        weights = read_edge_weights(self.world)
        total = self._count(self.profile.requests_per_second * elapsed)
        web = round(total * self.profile.web_share)
        api = total - web
        green = round(web * weights.alb_green_share) + round(api * weights.route53_green_share)
        blue = total - green
        # The share the edge gives green (not this tick's rounded counts) decides when it fails.
        web_share = self.profile.web_share
        share = 100.0 * (web_share * weights.alb_green_share + (1 - web_share) * weights.route53_green_share)
        if self.profile.fail_at is not None and share + 1e-9 >= self.profile.fail_at and not self.failing:
            self.failing = True
            log.info("green starts failing at %.1f%% of the traffic (fail_at %s)", share, self.profile.fail_at)
            self._fail_green_service()
        green_rate = self.profile.failing_error_rate if self.failing else self.profile.error_rate
        green_latency = self.profile.failing_latency_median_s if self.failing else self.profile.latency_median_s
        blue_errors = self._count(blue * self.profile.error_rate)
        green_errors = self._count(green * green_rate)

        alb: list[dict[str, Any]] = []
        alb += self._target_group("blue", blue, blue_errors, self.profile.latency_median_s, now)
        alb += self._target_group("green", green, green_errors, green_latency, now)
        ecs = self._service_connect(green, green_rate, green_latency, now)
        cloudwatch = client("cloudwatch", self.world.region)
        for namespace, data in ((ALB_NAMESPACE, alb), (ECS_NAMESPACE, ecs)):
            for start in range(0, len(data), MAX_DATUMS_PER_CALL):
                cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + MAX_DATUMS_PER_CALL])
        sample = TrafficSample(
            time=now,
            weights=weights,
            blue_requests=blue,
            green_requests=green,
            green_errors=green_errors,
            failing=self.failing,
        )
        self.samples.append(sample)
        self.evaluate_alarms(now)
        return sample

    def _fail_green_service(self) -> None:
        """The bad build fails its health checks too: the simulated ELB marks green's targets unhealthy."""
        from meshshift.sim.aws.account import set_service_failing

        try:
            set_service_failing(CLUSTER, GREEN_FRONT_SERVICE, True, region=self.world.region)
        except Exception as exc:  # green not provisioned (a test driving ticks by hand): metrics only
            log.info("could not make %s fail its health checks: %s", GREEN_FRONT_SERVICE, exc)

    def _count(self, expected: float) -> int:
        """An integer count with ``expected`` as its mean (random rounding of the fraction)."""
        whole = math.floor(expected)
        return whole + (1 if self._rng.random() < expected - whole else 0)

    def _latencies(self, median_s: float, count: int) -> list[float]:
        return [round(self._rng.lognormvariate(math.log(median_s), 0.45), 4) for _ in range(count)]

    def _target_group(
        self, side: str, requests: int, errors: int, latency_s: float, now: datetime
    ) -> list[dict[str, Any]]:
        if requests <= 0:
            return []
        dims = [
            {"Name": "LoadBalancer", "Value": self._alb_dimension},
            {"Name": "TargetGroup", "Value": self._tg_dimensions[side]},
        ]
        data: list[dict[str, Any]] = [
            {"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": now, "Value": requests, "Unit": "Count"}
        ]
        if errors > 0:
            data.append(
                {
                    "MetricName": "HTTPCode_Target_5XX_Count",
                    "Dimensions": dims,
                    "Timestamp": now,
                    "Value": errors,
                    "Unit": "Count",
                }
            )
        data += [
            {"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": now, "Value": v, "Unit": "Seconds"}
            for v in self._latencies(latency_s, min(requests, LATENCY_SAMPLES))
        ]
        return data

    def _service_connect(self, front: int, rate: float, latency_s: float, now: datetime) -> list[dict[str, Any]]:
        """What green's Service Connect proxies publish: target-side figures per discovery name."""
        if front <= 0:
            return []
        data: list[dict[str, Any]] = []
        calls = {"frontend": front} | {name: front * n for name, n in self.profile.fan_out.items()}
        for service, requests in calls.items():
            if service not in HEALTH_DEPENDENCIES:
                continue
            discovery = f"{service}-sc"
            target = [{"Name": "TargetDiscoveryName", "Value": discovery}]
            inbound = [
                {"Name": "ClusterName", "Value": CLUSTER},
                {"Name": "ServiceName", "Value": discovery},
                {"Name": "DiscoveryName", "Value": discovery},
            ]
            data.append(
                {
                    "MetricName": "RequestCount",
                    "Dimensions": target,
                    "Timestamp": now,
                    "Value": requests,
                    "Unit": "Count",
                }
            )
            errors = self._count(requests * rate)
            if errors > 0:
                data.append(
                    {
                        "MetricName": "HTTPCode_Target_5XX_Count",
                        "Dimensions": target,
                        "Timestamp": now,
                        "Value": errors,
                        "Unit": "Count",
                    }
                )
            data += [
                {
                    "MetricName": "TargetResponseTime",
                    "Dimensions": target,
                    "Timestamp": now,
                    "Value": round(v * 1000.0, 1),
                    "Unit": "Milliseconds",
                }
                for v in self._latencies(latency_s * 0.6, min(requests, LATENCY_SAMPLES // 2))
            ]
            data.append(
                {
                    "MetricName": "ActiveConnectionCount",
                    "Dimensions": inbound,
                    "Timestamp": now,
                    "Value": max(1, round(requests / max(self.tick_seconds, 1.0) * latency_s * 4)),
                    "Unit": "Count",
                }
            )
        return data

    # --- alarms -------------------------------------------------------------------------------

    def evaluate_alarms(self, now: datetime) -> None:
        """Set each alarm's state from the metrics, as CloudWatch would (moto never evaluates)."""
        if not self.alarm_names:
            return
        cloudwatch = client("cloudwatch", self.world.region)
        alarms = cloudwatch.describe_alarms(AlarmNames=self.alarm_names).get("MetricAlarms", [])
        for alarm in alarms:
            state, reason = self._evaluate(cloudwatch, alarm, now)
            if state == alarm.get("StateValue"):
                continue
            cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=state, StateReason=reason)
            self.alarm_changes.append(AlarmChange(time=now, alarm=alarm["AlarmName"], state=state, reason=reason))
            log.info("alarm %s -> %s: %s", alarm["AlarmName"], state, reason)

    @staticmethod
    def _evaluate(cloudwatch: Any, alarm: dict[str, Any], now: datetime) -> tuple[str, str]:
        period = int(alarm.get("Period", 60))
        periods = int(alarm.get("EvaluationPeriods", 1))
        stat = alarm.get("Statistic") or alarm.get("ExtendedStatistic") or "Average"
        end = now.replace(microsecond=0) + timedelta(seconds=1)
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": alarm["Namespace"],
                            "MetricName": alarm["MetricName"],
                            "Dimensions": alarm.get("Dimensions", []),
                        },
                        "Period": period,
                        "Stat": stat,
                    },
                }
            ],
            StartTime=end - timedelta(seconds=period * periods),
            EndTime=end,
        )
        values = [float(v) for r in answer.get("MetricDataResults", []) for v in r.get("Values", [])]
        threshold = float(alarm["Threshold"])
        operator = alarm.get("ComparisonOperator", "GreaterThanThreshold")
        compare = _COMPARE.get(operator, _COMPARE["GreaterThanThreshold"])
        if not values:
            missing = alarm.get("TreatMissingData", "missing")
            if missing == "breaching":
                return "ALARM", "Threshold Crossed: no datapoints were received (treated as breaching)."
            if missing == "notBreaching":
                return "OK", "Threshold not crossed: no datapoints were received (treated as not breaching)."
            return "INSUFFICIENT_DATA", "Insufficient Data: no datapoints were received."
        value = values[-1]
        words = _COMPARE_WORDS.get(operator, operator)
        if all(compare(v, threshold) for v in values):
            return "ALARM", (
                f"Threshold Crossed: {len(values)} datapoint(s) [{value:g}] {stat} of {alarm['MetricName']} "
                f"was {words} the threshold ({threshold:g})."
            )
        return "OK", f"Threshold not crossed: {stat} of {alarm['MetricName']} is {value:g} (threshold {threshold:g})."

    # --- running --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set. A failed tick is logged and retried at the next one."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception as exc:  # a demo aid must not take the demo down with it
                message = f"traffic tick failed: {type(exc).__name__}: {exc}"
                log.warning(message)
                self.errors.append(message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick_seconds)

    def weight_changes(self) -> list[TrafficSample]:
        """The samples where the weights read from AWS changed (the first one included)."""
        changes: list[TrafficSample] = []
        for sample in self.samples:
            if not changes or sample.weights != changes[-1].weights:
                changes.append(sample)
        return changes
