"""moto extensions for ECS: Service Connect config, ``clientToken`` idempotency, steady state.

moto 5.2.5 drops ``serviceConnectConfiguration`` and ``capacityProviderStrategy``, ignores
``clientToken`` (a second ``create_service`` silently replaces the first), and leaves services at
``runningCount`` 0 unless ``MOTO_ECS_SERVICE_RUNNING`` is set. Real ECS keeps the config on the
service's deployments, answers a repeated token with the same service, refuses a second ACTIVE
service of the same name, and converges to steady state. These patches wrap moto's response
class (so they apply under ``mock_aws``, ``ThreadedMotoServer`` and ``moto_server`` alike).

Simulated rollout: ``MESHSHIFT_SIM_ECS_ROLLOUT_POLLS=N`` (read at request time) keeps a new
deployment IN_PROGRESS for the next N ``describe_services`` answers about that service, then
completes it. The default 0 completes deployments immediately. Counting reads instead of seconds
keeps tests deterministic.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api._internal import mock_random

ROLLOUT_POLLS_ENV = "MESHSHIFT_SIM_ECS_ROLLOUT_POLLS"

# Parameters that define a service: a repeated clientToken must come with the same ones.
_IDENTITY_PARAMS = (
    "cluster",
    "serviceName",
    "taskDefinition",
    "desiredCount",
    "loadBalancers",
    "launchType",
    "capacityProviderStrategy",
    "networkConfiguration",
    "serviceConnectConfiguration",
    "platformVersion",
)


def _tokens(backend: EC2ContainerServiceBackend) -> dict[str, tuple[str, str]]:
    """clientToken -> (parameter fingerprint, cluster:service key). Lives on the backend so a moto reset clears it."""
    tokens: dict[str, tuple[str, str]] | None = getattr(backend, "_meshshift_client_tokens", None)
    if tokens is None:
        tokens = {}
        backend._meshshift_client_tokens = tokens  # type: ignore[attr-defined]
    return tokens


def _rollout_polls() -> int:
    try:
        return max(int(os.environ.get(ROLLOUT_POLLS_ENV, "0")), 0)
    except ValueError:
        return 0


def _new_deployment(service: Service) -> None:
    """Replace the deployments with one PRIMARY deployment of the service's current settings."""
    now = datetime.now(UTC)
    deployment_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
    deployment: dict[str, Any] = {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": service.task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": service.desired_count,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "COMPLETED",
        "rolloutStateReason": f"ECS deployment {deployment_id} completed.",
    }
    strategy = getattr(service, "capacity_provider_strategy", None)
    if strategy:
        deployment["capacityProviderStrategy"] = strategy
        deployment.pop("launchType")
    sc_config = getattr(service, "service_connect_configuration", None)
    if sc_config:
        deployment["serviceConnectConfiguration"] = sc_config
    service.deployments = [deployment]
    polls = _rollout_polls()
    service._meshshift_polls_left = polls  # type: ignore[attr-defined]
    if polls:
        _set_counts(service, running=0, pending=service.desired_count, state="IN_PROGRESS")
    else:
        _set_counts(service, running=service.desired_count, pending=0, state="COMPLETED")


def _set_counts(service: Service, running: int, pending: int, state: str) -> None:
    service.running_count = running
    service.pending_count = pending
    if service.deployments:
        deployment = service.deployments[0]
        deployment["runningCount"] = running
        deployment["pendingCount"] = pending
        deployment["desiredCount"] = service.desired_count
        deployment["rolloutState"] = state
        deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} {state.lower().replace('_', ' ')}."
        deployment["updatedAt"] = datetime.now(UTC)


def _advance_rollout(service: Service) -> None:
    left = int(getattr(service, "_meshshift_polls_left", 0))
    if left > 0:
        service._meshshift_polls_left = left - 1  # type: ignore[attr-defined]
        return
    settled = (
        service.running_count == service.desired_count
        and service.pending_count == 0
        and bool(service.deployments)
        and service.deployments[0].get("rolloutState") == "COMPLETED"
    )
    # Reads must not look like changes: touch the deployment only when it actually completes.
    if service.status == "ACTIVE" and not settled:
        _set_counts(service, running=service.desired_count, pending=0, state="COMPLETED")


