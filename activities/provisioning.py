"""Provisioning of green: the Cloud Map namespace, the translated task definitions, the services.

Every step is safe to repeat after a worker dies between any two calls:
- the namespace is found by name before it is created, and its CreatorRequestId is derived from
  the name, so a repeated create is recognised by Cloud Map;
- a task definition is registered only when the family's latest ACTIVE revision is not already
  the planned one (recognised by a content hash tag);
- a service is looked up by name before it is created and adopted if it exists; the create call
  carries a clientToken derived from cluster, service and task definition, so a create whose
  answer was lost returns the same service instead of a second one.
Every write is read back.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from meshshift.activities.aws import AwsClients, aws_errors
from meshshift.activities.definition import implements
from meshshift.activities.discovery import registerable_task_definition
from meshshift.migration import paging
from meshshift.migration.contracts import (
    ENSURE_NAMESPACE,
    PROVISION_GREEN_SERVICE,
    READ_GREEN_SERVICE_CONNECT,
    EnsureNamespaceInput,
    GreenServiceConnect,
    GreenServicePlan,
    NamespaceResult,
    ProvisionedService,
    ProvisionServiceInput,
    ReadServiceConnectInput,
    ReadServiceConnectResult,
    ServiceConnectConfiguration,
    TaskDefinition,
)
from meshshift.migration.paging import task_definition_body, task_definition_hash
from meshshift.migration.spec import ProvisionMode

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_servicediscovery import ServiceDiscoveryClient

# Tag on green task definitions: the hash of the planned content, so a retry recognises its own revision.
SPEC_HASH_TAG = "meshshift:spec-hash"
BLUE_SERVICE_TAG = "meshshift:blue-service"

NAMESPACE_OPERATION_TIMEOUT = 300.0
NAMESPACE_POLL_SECONDS = 2.0


def creator_request_id(namespace: str) -> str:
    """Cloud Map's idempotency key for creating ``namespace`` (at most 64 characters)."""
    return "meshshift-" + hashlib.sha256(namespace.encode()).hexdigest()[:40]


def client_token(cluster: str, service: str, task_definition_arn: str) -> str:
    """ECS's idempotency key for creating ``service`` (at most 36 characters).

    Deterministic, so the create repeated after a worker crash sends the same token.
    """
    return hashlib.sha256(f"{cluster}\n{service}\n{task_definition_arn}".encode()).hexdigest()[:32]


def _wait(seconds: float) -> None:
    """Sleep that heartbeats first and ends early on cancellation."""
    activity.heartbeat()
    activity.wait_for_cancelled_sync(timeout=seconds)
    if activity.is_cancelled():
        raise CancelledError("provisioning cancelled")


