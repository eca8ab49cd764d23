"""Scaling queue consumers (async workers) up and down, waiting until ECS has done it.

The flip is: scale green's consumers up and wait until they are stable, then scale blue's to 0 and
wait until none of its tasks is running or pending; rollback runs the same two calls the other
way round. Waiting for ``running == 0 and pending == 0`` is what "no in-flight work cut off"
can mean from the outside: ECS stops each task by sending SIGTERM to its containers and, after
the container's ``stopTimeout`` (30 s by default, up to 120 s on Fargate), SIGKILL. A message
being handled when SIGTERM arrives is only finished (or returned to its queue) if the worker
handles SIGTERM by finishing or abandoning its current message within ``stopTimeout``; give
workers with long messages a longer ``stopTimeout`` and a visibility timeout that returns
unfinished messages to the queue.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from meshshift.activities.aws import AwsClients, aws_errors
from meshshift.activities.definition import implements
from meshshift.activities.polling import Backoff
from meshshift.migration import contracts
from meshshift.migration.contracts import ScaleServiceInput, ScaleServiceResult, ServiceState

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient


def describe_service(ecs: ECSClient, cluster: str, service: str) -> dict[str, Any] | None:
    """The service as ECS describes it, or None when it does not exist or was deleted."""
    with aws_errors(f"ECS DescribeServices for {service!r} in cluster {cluster!r}"):
        answer = ecs.describe_services(cluster=cluster, services=[service])
    for found in answer.get("services", []):
        # A deleted service stays describable as INACTIVE for a while; it is gone for our purposes.
        if found.get("serviceName") == service.split("/")[-1] and found.get("status") != "INACTIVE":
            return dict(found)
    return None


def service_state(svc: dict[str, Any]) -> ServiceState:
    """Steady for a scale: every task wanted is running, none pending, no deployment rolling."""
    desired = int(svc.get("desiredCount", 0))
    running = int(svc.get("runningCount", 0))
    pending = int(svc.get("pendingCount", 0))
    deployments = svc.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    return ServiceState(
        name=str(svc.get("serviceName", "")),
        desired_count=desired,
        running_count=running,
        pending_count=pending,
        deployments=len(deployments),
        rollout_state=primary.get("rolloutState") if primary else None,
        # A scale does not start a deployment, so rolloutState is the last deployment's and is
        # not part of the condition; a second deployment means a rollout is still replacing tasks.
        stable=running == desired and pending == 0 and len(deployments) <= 1,
    )


def pause(seconds: float) -> None:
    """Sleep between polls, waking up at once if the activity is cancelled."""
    activity.wait_for_cancelled_sync(timeout=seconds)
    if activity.is_cancelled():
        raise CancelledError("activity cancelled while waiting for ECS")


class AsyncWorkerActivities:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    @implements(contracts.SCALE_SERVICE)
    def scale_service(self, inp: ScaleServiceInput) -> ScaleServiceResult:
        ecs = self._clients.ecs(inp.aws)
        where = f"ECS service {inp.service!r} in cluster {inp.cluster!r}"
        svc = describe_service(ecs, inp.cluster, inp.service)
        if svc is None:
            raise ApplicationError(
                f"{where} was not found (or is INACTIVE). Expected an existing async-worker service named in "
                "`async_workers[].blue_service` / `green_service`. Next: fix the name or cluster in the spec, "
                "or provision the service, then retry.",
                type="ServiceNotFound",
                non_retryable=True,
            )
        previous = int(svc.get("desiredCount", 0))
        if previous != inp.desired_count:
            with aws_errors(f"ECS UpdateService desiredCount={inp.desired_count} for {where}"):
                ecs.update_service(cluster=inp.cluster, service=inp.service, desiredCount=inp.desired_count)

        deadline = time.monotonic() + inp.timeout.total_seconds()
        waits = Backoff(inp.poll_interval.total_seconds())
        while True:
            svc = describe_service(ecs, inp.cluster, inp.service)
            if svc is None:
                raise ApplicationError(
                    f"{where} disappeared while being scaled to {inp.desired_count}. Next: find out who deleted "
                    "it, then restart the step.",
                    type="ServiceNotFound",
                    non_retryable=True,
                )
            state = service_state(svc)
            if state.desired_count != inp.desired_count:
                raise ApplicationError(
                    f"{where}: desiredCount reads back as {state.desired_count} after setting {inp.desired_count}. "
                    "Something else manages its size (Application Auto Scaling, a deployment pipeline). "
                    "Next: suspend that scaling or align its min/max capacity, then retry.",
                    type="DesiredCountOverridden",
                    non_retryable=True,
                )
            if not inp.wait_stable or state.stable:
                return ScaleServiceResult(
                    service=inp.service,
                    desired_count=state.desired_count,
                    running_count=state.running_count,
                    pending_count=state.pending_count,
                    stable=state.stable,
                    previous_desired_count=previous,
                )
            if time.monotonic() >= deadline:
                # Retryable: ECS may still be starting or draining tasks; Temporal's retry re-checks.
                raise ApplicationError(
                    f"{where} not stable after {inp.timeout}: desired {state.desired_count}, running "
                    f"{state.running_count}, pending {state.pending_count}, deployments {state.deployments}. "
                    "Next: check the service's events (tasks failing to start, or stopping slowly because "
                    "their stopTimeout is long).",
                    state.model_dump(),
                    type="ServiceNotStable",
                )
            activity.heartbeat(state.model_dump())
            pause(waits.next())
