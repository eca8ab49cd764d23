"""moto extensions for ECS: Service Connect config, ``clientToken`` idempotency, deployments.

moto 5.2.5 drops ``serviceConnectConfiguration`` and ``capacityProviderStrategy``, ignores
``clientToken`` (a second ``create_service`` silently replaces the first), accepts a target group
that no load balancer uses, and deletes a service at once. Real ECS keeps the config on the
service's deployments, answers a repeated token with the same service, refuses a second ACTIVE
service of the same name, refuses a target group without a load balancer, starts a deployment for
every change that needs new tasks, and keeps a deleted service DRAINING until its tasks have
stopped. These patches wrap moto's response class and backend (so they apply under ``mock_aws``,
``ThreadedMotoServer`` and ``moto_server`` alike); the tasks themselves are run by the simulated
scheduler in sim/aws/ecs_tasks.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api._internal import mock_random

from meshshift.sim.aws import ecs_tasks
from meshshift.sim.aws import settings as sim_settings

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


def _new_deployment(service: Service) -> None:
    """Start a PRIMARY deployment of the service's current settings; the previous ones stay (ACTIVE)
    until the scheduler has replaced their tasks."""
    now = datetime.now(UTC)
    deployment_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
    deployment: dict[str, Any] = {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": service.task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": "ECS deployment in progress.",
    }
    strategy = getattr(service, "capacity_provider_strategy", None)
    if strategy:
        deployment["capacityProviderStrategy"] = strategy
        deployment.pop("launchType")
    sc_config = getattr(service, "service_connect_configuration", None)
    if sc_config:
        deployment["serviceConnectConfiguration"] = sc_config
    previous = [d for d in service.deployments if d.get("id") != deployment_id]
    for old in previous:
        old["status"] = "ACTIVE"
    service.deployments = [deployment, *previous]
    ecs_tasks.mark_dirty(service)


def _schedule(backend: EC2ContainerServiceBackend, service: Service) -> None:
    """Bring the service up to now, so that the answer to this very call shows what ECS started."""
    ecs_tasks.schedule(backend, service, sim_settings.current().now())


def _check_load_balancers(backend: EC2ContainerServiceBackend, load_balancers: list[dict[str, Any]] | None) -> None:
    from moto.elbv2.models import elbv2_backends

    elb = elbv2_backends[backend.account_id][backend.region_name]
    for attachment in load_balancers or []:
        arn = attachment.get("targetGroupArn")
        if not arn:
            continue
        if arn not in elb.target_groups:
            raise InvalidParameterException(f"Unable to find target group {arn}.")
        # ECS refuses a target group that no listener or rule forwards to (CloudFormation users
        # meet this as a missing DependsOn on the listener).
        if not elb._any_listener_using(arn):
            raise InvalidParameterException(
                f"The target group with targetGroupArn {arn} does not have an associated load balancer."
            )


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
        _check_load_balancers(backend, params.get("loadBalancers"))
        result = original(self)
        service = backend.services[key]
        # moto's Service has no such attributes; its serializer picks them up by name.
        service.service_connect_configuration = params.get("serviceConnectConfiguration")  # type: ignore[attr-defined]
        strategy = params.get("capacityProviderStrategy")
        if strategy:
            service.capacity_provider_strategy = strategy  # type: ignore[attr-defined]
            service.launch_type = None
        # moto's own deployment (and MOTO_ECS_SERVICE_RUNNING) is replaced by the scheduler's.
        service.deployments = []
        _new_deployment(service)
        _schedule(backend, service)
        if token:
            tokens[token] = (fingerprint, key)
        return result

    return create_service


def _wrap_update_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_service(self: EC2ContainerServiceResponse) -> Any:
        params: dict[str, Any] = self._get_params()
        backend = self.ecs_backend
        if "loadBalancers" in params:
            _check_load_balancers(backend, params.get("loadBalancers"))
        service = backend._get_service(params.get("cluster") or "default", params["service"].split("/")[-1])
        # moto renames the PRIMARY deployment on forceNewDeployment; the scheduler's tasks belong to it.
        deployments = [(deployment, deployment.get("id")) for deployment in service.deployments]
        result = original(self)
        for deployment, deployment_id in deployments:
            deployment["id"] = deployment_id
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
            # A new desired count is not a deployment: the scheduler starts or stops tasks.
            ecs_tasks.mark_dirty(service)
        _schedule(backend, service)
        return result

    return update_service


def _delete_service(original: Callable[..., Service]) -> Callable[..., Service]:
    def delete_service(self: EC2ContainerServiceBackend, cluster_name: str, service_name: str, force: bool) -> Service:
        service = original(self, cluster_name, service_name, force)
        # ECS keeps the service DRAINING while its tasks stop (the scheduler makes it INACTIVE).
        service.desired_count = 0
        service.status = "DRAINING"
        ecs_tasks.mark_dirty(service)
        ecs_tasks.schedule(self, service, sim_settings.current().now())
        return service

    return delete_service


def _stop_task(original: Callable[..., Task]) -> Callable[..., Task]:
    def stop_task(self: EC2ContainerServiceBackend, cluster_str: str, task_str: str, reason: str) -> Task:
        cluster = self._get_cluster(cluster_str)
        task_id = task_str.split("/")[-1]
        for arn, task in self.tasks.get(cluster.name, {}).items():
            if arn.endswith(task_id) and isinstance(task, ecs_tasks.SimTask):
                # A service's task stops the way ECS stops it (drained first); the service replaces it.
                now = sim_settings.current().now()
                ecs_tasks.request_stop(self, task, now, reason or "Task stopped by user")
                service = self.services.get(f"{cluster.name}:{task.service_name}")
                if service is not None:
                    ecs_tasks.mark_dirty(service)
                    ecs_tasks.schedule(self, service, now)
                return task
        return original(self, cluster_str, task_str, reason)

    return stop_task


def _list_tasks(original: Callable[..., list[Task]]) -> Callable[..., list[Task]]:
    def list_tasks(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> list[Task]:
        # moto ignores serviceName ("TODO"): a service's tasks are those of group service:<name>.
        names = ("cluster_str", "container_instance", "family", "started_by", "service_name", "desiredStatus")
        named = dict(zip(names, args, strict=False)) | kwargs
        service_name = named.get("service_name")
        tasks = original(self, *args, **kwargs)
        if service_name:
            tasks = [t for t in tasks if getattr(t, "group", None) == f"service:{service_name.split('/')[-1]}"]
        return tasks

    return list_tasks


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
    setattr(cls, "_meshshift_patched", True)  # noqa: B010
    backend = EC2ContainerServiceBackend
    backend.delete_service = _delete_service(backend.delete_service)  # type: ignore[method-assign]
    backend.stop_task = _stop_task(backend.stop_task)  # type: ignore[method-assign]
    backend.list_tasks = _list_tasks(backend.list_tasks)  # type: ignore[method-assign]
    ecs_tasks.install()