def _fingerprint(params: dict[str, Any]) -> str:
    identity = {key: params.get(key) for key in _IDENTITY_PARAMS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def _wrap_create_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_service(self: EC2ContainerServiceResponse) -> Any:
        backend = self.ecs_backend
        params: dict[str, Any] = self._get_params()
        cluster = backend._get_cluster(params.get("cluster") or "default")
        name = params["serviceName"]
        key = f"{cluster.name}:{name}"
        token = params.get("clientToken")
        fingerprint = _fingerprint({**params, "cluster": cluster.name})
        tokens = _tokens(backend)
        if token and token in tokens:
            seen_fingerprint, seen_key = tokens[token]
            if seen_fingerprint != fingerprint or seen_key != key:
                raise InvalidParameterException(
                    "Creation of service was not idempotent: the clientToken was used with different parameters."
                )
            from moto.core.responses import ActionResult

            return ActionResult({"service": backend.services[seen_key]})
        existing = backend.services.get(key)
        if existing is not None and existing.status in ("ACTIVE", "DRAINING"):
            raise InvalidParameterException("Creation of service was not idempotent.")
        result = original(self)
        service = backend.services[key]
        # moto's Service has no such attributes; its serializer picks them up by name.
        service.service_connect_configuration = params.get("serviceConnectConfiguration")  # type: ignore[attr-defined]
        strategy = params.get("capacityProviderStrategy")
        if strategy:
            service.capacity_provider_strategy = strategy  # type: ignore[attr-defined]
            service.launch_type = None
        _new_deployment(service)
        if token:
            tokens[token] = (fingerprint, key)
        return result

    return create_service


def _wrap_update_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_service(self: EC2ContainerServiceResponse) -> Any:
        params: dict[str, Any] = self._get_params()
        result = original(self)
        backend = self.ecs_backend
        service = backend._get_service(params.get("cluster") or "default", params["service"].split("/")[-1])
        if params.get("taskDefinition"):
            # moto stores the string it was given ("family:1"); ECS reports the full ARN.
            service.task_definition = backend.describe_task_definition(params["taskDefinition"]).arn
        changed = any(
            key in params
            for key in (
                "taskDefinition",
                "serviceConnectConfiguration",
                "networkConfiguration",
                "loadBalancers",
                "capacityProviderStrategy",
                "forceNewDeployment",
            )
        )
        if changed:
            _new_deployment(service)
        else:
            _set_counts(service, running=service.desired_count, pending=0, state="COMPLETED")
        return result

    return update_service


def _wrap_describe_services(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_services(self: EC2ContainerServiceResponse) -> Any:
        backend = self.ecs_backend
        params: dict[str, Any] = self._get_params()
        cluster = params.get("cluster") or "default"
        for name_or_arn in params.get("services") or []:
            try:
                service = backend._get_service(cluster, name_or_arn.split("/")[-1])
            except Exception:  # noqa: S112 - missing services are reported as failures by moto itself
                continue
            _advance_rollout(service)
        return original(self)

    return describe_services


def _wrap_create_http_namespace(original: Callable[..., Any]) -> Callable[..., Any]:
    """Cloud Map honours CreatorRequestId (a repeated create returns the first operation); moto does
    not, and would make a second namespace of the same name. Service Connect namespaces come from here."""

    def create_http_namespace(self: Any) -> Any:
        params = json.loads(self.body)
        request_id = params.get("CreatorRequestId")
        backend = self.servicediscovery_backend
        seen: dict[str, tuple[str, str]] | None = getattr(backend, "_meshshift_creator_requests", None)
        if seen is None:
            seen = {}
            backend._meshshift_creator_requests = seen
        if request_id and request_id in seen and seen[request_id][0] == params.get("Name"):
            return json.dumps({"OperationId": seen[request_id][1]})
        answer = original(self)
        if request_id:
            seen[request_id] = (params.get("Name"), json.loads(answer)["OperationId"])
        return answer

    return create_http_namespace


def install() -> None:
    from moto.servicediscovery.responses import ServiceDiscoveryResponse

    setattr(  # noqa: B010
        ServiceDiscoveryResponse,
        "create_http_namespace",
        _wrap_create_http_namespace(ServiceDiscoveryResponse.create_http_namespace),
    )
    cls = EC2ContainerServiceResponse
    if getattr(cls, "_meshshift_patched", False):
        return
    # setattr: these replace moto's methods on its response class, for every moto mode at once.
    setattr(cls, "create_service", _wrap_create_service(cls.create_service))  # noqa: B010
    setattr(cls, "update_service", _wrap_update_service(cls.update_service))  # noqa: B010
    setattr(cls, "describe_services", _wrap_describe_services(cls.describe_services))  # noqa: B010
    setattr(cls, "_meshshift_patched", True)  # noqa: B010
