"""Read-only discovery for ``meshshift iam-policy --discover``: the facts that make the policy exact.

Runs with the operator's credentials (boto3's standard chain, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL``),
not the worker's, and only reads: STS ``GetCallerIdentity`` (account and partition), ECS
``DescribeServices`` / ``DescribeTaskDefinition`` (blue's task-definition families and roles, its
Cloud Map registrations), Cloud Map ``ListNamespaces`` / ``GetService``, and, for owned target groups
that decommission deletes, ELB ``DescribeTargetGroups`` / ``DescribeListeners`` / ``DescribeRules``.
The results go to the pure builder (``migration.iam``) as ``IamFacts``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from meshshift.migration import plan as planning
from meshshift.migration.iam import ArnHints
from meshshift.migration.iam_model import ArnContext, IamFacts
from meshshift.migration.spec import MigrationSpec, cluster_name

DESCRIBE_SERVICES_BATCH = 10  # ECS DescribeServices takes at most 10 names


class DiscoveryError(RuntimeError):
    """A read failed; the message says which and why (never a traceback)."""


@contextmanager
def _reading(what: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as err:
        raise DiscoveryError(f"{what}: {err}") from err


def discover(spec: MigrationSpec, hints: ArnHints, session: Any | None = None) -> tuple[ArnContext, IamFacts]:
    """Where the resources are (spec first, then the caller's identity) and what blue is made of."""
    session = session or boto3.session.Session(region_name=hints.region)
    region = hints.region or session.region_name
    if not region:
        raise DiscoveryError("no region: set `region` in the spec, or AWS_REGION")
    with _reading("STS GetCallerIdentity (who am I)"):
        identity = session.client("sts", region_name=region).get_caller_identity()
    caller = str(identity["Arn"]).split(":")
    arns = ArnContext(
        partition=hints.partition or caller[1], region=region, account=hints.account or str(identity["Account"])
    )
    return arns, _Reader(session, spec, arns).facts()


def _role_arn(arns: ArnContext, role: str) -> str:
    # ECS accepts a role's name where it means the account's role of that name.
    return role if role.startswith("arn:") else arns.arn("iam", f"role/{role}", regional=False)


class _Reader:
    def __init__(self, session: Any, spec: MigrationSpec, arns: ArnContext) -> None:
        self._session = session
        self._spec = spec
        self._arns = arns

    def _client(self, service: str) -> Any:
        return self._session.client(service, region_name=self._arns.region)

    def facts(self) -> IamFacts:
        families, roles, registries = self._blue_task_definitions()
        namespaces, green_exists = self._namespaces(registries)
        return IamFacts(
            task_definition_families=families,
            role_arns=sorted(roles),
            cloud_map_service_arns=sorted(registries),
            cloud_map_namespace_arns=sorted(namespaces),
            green_namespace_exists=green_exists,
            forwarders=self._forwarders(),
        )

    def _blue_task_definitions(self) -> tuple[dict[str, str], set[str], set[str]]:
        spec = self._spec
        by_cluster: dict[str, list[str]] = {spec.blue.cluster: list(spec.blue.services)}
        for worker in spec.async_workers:
            by_cluster.setdefault(worker.cluster or spec.blue.cluster, []).append(worker.blue_service)
        ecs = self._client("ecs")
        families: dict[str, str] = {}
        roles: set[str] = set()
        registries: set[str] = set()
        for cluster, names in by_cluster.items():
            for start in range(0, len(names), DESCRIBE_SERVICES_BATCH):
                batch = names[start : start + DESCRIBE_SERVICES_BATCH]
                with _reading(f"ECS DescribeServices {batch} in cluster {cluster_name(cluster)!r}"):
                    services = ecs.describe_services(cluster=cluster, services=batch).get("services", [])
                for service in services:
                    registries.update(r["registryArn"] for r in service.get("serviceRegistries", []))
                    arn = service["taskDefinition"]
                    with _reading(f"ECS DescribeTaskDefinition {arn}"):
                        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
                    families[service["serviceName"]] = definition["family"]
                    roles.update(
                        _role_arn(self._arns, definition[key])
                        for key in ("taskRoleArn", "executionRoleArn")
                        if definition.get(key)
                    )
        return families, roles, registries

    def _namespaces(self, registries: set[str]) -> tuple[set[str], bool]:
        sd = self._client("servicediscovery")
        namespaces: set[str] = set()
        for arn in sorted(registries):
            service_id = arn.rsplit("/", 1)[-1]
            with _reading(f"Cloud Map GetService {service_id}"):
                namespace_id = sd.get_service(Id=service_id)["Service"].get("NamespaceId")
            if namespace_id:
                namespaces.add(self._arns.arn("servicediscovery", f"namespace/{namespace_id}"))
        green_exists = False
        with _reading("Cloud Map ListNamespaces"):
            for page in sd.get_paginator("list_namespaces").paginate():
                for namespace in page.get("Namespaces", []):
                    if namespace.get("Name") == self._spec.green.namespace:
                        green_exists = True
                        namespaces.add(namespace["Arn"])
        return namespaces, green_exists

    def _forwarders(self) -> dict[str, list[str]]:
        """Listeners and rules that forward to a blue target group decommission will delete."""
        if not self._spec.decommission.delete.target_groups:
            return {}
        owned = planning.owned_blue_target_groups(self._spec)
        if not owned:
            return {}
        elbv2 = self._client("elbv2")
        out: dict[str, list[str]] = {}
        for group in owned:
            with _reading(f"ELB DescribeTargetGroups {group}"):
                found = elbv2.describe_target_groups(TargetGroupArns=[group]).get("TargetGroups", [])
            users: list[str] = []
            for lb_arn in [arn for g in found for arn in g.get("LoadBalancerArns", [])]:
                with _reading(f"ELB DescribeListeners of {lb_arn}"):
                    pages = elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb_arn)
                    listeners = [item for page in pages for item in page.get("Listeners", [])]
                for listener in listeners:
                    if _mentions(listener.get("DefaultActions", []), group):
                        users.append(listener["ListenerArn"])
                    with _reading(f"ELB DescribeRules of {listener['ListenerArn']}"):
                        rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"]).get("Rules", [])
                    users += [
                        r["RuleArn"] for r in rules if not r.get("IsDefault") and _mentions(r.get("Actions", []), group)
                    ]
            out[group] = sorted(set(users))
        return out


def _mentions(actions: list[Any], group: str) -> bool:
    return any(
        action.get("TargetGroupArn") == group
        or any(g.get("TargetGroupArn") == group for g in (action.get("ForwardConfig") or {}).get("TargetGroups", []))
        for action in actions
    )
