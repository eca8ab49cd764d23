"""Watching without disturbing: migrations through their history (server long-polls, no worker
queries), and the edge through direct boto3 reads from the bench process (the independent observer).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from bench.world import aws
from meshshift.migration.constants import SA_GREEN_WEIGHT, SA_PHASE
from meshshift.migration.edge.alb import AlbEdge
from meshshift.migration.edge.cloudfront import CloudFrontEdge
from meshshift.migration.edge.route53 import Route53Edge


@dataclass(frozen=True)
class Published:
    """A search-attribute upsert: the workflow publishes phase and verified green weight together."""

    time: datetime
    phase: str | None
    green_weight: int | None


async def published(handle: WorkflowHandle[Any, Any], *, wait: bool = True) -> AsyncIterator[Published]:
    """Every phase/weight the workflow publishes, as the server records it. With ``wait`` the server
    long-polls for new events until the workflow closes; without, only what is recorded so far.

    The workflow upserts ``MeshshiftGreenWeight`` in the same workflow task that verified the weight
    by read-back (and that opens the next approval gate), so the event's time is when the verified
    weight became visible to the world.
    """
    async for event in handle.fetch_history_events(wait_new_event=wait):
        if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        phase = json.loads(fields[SA_PHASE].data) if SA_PHASE in fields else None
        weight = json.loads(fields[SA_GREEN_WEIGHT].data) if SA_GREEN_WEIGHT in fields else None
        yield Published(event.event_time.ToDatetime().astimezone(), phase, weight)


def _alb_blue(clients: dict[str, Any], edge: AlbEdge) -> bool:
    rule = clients["elbv2"].describe_rules(RuleArns=[edge.rule_arn])["Rules"][0]
    weights = {
        g["TargetGroupArn"]: g.get("Weight", 1)
        for a in rule["Actions"]
        if a["Type"] == "forward"
        for g in a["ForwardConfig"]["TargetGroups"]
    }
    return bool(weights.get(edge.green_target_group_arn, 0) == 0 and weights.get(edge.blue_target_group_arn, 0) > 0)


def _route53_blue(clients: dict[str, Any], edge: Route53Edge) -> bool:
    page = clients["route53"].list_resource_record_sets(
        HostedZoneId=edge.hosted_zone_id, StartRecordName=edge.record_name, StartRecordType=edge.record_type
    )
    weights = {
        r["SetIdentifier"]: r.get("Weight", 0)
        for r in page["ResourceRecordSets"]
        if r["Name"].rstrip(".") == edge.record_name and "SetIdentifier" in r
    }
    return bool(weights.get(edge.green.set_identifier, 0) == 0 and weights.get(edge.blue.set_identifier, 0) > 0)


def _cloudfront_blue(clients: dict[str, Any], edge: CloudFrontEdge) -> bool:
    # Never promoted in these benches (rollback happens at 25%, CloudFront held at 15%): weight 0 is blue.
    config = clients["cloudfront"].get_continuous_deployment_policy_config(Id=edge.continuous_deployment_policy_id)
    traffic = config["ContinuousDeploymentPolicyConfig"].get("TrafficConfig") or {}
    return float((traffic.get("SingleWeightConfig") or {}).get("Weight", 0.0)) == 0.0


def _is_blue(clients: dict[str, Any], edge: AlbEdge | Route53Edge | CloudFrontEdge) -> bool:
    if isinstance(edge, AlbEdge):
        return _alb_blue(clients, edge)
    if isinstance(edge, Route53Edge):
        return _route53_blue(clients, edge)
    return _cloudfront_blue(clients, edge)


class EdgeObserver:
    """Reads every edge of an app in parallel, in a loop, until all of them serve 100% blue."""

    def __init__(self, edges: list[AlbEdge | Route53Edge | CloudFrontEdge]) -> None:
        self._edges = edges
        self._pool = ThreadPoolExecutor(max_workers=len(edges))
        # Made here, for this run's simulated AWS (a module-level cache kept the first run's endpoint),
        # and in one thread: creating boto3 clients is not thread-safe.
        self._clients = {name: aws(name) for name in ("elbv2", "route53", "cloudfront")}
        self.rounds = 0

    def all_blue(self) -> bool:
        return all(self._pool.map(lambda edge: _is_blue(self._clients, edge), self._edges))

    def wait_all_blue(self, timeout: float = 120.0) -> float:
        """Blocks until every edge reads 100% blue; returns time.monotonic() when that read round ended
        (conservative: the change landed up to one round, a few milliseconds, earlier)."""
        deadline = time.monotonic() + timeout
        while True:
            self.rounds += 1
            if self.all_blue():
                return time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the edge did not read 100% blue within {timeout:.0f}s")

    def close(self) -> None:
        self._pool.shutdown()
