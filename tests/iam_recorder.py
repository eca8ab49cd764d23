"""Records every AWS operation the activities call during the test session (for the IAM check).

Install it as a botocore hook on the AwsClients used by activity tests:
``AwsClients(hooks=[("before-call", iam_recorder.record)])`` (the ``aws_clients`` fixture does).
botocore emits ``before-call`` once per API call (not per HTTP retry) with ``model``, the
operation's ``OperationModel``; ``model.name`` is the API operation name (CloudFront's versioned
wire names such as ``GetDistribution2020_05_31`` are not used there), which is also the IAM action
name for every service meshshift uses.

Only calls made from code under ``activities/`` are recorded: a test that seeds resources through
the same recording clients must not widen the least-privilege policy. ``tests/iam_check.py``
compares what was recorded with ``docs/iam-policy.json`` at the end of the session.

Each call's resource ARNs are recorded too (``CALLS``), built from the request as IAM sees them
(``resource_arns``), with the caller's region and the simulated account. The session-end check
requires each to be of a resource type AWS documents for the action, and a call made inside
``scoped(policy)`` (a migration of one spec, see ``tests/iam_scope.py``) to fall inside that
policy's resource patterns: the generated least-privilege policy of ``meshshift iam-policy``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_lock = threading.Lock()
RECORDED: set[str] = set()  # IAM-style "prefix:Operation"

# moto's account: every simulated resource lives in it.
ACCOUNT = os.environ.get("MOTO_ACCOUNT_ID", "123456789012")


@dataclass(frozen=True)
class Call:
    action: str
    resources: tuple[str, ...]  # empty for an action AWS allows only on "*"
    policy: str | None  # the name of the scoped policy in force, if any


CALLS: set[Call] = set()
_scopes: dict[str, dict[str, Any]] = {}  # name -> policy document
_current: list[str] = []


@contextmanager
def scoped(name: str, policy: dict[str, Any]) -> Iterator[None]:
    """Calls recorded in this block must fall inside ``policy``'s resources (checked at session end).

    A module-level switch rather than a context variable: activities run in worker threads,
    which do not inherit the test's context.
    """
    with _lock:
        _scopes[name] = policy
        _current.append(name)
    try:
        yield
    finally:
        with _lock:
            _current.remove(name)


def scopes() -> dict[str, dict[str, Any]]:
    with _lock:
        return dict(_scopes)


ACTIVITIES_DIR = str(Path(__file__).resolve().parent.parent / "activities") + os.sep

# botocore service name (``service_model.service_name``) -> IAM action prefix. botocore's name
# is not always the IAM one: elbv2's actions are ``elasticloadbalancing:*``, Cloud Map's are
# ``servicediscovery:*`` and CloudWatch signs as ``monitoring`` but its actions are ``cloudwatch:*``.
IAM_PREFIX = {
    "ecs": "ecs",
    "elbv2": "elasticloadbalancing",
    "elb": "elasticloadbalancing",
    "route53": "route53",
    "cloudfront": "cloudfront",
    "cloudwatch": "cloudwatch",
    "appmesh": "appmesh",
    "servicediscovery": "servicediscovery",
    "sqs": "sqs",
    "sns": "sns",
    "sts": "sts",
    "ec2": "ec2",
    "iam": "iam",
    "logs": "logs",
}


def iam_action(service_name: str, signing_name: str | None, operation: str) -> str:
    prefix = IAM_PREFIX.get(service_name) or signing_name or service_name
    return f"{prefix}:{operation}"


def _called_from_activities() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(ACTIVITIES_DIR):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _api_params() -> dict[str, Any]:
    """The call's API parameters, as the caller passed them.

    ``before-call`` carries only the serialized request (a JSON body, a URL path, a query
    string ...); the parameters are a local of botocore's ``BaseClient._make_api_call``, below us
    on the stack. Reading them there keeps the one hook every recording client already installs.
    """
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "_make_api_call" and "api_params" in frame.f_locals:
            return dict(frame.f_locals["api_params"] or {})
        frame = frame.f_back  # type: ignore[assignment]
    return {}


def record(model: Any = None, context: Any = None, **_: Any) -> None:
    if model is None or not _called_from_activities():
        return
    service_model = model.service_model
    action = iam_action(service_model.service_name, getattr(service_model, "signing_name", None), model.name)
    region = (context or {}).get("client_region") or os.environ.get("AWS_REGION", "us-east-1")
    resources = tuple(resource_arns(action, _api_params(), region))
    with _lock:
        RECORDED.add(action)
        CALLS.add(Call(action, resources, _current[-1] if _current else None))


def snapshot() -> list[str]:
    with _lock:
        return sorted(RECORDED)


def calls() -> list[Call]:
    with _lock:
        return sorted(CALLS, key=lambda c: (c.action, c.resources, c.policy or ""))


def export() -> str:
    """What this process recorded, as JSON: a pytest-xdist worker hands it to the controller."""
    with _lock:
        return json.dumps(
            {
                "recorded": sorted(RECORDED),
                "calls": [[c.action, list(c.resources), c.policy] for c in CALLS],
                "scopes": _scopes,
            }
        )


def merge(exported: str) -> None:
    """Add another process's ``export()`` to this one's records (the controller judges them all)."""
    data = json.loads(exported)
    with _lock:
        RECORDED.update(data["recorded"])
        CALLS.update(Call(action, tuple(resources), policy) for action, resources, policy in data["calls"])
        _scopes.update(data["scopes"])


# --- the resources of a call, as IAM authorizes it -------------------------------------------------


def _arn(service: str, region: str, resource: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _ecs_service(region: str, cluster: str | None, service: str) -> str:
    if service.startswith("arn:"):
        return service
    name = (cluster or "default").rsplit("cluster/", 1)[-1]
    return _arn("ecs", region, f"service/{name}/{service}")


def _appmesh(region: str, params: dict[str, Any], *path: str) -> str:
    owner = params.get("meshOwner") or ACCOUNT
    parts = "/".join(p for p in path if p)
    return _arn("appmesh", region, f"mesh/{params['meshName']}" + (f"/{parts}" if parts else ""), owner)


def resource_arns(action: str, params: dict[str, Any], region: str) -> list[str]:
    """The ARNs IAM checks for ``action`` called with ``params`` (none for a "*"-only action).

    An action missing here records no resource; the session-end check reports it as unknown
    unless AWS allows it only on "*".
    """
    p = params
    service, operation = action.split(":")
    if service == "ecs":
        if operation == "DescribeServices":
            return [_ecs_service(region, p.get("cluster"), s) for s in p.get("services", [])]
        if operation in ("UpdateService", "DeleteService"):
            return [_ecs_service(region, p.get("cluster"), p["service"])]
        if operation == "CreateService":
            return [_ecs_service(region, p.get("cluster"), p["serviceName"])]
        if operation == "RegisterTaskDefinition":
            # The revision is known only after the call; any revision of the family stands for it.
            return [_arn("ecs", region, f"task-definition/{p['family']}:1")]
    if service == "elasticloadbalancing":
        for key in ("ListenerArn", "RuleArn", "TargetGroupArn"):
            if operation in ("ModifyListener", "ModifyRule", "DeleteTargetGroup") and key in p:
                return [p[key]]
    if service == "route53":
        if operation in ("ChangeResourceRecordSets", "ListResourceRecordSets"):
            zone = str(p["HostedZoneId"]).removeprefix("/hostedzone/")
            return [f"arn:aws:route53:::hostedzone/{zone}"]
        if operation == "GetChange":
            return [f"arn:aws:route53:::change/{str(p['Id']).removeprefix('/change/')}"]
    if service == "cloudfront":
        if operation == "UpdateDistributionWithStagingConfig":
            ids = [p["Id"], p["StagingDistributionId"]]
            return [f"arn:aws:cloudfront::{ACCOUNT}:distribution/{i}" for i in ids]
        if operation == "GetDistribution":
            return [f"arn:aws:cloudfront::{ACCOUNT}:distribution/{p['Id']}"]
        if "ContinuousDeploymentPolicy" in operation:
            return [f"arn:aws:cloudfront::{ACCOUNT}:continuous-deployment-policy/{p['Id']}"]
    if service == "sns" and operation == "Publish":
        return [p["TopicArn"]]
    if service == "secretsmanager" and operation == "GetSecretValue":
        # meshshift passes the full ARN (the spec requires one), which is what IAM matches.
        return [p["SecretId"]]
    if service == "cloudwatch" and operation == "DescribeAlarms":
        return [_arn("cloudwatch", region, f"alarm:{name}") for name in p.get("AlarmNames", [])]
    if service == "servicediscovery":
        if operation == "GetNamespace":
            return [_arn("servicediscovery", region, f"namespace/{p['Id']}")]
        if operation == "GetService":
            return [_arn("servicediscovery", region, f"service/{p['Id']}")]
        if operation == "ListInstances":
            return [_arn("servicediscovery", region, f"service/{p['ServiceId']}")]
        if operation == "GetOperation":
            # The operation creates a namespace whose id the request does not carry.
            return [_arn("servicediscovery", region, f"namespace/created-by-{p['OperationId']}")]
    if service == "appmesh":
        return [_appmesh_arn(operation, p, region)]
    return []


_APPMESH_CHILD = {
    "VirtualNode": ("virtualNode", "virtualNodeName"),
    "VirtualService": ("virtualService", "virtualServiceName"),
    "VirtualRouter": ("virtualRouter", "virtualRouterName"),
    "VirtualGateway": ("virtualGateway", "virtualGatewayName"),
}


def _appmesh_arn(operation: str, p: dict[str, Any], region: str) -> str:
    if operation.endswith("Mesh") or operation in (
        "ListVirtualNodes",
        "ListVirtualServices",
        "ListVirtualRouters",
        "ListVirtualGateways",
    ):
        return _appmesh(region, p)
    if operation in ("ListRoutes", "DescribeRoute", "DeleteRoute"):
        return _appmesh(
            region,
            p,
            "virtualRouter",
            p["virtualRouterName"],
            "route" if "routeName" in p else "",
            p.get("routeName", ""),
        )
    if operation in ("ListGatewayRoutes", "DescribeGatewayRoute", "DeleteGatewayRoute"):
        route = p.get("gatewayRouteName", "")
        return _appmesh(region, p, "virtualGateway", p["virtualGatewayName"], "gatewayRoute" if route else "", route)
    for kind, (segment, key) in _APPMESH_CHILD.items():
        if operation.endswith(kind):
            return _appmesh(region, p, segment, p[key])
    return _appmesh(region, p)
