"""Removing blue after the soak: ECS services, target groups, Route 53 records, App Mesh resources,
task definitions.

Every method is safe to repeat: what is already gone is reported as ``already_absent``, and
every deletion is read back. What would break the live path is refused, non-retryably, with
what to do instead: a target group still referenced by a listener or rule (that would leave a
dangling forward), and the last weighted record of a name (green's).

A target group is deleted only once none of its targets is still draining: blue's tasks are
deregistered when their service is scaled in, and ELB keeps serving their open connections for
the group's deregistration delay; deleting the group would cut them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from meshshift.activities.async_workers import describe_service, pause
from meshshift.activities.aws import AwsClients, aws_errors, error_code
from meshshift.activities.definition import implements
from meshshift.activities.edge.route53 import records_of_name
from meshshift.activities.polling import Backoff
from meshshift.migration import contracts
from meshshift.migration.contracts import (
    DeleteAppMeshInput,
    DeleteServicesInput,
    DeleteTargetGroupsInput,
    DeleteWeightedRecordInput,
    DeletionResult,
    DeregisterTaskDefinitionsInput,
)
from meshshift.migration.edge.route53 import ROUTE53

if TYPE_CHECKING:
    from mypy_boto3_appmesh import AppMeshClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_route53 import Route53Client


def _absent(err: ClientError) -> bool:
    code = error_code(err)
    return code.endswith("NotFound") or code.endswith("NotFoundException")


@dataclass
class _ForwardUser:
    """A listener default action or a rule that forwards to a target group."""

    where: str
    actions: list[Any]
    write: Callable[[list[Any]], Any]


def _listener_writer(elbv2: ElasticLoadBalancingv2Client, listener_arn: str) -> Callable[[list[Any]], Any]:
    return lambda actions: elbv2.modify_listener(ListenerArn=listener_arn, DefaultActions=actions)


def _rule_writer(elbv2: ElasticLoadBalancingv2Client, rule_arn: str) -> Callable[[list[Any]], Any]:
    return lambda actions: elbv2.modify_rule(RuleArn=rule_arn, Actions=actions)


def _groups(action: Any) -> list[Any]:
    return list((action.get("ForwardConfig") or {}).get("TargetGroups", []))


def _mentions(actions: list[Any], target_group_arn: str) -> bool:
    return any(
        action.get("TargetGroupArn") == target_group_arn
        or any(g.get("TargetGroupArn") == target_group_arn for g in _groups(action))
        for action in actions
    )


def _without_idle(actions: list[Any], target_group_arn: str) -> list[Any] | None:
    """``actions`` with the group removed from the weighted forwards where it has weight 0 and
    another group has weight; None if it cannot go (it carries weight, or is the only target)."""
    out: list[Any] = []
    for action in actions:
        groups = _groups(action)
        if not _mentions([action], target_group_arn):
            out.append(action)
            continue
        mine = [g for g in groups if g.get("TargetGroupArn") == target_group_arn]
        rest = [g for g in groups if g.get("TargetGroupArn") != target_group_arn]
        # An unweighted group in a ForwardConfig has weight 1 (AWS's default).
        if not mine or any(g.get("Weight", 1) > 0 for g in mine) or not any(g.get("Weight", 1) > 0 for g in rest):
            return None
        action = {k: copy.deepcopy(v) for k, v in action.items() if k != "TargetGroupArn"}
        action["ForwardConfig"]["TargetGroups"] = rest
        out.append(action)
    return out


# --- ECS ----------------------------------------------------------------------------------------


# ELB's largest deregistration delay (3600 s) plus a margin: no target drains longer than that.
MAX_DRAIN_SECONDS = 3660.0


class DecommissionActivities:
    def __init__(self, clients: AwsClients, poll_interval: float = 10.0) -> None:
        self._clients = clients
        self._poll_interval = poll_interval

    @implements(contracts.DELETE_ECS_SERVICES)
    def delete_ecs_services(self, inp: DeleteServicesInput) -> DeletionResult:
        """Scale each service to 0, then delete it. ECS stops the remaining tasks gracefully
        (SIGTERM, then SIGKILL after stopTimeout); blue carries no traffic by now."""
        ecs = self._clients.ecs(inp.aws)
        result = DeletionResult()
        for name in inp.services:
            activity.heartbeat(name)
            where = f"ECS service {name!r} in cluster {inp.cluster!r}"
            svc = describe_service(ecs, inp.cluster, name)
            if svc is None:
                result.already_absent.append(name)
                continue
            if int(svc.get("desiredCount", 0)) > 0:
                with aws_errors(f"ECS UpdateService desiredCount=0 for {where}"):
                    ecs.update_service(cluster=inp.cluster, service=name, desiredCount=0)
            try:
                # Not force: if something scaled it up again meanwhile, ECS refuses instead of
                # cutting off its work.
                with aws_errors(f"ECS DeleteService for {where}"):
                    ecs.delete_service(cluster=inp.cluster, service=name)
            except ApplicationError as err:
                if err.type in ("ServiceNotFoundException", "ServiceNotActiveException"):
                    result.already_absent.append(name)
                    continue
                raise
            after = describe_service(ecs, inp.cluster, name)
            if after is not None and after.get("status") not in ("DRAINING", "INACTIVE"):
                raise ApplicationError(
                    f"{where} still reads back as {after.get('status')} after DeleteService. Next: retry; if it "
                    "persists, check the service's events in the ECS console.",
                    type="DeleteNotVerified",
                )
            result.deleted.append(name)
        return result

    # --- ELBv2 ------------------------------------------------------------------------------------

    @implements(contracts.DELETE_TARGET_GROUPS)
    def delete_target_groups(self, inp: DeleteTargetGroupsInput) -> DeletionResult:
        elbv2 = self._clients.elbv2(inp.aws)
        result = DeletionResult()
        for arn in inp.target_group_arns:
            activity.heartbeat(arn)
            group = self._target_group(elbv2, arn)
            if group is None:
                result.already_absent.append(arn)
                continue
            lb_arns = group.get("LoadBalancerArns", [])
            # The ALB shifter leaves blue in the forward at weight 0: take it out first.
            for where in self._detach_idle(elbv2, arn, lb_arns):
                result.warnings.append(f"removed {arn} (weight 0) from the forward of {where}")
            users = [user.where for user in self._users(elbv2, arn, lb_arns)]
            if users:
                raise ApplicationError(
                    f"Refusing to delete target group {arn}: it is still referenced by {', '.join(users)}, "
                    "with a weight above 0 or as the only target, so deleting it would cut traffic. "
                    "Next: point those actions at the green target group, then retry the decommission.",
                    type="TargetGroupInUse",
                    non_retryable=True,
                )
            self._wait_drained(elbv2, arn)
            try:
                with aws_errors(f"ELBv2 DeleteTargetGroup {arn}"):
                    elbv2.delete_target_group(TargetGroupArn=arn)
            except ApplicationError as err:
                if err.type not in ("TargetGroupNotFound", "TargetGroupNotFoundException"):
                    raise
            if self._target_group(elbv2, arn) is not None:
                raise ApplicationError(
                    f"Target group {arn} still exists after DeleteTargetGroup. Next: retry.",
                    type="DeleteNotVerified",
                )
            result.deleted.append(arn)
        return result

    def _wait_drained(self, elbv2: ElasticLoadBalancingv2Client, arn: str) -> None:
        """Wait, heartbeating, until no target of the group is draining (or fail, retryably, after
        ELB's longest possible deregistration delay)."""
        deadline = time.monotonic() + MAX_DRAIN_SECONDS
        waits = Backoff(self._poll_interval)
        while True:
            try:
                with aws_errors(f"ELBv2 DescribeTargetHealth {arn}"):
                    descriptions = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            except ApplicationError as err:
                if err.type in ("TargetGroupNotFound", "TargetGroupNotFoundException"):
                    return
                raise
            draining = [
                str(d.get("Target", {}).get("Id"))
                for d in descriptions
                if d.get("TargetHealth", {}).get("State") == "draining"
            ]
            if not draining:
                return
            if time.monotonic() >= deadline:
                raise ApplicationError(
                    f"Target group {arn} still has draining targets {draining} after {MAX_DRAIN_SECONDS:.0f}s, "
                    "longer than any deregistration delay. Next: check the targets in the ELB console; the "
                    "decommission retries.",
                    type="TargetsStillDraining",
                )
            activity.heartbeat(f"{arn}: waiting for {len(draining)} draining target(s) before deleting it")
            pause(waits.next())

    @staticmethod
    def _target_group(elbv2: ElasticLoadBalancingv2Client, arn: str) -> dict[str, Any] | None:
        try:
            with aws_errors(f"ELBv2 DescribeTargetGroups {arn}"):
                groups = elbv2.describe_target_groups(TargetGroupArns=[arn]).get("TargetGroups", [])
        except ApplicationError as err:
            if err.type in ("TargetGroupNotFound", "TargetGroupNotFoundException"):
                return None
            raise
        return dict(groups[0]) if groups else None

    @staticmethod
    def _users(elbv2: ElasticLoadBalancingv2Client, target_group_arn: str, lb_arns: list[str]) -> list[_ForwardUser]:
        """Listeners (default action) and rules of the given load balancers that forward to the group."""
        users: list[_ForwardUser] = []
        for lb_arn in lb_arns:
            with aws_errors(f"ELBv2 DescribeListeners for {lb_arn}"):
                pages = elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb_arn)
                listeners = [listener for page in pages for listener in page.get("Listeners", [])]
            for listener in listeners:
                listener_arn = listener["ListenerArn"]
                default = list(listener.get("DefaultActions", []))
                if _mentions(default, target_group_arn):
                    users.append(
                        _ForwardUser(
                            f"listener {listener_arn} (default action)",
                            default,
                            _listener_writer(elbv2, listener_arn),
                        )
                    )
                with aws_errors(f"ELBv2 DescribeRules for {listener_arn}"):
                    rules = elbv2.describe_rules(ListenerArn=listener_arn).get("Rules", [])
                users += [
                    _ForwardUser(
                        f"rule {rule['RuleArn']}",
                        list(rule.get("Actions", [])),
                        _rule_writer(elbv2, rule["RuleArn"]),
                    )
                    for rule in rules
                    if not rule.get("IsDefault") and _mentions(list(rule.get("Actions", [])), target_group_arn)
                ]
        return users

    @classmethod
    def _detach_idle(cls, elbv2: ElasticLoadBalancingv2Client, target_group_arn: str, lb_arns: list[str]) -> list[str]:
        """Remove the group from every weighted forward where it has weight 0 and another group
        carries the traffic; where it still matters it stays, for the caller to refuse."""
        detached: list[str] = []
        for user in cls._users(elbv2, target_group_arn, lb_arns):
            actions = _without_idle(user.actions, target_group_arn)
            if actions is not None:
                with aws_errors(f"ELBv2 removing {target_group_arn} from the forward of {user.where}"):
                    user.write(actions)
                detached.append(user.where)
        return detached

    # --- Route 53 ---------------------------------------------------------------------------------

    @implements(contracts.DELETE_WEIGHTED_RECORD)
    def delete_weighted_record(self, inp: DeleteWeightedRecordInput) -> DeletionResult:
        edge = inp.edge
        if not ROUTE53.owns(edge):
            raise ApplicationError(
                f"Refusing to delete a weighted record of a {edge.type} edge: only Route 53 edges own weighted "
                "records. Next: fix the decommission input.",
                type="NotARoute53Edge",
                non_retryable=True,
            )
        route53 = self._clients.route53(inp.aws)
        label = f"{edge.record_name} {edge.record_type} set {inp.set_identifier!r} in zone {edge.hosted_zone_id}"
        if inp.set_identifier == edge.green.set_identifier:
            raise ApplicationError(
                f"Refusing to delete {label}: it is green's record, which now carries all the traffic. "
                f"Expected blue's set identifier ({edge.blue.set_identifier!r}). Next: fix the decommission input.",
                type="RefusedGreenRecord",
                non_retryable=True,
            )
        records = self._weighted_records(route53, edge.hosted_zone_id, edge.record_name, edge.record_type)
        target = next((r for r in records if r.get("SetIdentifier") == inp.set_identifier), None)
        result = DeletionResult()
        if target is None:
            result.already_absent.append(label)
            return result
        others = [r for r in records if r is not target]
        if not others:
            raise ApplicationError(
                f"Refusing to delete {label}: it is the last record of that name and type, so the name would stop "
                "resolving. Expected green's weighted record beside it. Next: check the hosted zone; re-create "
                "green's record before decommissioning blue.",
                type="RefusedLastRecord",
                non_retryable=True,
            )
        if int(target.get("Weight", 0)) > 0:
            raise ApplicationError(
                f"Refusing to delete {label}: it still has weight {target.get('Weight')}, so it still receives "
                "traffic. Expected weight 0 after the cutover. Next: set the edge to 100% green, then retry.",
                type="RecordStillWeighted",
                non_retryable=True,
            )
        try:
            # DELETE must repeat the record exactly as it is, so it is sent back as it was read.
            with aws_errors(f"Route 53 ChangeResourceRecordSets DELETE {label}"):
                change = route53.change_resource_record_sets(
                    HostedZoneId=edge.hosted_zone_id,
                    ChangeBatch={
                        "Comment": f"meshshift: remove blue record {inp.set_identifier}",
                        "Changes": [{"Action": "DELETE", "ResourceRecordSet": target}],  # type: ignore[typeddict-item]
                    },
                )
        except ApplicationError as err:
            # Deleted by someone (or a previous attempt) between our read and our write.
            if err.type == "InvalidChangeBatch" and not any(
                r.get("SetIdentifier") == inp.set_identifier
                for r in self._weighted_records(route53, edge.hosted_zone_id, edge.record_name, edge.record_type)
            ):
                result.already_absent.append(label)
                return result
            raise
        self._wait_insync(route53, change["ChangeInfo"]["Id"], label)
        remaining = self._weighted_records(route53, edge.hosted_zone_id, edge.record_name, edge.record_type)
        if any(r.get("SetIdentifier") == inp.set_identifier for r in remaining):
            raise ApplicationError(f"{label} still listed after its DELETE became INSYNC. Next: retry.")
        result.deleted.append(label)
        return result

    @staticmethod
    def _weighted_records(route53: Route53Client, zone: str, name: str, record_type: str) -> list[dict[str, Any]]:
        with aws_errors(f"Route 53 ListResourceRecordSets for {name} {record_type} in zone {zone}"):
            return records_of_name(route53, zone, name, record_type)

    @staticmethod
    def _wait_insync(route53: Route53Client, change_id: str, label: str, interval: float = 5.0) -> None:
        waits = Backoff(interval)
        while True:
            with aws_errors(f"Route 53 GetChange {change_id} ({label})"):
                status = route53.get_change(Id=change_id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return
            activity.heartbeat(f"{change_id} {status}")
            pause(waits.next())

    # --- App Mesh ---------------------------------------------------------------------------------

    @implements(contracts.DELETE_APP_MESH)
    def delete_app_mesh(self, inp: DeleteAppMeshInput) -> DeletionResult:
        """Delete the mesh's resources in dependency order: gateway routes, virtual gateways,
        virtual services, routes, virtual routers, virtual nodes, then the mesh. If the App Mesh
        API stops answering (end of support: connection refused, 404 not implemented ...), stop
        and report it as skipped instead of failing the migration."""
        appmesh = self._clients.appmesh(inp.aws)
        result = DeletionResult()
        try:
            _AppMeshTeardown(appmesh, inp.mesh, inp.mesh_owner, result).run()
        except _ApiGone as gone:
            result.skipped = True
            done = {*result.deleted, *result.already_absent}
            result.left_in_place = [r for r in inp.known_resources if r not in done] or [
                f"mesh {inp.mesh} (whatever it still holds: unknown without the API or a snapshot)"
            ]
            result.next_step = (
                "if the App Mesh API answers again, delete them (re-run the decommission, or `aws appmesh delete-*` "
                "in the order gateway routes, virtual gateways, virtual services, routes, virtual routers, virtual "
                "nodes, mesh); otherwise nothing runs on them any more: blue's ECS services are gone"
            )
            left = "; what is not listed under `deleted` was left in place" if result.deleted else ""
            result.warnings.append(
                f"App Mesh API did not answer {gone.operation} for mesh {inp.mesh!r} ({gone.detail}): skipped the "
                f"App Mesh part of the decommission{left}. After App Mesh's end of support (2026-09-30) its "
                "resources may no longer be reachable or billable; check the account if the API comes back. "
                f"Left in place: {', '.join(result.left_in_place)}. Next: {result.next_step}."
            )
        return result

    # --- ECS task definitions ---------------------------------------------------------------------

    @implements(contracts.DEREGISTER_TASK_DEFINITIONS)
    def deregister_task_definitions(self, inp: DeregisterTaskDefinitionsInput) -> DeletionResult:
        ecs = self._clients.ecs(inp.aws)
        result = DeletionResult()
        for arn in inp.task_definition_arns:
            activity.heartbeat(arn)
            try:
                with aws_errors(f"ECS DescribeTaskDefinition {arn}"):
                    status = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"].get("status")
            except ApplicationError as err:
                # ECS answers ClientException "Unable to describe task definition" for unknown ARNs.
                if err.type == "ClientException":
                    result.already_absent.append(arn)
                    continue
                raise
            if status != "ACTIVE":
                result.already_absent.append(arn)
                continue
            with aws_errors(f"ECS DeregisterTaskDefinition {arn}"):
                status = ecs.deregister_task_definition(taskDefinition=arn)["taskDefinition"].get("status")
            if status != "INACTIVE":
                with aws_errors(f"ECS DescribeTaskDefinition {arn}"):
                    status = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"].get("status")
            if status != "INACTIVE":
                raise ApplicationError(
                    f"Task definition {arn} reads back as {status} after DeregisterTaskDefinition. Next: retry."
                )
            result.deleted.append(arn)
        return result


# --- App Mesh teardown ------------------------------------------------------------------------------


class _ApiGone(Exception):
    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(f"{operation}: {detail}")
        self.operation = operation
        self.detail = detail


def _api_gone(err: Exception) -> str | None:
    """Why the App Mesh API counts as not answering, or None if this is an ordinary error."""
    if isinstance(err, BotoCoreError):  # connection refused, DNS gone, timeouts after retries
        return f"{type(err).__name__}: {err}"
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = error_code(err)
        message = err.response.get("Error", {}).get("Message", "")
        if status in (404, 501) and not _absent(err):
            return f"HTTP {status} {message or code}".strip()
        if code in ("UnknownOperationException", "InvalidAction", "UnrecognizedClientException"):
            return f"{code}: {message}"
        if code == "AccessDeniedException":
            # How a retired API may answer, but also what a missing permission looks like.
            return (
                f"{code}: {message}; if App Mesh is still in service, grant the worker the appmesh actions "
                "in docs/iam-policy.json and run the decommission again"
            )
    return None


class _AppMeshTeardown:
    def __init__(self, appmesh: AppMeshClient, mesh: str, owner: str | None, result: DeletionResult) -> None:
        self._appmesh = appmesh
        self._mesh = mesh
        self._owner = {"meshOwner": owner} if owner else {}
        self._result = result

    def _call(self, operation: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One App Mesh call: None when the resource is already gone; _ApiGone when the API is."""
        # DeleteMesh is the one call without meshOwner: only the owner can delete a mesh.
        owner = {} if operation == "delete_mesh" else self._owner
        try:
            return fn(meshName=self._mesh, **owner, **kwargs)
        except (ClientError, BotoCoreError) as err:
            gone = _api_gone(err)
            if gone:
                raise _ApiGone(operation, gone) from err
            if isinstance(err, ClientError) and _absent(err):
                return None
            with aws_errors(f"App Mesh {operation} in mesh {self._mesh!r}"):
                raise

    def _list(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginate = self._appmesh.get_paginator(operation).paginate  # type: ignore[call-overload]
        pages = self._call(operation, lambda **kw: list(paginate(**kw)), **kwargs)
        for page in pages or []:
            yield from page.get(key, [])

    def _delete(self, label: str, operation: str, **kwargs: Any) -> None:
        activity.heartbeat(label)
        answer = self._call(operation, getattr(self._appmesh, operation), **kwargs)
        (self._result.deleted if answer is not None else self._result.already_absent).append(label)

    def run(self) -> None:
        if self._call("describe_mesh", self._appmesh.describe_mesh) is None:
            self._result.already_absent.append(f"mesh {self._mesh}")
            return
        gateways = [g["virtualGatewayName"] for g in self._list("list_virtual_gateways", "virtualGateways")]
        for gateway in gateways:
            for route in self._list("list_gateway_routes", "gatewayRoutes", virtualGatewayName=gateway):
                name = route["gatewayRouteName"]
                self._delete(
                    f"gatewayRoute {gateway}/{name}",
                    "delete_gateway_route",
                    virtualGatewayName=gateway,
                    gatewayRouteName=name,
                )
        for gateway in gateways:
            self._delete(f"virtualGateway {gateway}", "delete_virtual_gateway", virtualGatewayName=gateway)
        for service in self._list("list_virtual_services", "virtualServices"):
            name = service["virtualServiceName"]
            self._delete(f"virtualService {name}", "delete_virtual_service", virtualServiceName=name)
        routers = [r["virtualRouterName"] for r in self._list("list_virtual_routers", "virtualRouters")]
        for router in routers:
            for route in self._list("list_routes", "routes", virtualRouterName=router):
                name = route["routeName"]
                self._delete(f"route {router}/{name}", "delete_route", virtualRouterName=router, routeName=name)
        for router in routers:
            self._delete(f"virtualRouter {router}", "delete_virtual_router", virtualRouterName=router)
        for node in self._list("list_virtual_nodes", "virtualNodes"):
            name = node["virtualNodeName"]
            self._delete(f"virtualNode {name}", "delete_virtual_node", virtualNodeName=name)
        self._delete(f"mesh {self._mesh}", "delete_mesh")