class ProvisioningActivities:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    # --- Cloud Map ------------------------------------------------------------------------------

    @implements(ENSURE_NAMESPACE)
    def ensure_namespace(self, params: EnsureNamespaceInput) -> NamespaceResult:
        sd = self._clients.servicediscovery(params.aws)
        existing = self._find_namespace(sd, params.name)
        if existing is not None:
            return self._read_namespace(sd, existing, params.name, created=False)

        namespace_id: str | None = None
        with aws_errors(f"create Cloud Map HTTP namespace {params.name!r}"):
            try:
                operation_id = sd.create_http_namespace(
                    Name=params.name,
                    CreatorRequestId=creator_request_id(params.name),
                    Description="Service Connect namespace created by meshshift",
                )["OperationId"]
            except sd.exceptions.DuplicateRequest as err:
                # Our earlier attempt's create is already known: follow that operation.
                operation_id = str(err.response.get("DuplicateOperationId", ""))
            except sd.exceptions.NamespaceAlreadyExists as err:
                # Created between our lookup and our create (an earlier attempt, or someone else).
                operation_id = ""
                namespace_id = str(err.response.get("NamespaceId", "")) or None
        if operation_id:
            namespace_id = self._wait_operation(sd, operation_id, params.name)
        if namespace_id is None:
            namespace_id = self._find_namespace(sd, params.name)
        if namespace_id is None:
            raise ApplicationError(
                f"Cloud Map namespace {params.name!r} was created but cannot be read back yet; retrying.",
                type="NamespaceNotVisible",
            )
        return self._read_namespace(sd, namespace_id, params.name, created=True)

    @staticmethod
    def _find_namespace(sd: ServiceDiscoveryClient, name: str) -> str | None:
        with aws_errors(f"list Cloud Map namespaces (looking for {name!r})"):
            for page in sd.get_paginator("list_namespaces").paginate():
                for namespace in page.get("Namespaces", []):
                    if namespace.get("Name") == name:
                        return namespace["Id"]
        return None

    @staticmethod
    def _wait_operation(sd: ServiceDiscoveryClient, operation_id: str, name: str) -> str:
        deadline = time.monotonic() + NAMESPACE_OPERATION_TIMEOUT
        while True:
            with aws_errors(f"read Cloud Map operation {operation_id} (namespace {name!r})"):
                operation = sd.get_operation(OperationId=operation_id)["Operation"]
            status = operation.get("Status")
            if status == "SUCCESS":
                return operation.get("Targets", {})["NAMESPACE"]
            if status == "FAIL":
                raise ApplicationError(
                    f"Creating Cloud Map namespace {name!r} failed: {operation.get('ErrorCode')}: "
                    f"{operation.get('ErrorMessage')}. Next: fix the cause (name taken by another namespace type, "
                    "VPC or quota) or point green.namespace at an existing namespace.",
                    type="NamespaceCreateFailed",
                    non_retryable=True,
                )
            if time.monotonic() > deadline:
                raise ApplicationError(
                    f"Cloud Map operation {operation_id} for namespace {name!r} still {status} after "
                    f"{NAMESPACE_OPERATION_TIMEOUT:.0f}s; retrying.",
                    type="NamespaceCreatePending",
                )
            _wait(NAMESPACE_POLL_SECONDS)

    @staticmethod
    def _read_namespace(sd: ServiceDiscoveryClient, namespace_id: str, name: str, created: bool) -> NamespaceResult:
        with aws_errors(f"read back Cloud Map namespace {name!r} ({namespace_id})"):
            namespace = sd.get_namespace(Id=namespace_id)["Namespace"]
        if namespace.get("Name") != name:
            raise ApplicationError(
                f"Cloud Map namespace {namespace_id} reads back as {namespace.get('Name')!r}, expected {name!r}.",
                type="NamespaceMismatch",
                non_retryable=True,
            )
        return NamespaceResult(name=name, id=namespace["Id"], arn=namespace["Arn"], created=created)

    # --- ECS ------------------------------------------------------------------------------------

    @implements(PROVISION_GREEN_SERVICE)
    def provision_green_service(self, params: ProvisionServiceInput) -> ProvisionedService:
        ecs = self._clients.ecs(params.aws)
        plan = params.plan
        if params.mode == ProvisionMode.EXISTING:
            return self._adopt_existing(ecs, plan, params.namespace_arn)

        task_definition = plan.task_definition or self._green_task_definition(ecs, plan)
        task_definition_arn = self._ensure_task_definition(ecs, task_definition)
        existing = self._describe(ecs, plan.cluster, plan.green_service)
        created = False
        adopted = False
        if existing is not None and existing["status"] == "DRAINING":
            # A service being deleted can neither be updated nor replaced until it is INACTIVE.
            raise ApplicationError(
                f"Green service {plan.green_service!r} in cluster {plan.cluster!r} is DRAINING (being deleted); "
                "it can be recreated once ECS marks it INACTIVE. Retrying.",
                type="GreenServiceDraining",
            )
        if existing is None:
            existing = self._create(ecs, params, task_definition_arn)
            created = existing is not None
            if existing is None:
                # The create raced with another attempt that won: adopt what it made.
                existing = self._describe(ecs, plan.cluster, plan.green_service)
                adopted = True
        else:
            adopted = True
        if existing is None:
            raise ApplicationError(
                f"Green service {plan.green_service!r} in cluster {plan.cluster!r} cannot be read back after create.",
                type="GreenServiceNotVisible",
            )
        if adopted and not self._matches(existing, task_definition_arn, plan, params.namespace_arn):
            self._update(ecs, params, task_definition_arn)

        readback = self._describe(ecs, plan.cluster, plan.green_service)
        problems = self._verify(readback, task_definition_arn, plan, params.namespace_arn)
        if problems:
            raise ApplicationError(
                f"Green service {plan.green_service!r} in cluster {plan.cluster!r} does not read back as written: "
                + "; ".join(problems),
                type="GreenServiceReadBackMismatch",
            )
        assert readback is not None
        return ProvisionedService(
            service_name=plan.green_service,
            service_arn=readback["serviceArn"],
            task_definition_arn=task_definition_arn,
            created=created,
            adopted=adopted,
        )

    @staticmethod
    def _green_task_definition(ecs: ECSClient, plan: GreenServicePlan) -> TaskDefinition:
        """Blue's revision read again and translated as planning did: the workflow carries only
        where green's task definition comes from (issue 22), not the definition itself."""
        source = plan.green_task
        if source is None:
            raise ApplicationError(
                f"The plan of green service {plan.green_service!r} has neither a task definition nor its source.",
                type="PlanIncomplete",
                non_retryable=True,
            )
        arn = source.blue_task_definition_arn
        with aws_errors(f"read blue task definition {arn}"):
            answer = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        # Blue's tags go to green as they did when the plan carried the definition (outside the digest).
        tags = [dict(tag) for tag in answer.get("tags", [])]
        blue = registerable_task_definition(dict(answer["taskDefinition"]), tags)  # type: ignore[arg-type]
        try:
            return paging.green_task_definition(blue, source)
        except paging.GreenTaskMismatch as err:
            raise ApplicationError(
                f"Green service {plan.green_service!r}: {err}. Blue's revision cannot change, so the translation did: "
                "plan again (start the migration again) with this worker version.",
                type="GreenTaskMismatch",
                non_retryable=True,
            ) from err

    def _ensure_task_definition(self, ecs: ECSClient, task_definition: TaskDefinition) -> str:
        family = task_definition.family
        digest = task_definition_hash(task_definition)
        with aws_errors(f"read latest task definition of family {family!r}"):
            try:
                latest = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
            except ecs.exceptions.ClientException:
                # ECS answers ClientException when the family has no ACTIVE revision yet.
                latest = None
        if latest is not None:
            tags = {tag.get("key"): tag.get("value") for tag in latest.get("tags", [])}
            if tags.get(SPEC_HASH_TAG) == digest:
                return latest["taskDefinition"]["taskDefinitionArn"]
        body = task_definition_body(task_definition)
        user_tags: list[Any] = [
            dict(tag) for tag in (getattr(task_definition, "tags", None) or []) if tag.get("key") != SPEC_HASH_TAG
        ]
        with aws_errors(f"register green task definition family {family!r}"):
            registered = ecs.register_task_definition(
                **body,
                tags=[*user_tags, {"key": SPEC_HASH_TAG, "value": digest}],
            )
        arn = registered["taskDefinition"]["taskDefinitionArn"]
        with aws_errors(f"read back task definition {arn}"):
            readback = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        if readback.get("status") != "ACTIVE" or readback.get("family") != family:
            raise ApplicationError(
                f"Task definition {arn} reads back as {readback.get('status')} family {readback.get('family')!r}, "
                f"expected ACTIVE family {family!r}.",
                type="TaskDefinitionReadBackMismatch",
            )
        return arn

    @implements(READ_GREEN_SERVICE_CONNECT)
    def read_green_service_connect(self, params: ReadServiceConnectInput) -> ReadServiceConnectResult:
        """Green's Service Connect configuration as ECS holds it (the backend gate's second check,
        before the first weight change: what was created, not what was planned)."""
        ecs = self._clients.ecs(params.aws)
        by_cluster: dict[str, list[str]] = {}
        for ref in params.services:
            by_cluster.setdefault(ref.cluster, []).append(ref.service)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for cluster, names in by_cluster.items():
            for start in range(0, len(names), 10):  # describe_services takes at most 10 services
                batch = names[start : start + 10]
                with aws_errors(f"describe green ECS services {batch} in cluster {cluster!r}"):
                    answer = ecs.describe_services(cluster=cluster, services=batch)
                for service in answer.get("services", []):
                    if service.get("status") == "ACTIVE":
                        found[(cluster, service["serviceName"])] = dict(service)
                activity.heartbeat(f"read {start + len(batch)}/{len(names)} services in {cluster}")
        out = []
        for ref in params.services:
            current = found.get((ref.cluster, ref.service))
            config = None
            if current is not None:
                primary = next((d for d in current.get("deployments", []) if d.get("status") == "PRIMARY"), None)
                raw = (primary or {}).get("serviceConnectConfiguration") or current.get("serviceConnectConfiguration")
                config = ServiceConnectConfiguration.model_validate(raw) if raw else None
            out.append(
                GreenServiceConnect(
                    cluster=ref.cluster, service=ref.service, found=current is not None, service_connect=config
                )
            )
        return ReadServiceConnectResult(services=out)

    @staticmethod
    def _describe(ecs: ECSClient, cluster: str, name: str) -> dict[str, Any] | None:
        """The service named ``name`` if it exists and is not INACTIVE."""
        with aws_errors(f"describe ECS service {name!r} in cluster {cluster!r}"):
            answer = ecs.describe_services(cluster=cluster, services=[name])
        for service in answer.get("services", []):
            if service.get("serviceName") == name and service.get("status") in ("ACTIVE", "DRAINING"):
                return dict(service)
        return None

    @staticmethod
    def _service_connect(plan: GreenServicePlan, namespace_arn: str) -> dict[str, Any]:
        config = plan.service_connect.model_dump(mode="json", exclude_none=True, by_alias=True)
        config["namespace"] = namespace_arn
        return config

    def _create(self, ecs: ECSClient, params: ProvisionServiceInput, task_definition_arn: str) -> dict[str, Any] | None:
        plan = params.plan
        desired = plan.desired_count if params.initial_desired_count is None else params.initial_desired_count
        request: dict[str, Any] = {
            "cluster": plan.cluster,
            "serviceName": plan.green_service,
            "taskDefinition": task_definition_arn,
            "desiredCount": desired,
            "clientToken": client_token(plan.cluster, plan.green_service, task_definition_arn),
            "serviceConnectConfiguration": self._service_connect(plan, params.namespace_arn),
            "tags": [{"key": BLUE_SERVICE_TAG, "value": plan.blue_service}],
        }
        request.update(self._placement(plan))
        if plan.load_balancers:
            request["loadBalancers"] = [
                {
                    "targetGroupArn": lb.target_group_arn,
                    "containerName": lb.container_name,
                    "containerPort": lb.container_port,
                }
                for lb in plan.load_balancers
            ]
        if plan.network is not None:
            request["networkConfiguration"] = self._network(plan)
        with aws_errors(f"create green ECS service {plan.green_service!r} in cluster {plan.cluster!r}"):
            try:
                return dict(ecs.create_service(**request)["service"])
            except ecs.exceptions.InvalidParameterException as err:
                if "not idempotent" not in str(err):
                    raise
                return None

    @staticmethod
    def _placement(plan: GreenServicePlan) -> dict[str, Any]:
        placement: dict[str, Any] = {}
        if plan.capacity_provider_strategy:
            placement["capacityProviderStrategy"] = [
                {"capacityProvider": item.capacity_provider, "weight": item.weight, "base": item.base}
                for item in plan.capacity_provider_strategy
            ]
        elif plan.launch_type:
            placement["launchType"] = plan.launch_type
        if plan.platform_version:
            placement["platformVersion"] = plan.platform_version
        return placement

    @staticmethod
    def _network(plan: GreenServicePlan) -> dict[str, Any]:
        assert plan.network is not None
        return {
            "awsvpcConfiguration": {
                "subnets": plan.network.subnets,
                "securityGroups": plan.network.security_groups,
                "assignPublicIp": "ENABLED" if plan.network.assign_public_ip else "DISABLED",
            }
        }

    def _update(self, ecs: ECSClient, params: ProvisionServiceInput, task_definition_arn: str) -> None:
        plan = params.plan
        # desiredCount is left alone: an adopted service may already have been scaled by a later phase.
        request: dict[str, Any] = {
            "cluster": plan.cluster,
            "service": plan.green_service,
            "taskDefinition": task_definition_arn,
            "serviceConnectConfiguration": self._service_connect(plan, params.namespace_arn),
        }
        if plan.network is not None:
            request["networkConfiguration"] = self._network(plan)
        if plan.load_balancers:
            request["loadBalancers"] = [
                {
                    "targetGroupArn": lb.target_group_arn,
                    "containerName": lb.container_name,
                    "containerPort": lb.container_port,
                }
                for lb in plan.load_balancers
            ]
        with aws_errors(f"update adopted green ECS service {plan.green_service!r} in cluster {plan.cluster!r}"):
            ecs.update_service(**request)

    @staticmethod
    def _primary_service_connect(service: dict[str, Any]) -> dict[str, Any] | None:
        # ECS reports Service Connect per deployment, not at the top of the service.
        deployments = service.get("deployments", [])
        primary = next(
            (d for d in deployments if d.get("status") == "PRIMARY"), deployments[0] if deployments else None
        )
        if primary is None:
            return None
        config: dict[str, Any] | None = primary.get("serviceConnectConfiguration")
        return config

    def _matches(
        self, service: dict[str, Any], task_definition_arn: str, plan: GreenServicePlan, namespace_arn: str
    ) -> bool:
        return not self._verify(service, task_definition_arn, plan, namespace_arn)

    def _verify(
        self, service: dict[str, Any] | None, task_definition_arn: str, plan: GreenServicePlan, namespace_arn: str
    ) -> list[str]:
        if service is None:
            return ["service not found"]
        problems: list[str] = []
        if service.get("status") != "ACTIVE":
            problems.append(f"status {service.get('status')}, expected ACTIVE")
        if service.get("taskDefinition") != task_definition_arn:
            problems.append(f"task definition {service.get('taskDefinition')}, expected {task_definition_arn}")
        problems.extend(self._service_connect_problems(service, plan, namespace_arn))
        problems.extend(self._target_group_problems(service, plan))
        return problems

    def _service_connect_problems(
        self, service: dict[str, Any], plan: GreenServicePlan, namespace_arn: str
    ) -> list[str]:
        config = self._primary_service_connect(service)
        if not config or not config.get("enabled"):
            return ["Service Connect is not enabled on the primary deployment"]
        problems: list[str] = []
        namespace = config.get("namespace")
        if namespace != namespace_arn and namespace_arn.rsplit("/", 1)[-1] != namespace:
            problems.append(f"Service Connect namespace {namespace!r}, expected {namespace_arn!r}")
        expected = {s.discoveryName or s.portName for s in plan.service_connect.services}
        actual = {s.get("discoveryName") or s.get("portName") for s in config.get("services", [])}
        if expected - actual:
            problems.append(
                f"Service Connect discovery names {sorted(n for n in actual if n)}, "
                f"expected to include {sorted(expected)}"
            )
        return problems

    @staticmethod
    def _target_group_problems(service: dict[str, Any], plan: GreenServicePlan) -> list[str]:
        expected = {lb.target_group_arn for lb in plan.load_balancers}
        actual = {lb.get("targetGroupArn") for lb in service.get("loadBalancers", [])}
        if expected - actual:
            return [f"target groups {sorted(t for t in actual if t)}, expected to include {sorted(expected)}"]
        return []

    def _adopt_existing(self, ecs: ECSClient, plan: GreenServicePlan, namespace_arn: str) -> ProvisionedService:
        """provision: existing: IaC made the green service; check it against the plan, change nothing."""
        service = self._describe(ecs, plan.cluster, plan.green_service)
        if service is None or service.get("status") != "ACTIVE":
            raise ApplicationError(
                f"Green service {plan.green_service!r} not found (or not ACTIVE) in cluster {plan.cluster!r}. "
                "With green.provision: existing, meshshift adopts services that IaC created. Next: create it with "
                "your IaC (Service Connect enabled in the green namespace), or set green.provision: create.",
                type="GreenServiceNotFound",
                non_retryable=True,
            )
        breaking: list[str] = []
        family = service.get("taskDefinition", "").rsplit("/", 1)[-1].rsplit(":", 1)[0]
        if family != plan.green_family:
            breaking.append(
                f"task definition family {family!r}, expected {plan.green_family!r} "
                f"(service runs {service.get('taskDefinition')})"
            )
        breaking.extend(self._service_connect_problems(service, plan, namespace_arn))
        breaking.extend(self._target_group_problems(service, plan))
        if breaking:
            raise ApplicationError(
                f"Green service {plan.green_service!r} in cluster {plan.cluster!r} (provision: existing) does not "
                "match the plan, and the cutover would break: "
                + "; ".join(breaking)
                + ". Next: fix the service in your IaC, or the spec (green.namespace, green.service_suffix, edge "
                "target groups), then retry.",
                type="GreenServiceMismatch",
                non_retryable=True,
            )
        notes: list[str] = []
        if service.get("desiredCount") != plan.desired_count:
            notes.append(f"desired count {service.get('desiredCount')}, blue runs {plan.desired_count}")
        return ProvisionedService(
            service_name=plan.green_service,
            service_arn=service["serviceArn"],
            task_definition_arn=service["taskDefinition"],
            created=False,
            adopted=True,
            mismatches=notes,
        )
