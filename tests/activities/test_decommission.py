"""Decommission activities against the simulated AWS (in-process and server mode)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.decommission import DecommissionActivities
from meshshift.migration.contracts import (
    AwsContext,
    DeleteAppMeshInput,
    DeleteServicesInput,
    DeleteTargetGroupsInput,
    DeleteWeightedRecordInput,
    DeregisterTaskDefinitionsInput,
)
from meshshift.migration.edge.route53 import Route53Edge, WeightedRecord
from tests.activities.test_async_workers import make_service
from tests.activities.throttle import ThrottleOnce, no_retry_backoff, throttle_once

__all__ = ["no_retry_backoff"]

CTX = AwsContext(region="us-east-1")


@pytest.fixture(params=["inprocess", "server"])
def aws_mode(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("aws_inprocess" if request.param == "inprocess" else "aws_server_env")
    return str(request.param)


def run(clients: AwsClients, method: str, inp: Any) -> Any:
    return ActivityEnvironment().run(getattr(DecommissionActivities(clients), method), inp)


# --- ECS services -------------------------------------------------------------------------------


def test_delete_services_scales_to_zero_first_and_is_idempotent(aws_mode: str, aws_clients: AwsClients) -> None:
    make_service("frontend", 2)
    make_service("user-api", 0)
    calls: list[str] = []
    aws_clients.ecs(CTX).meta.events.register(
        "provide-client-params.ecs.*",
        lambda params, model, **_: calls.append(f"{model.name} {params.get('service', '')}".strip()),
    )
    inp = DeleteServicesInput(aws=CTX, cluster="shop", services=["frontend", "user-api", "never-existed"])
    first = run(aws_clients, "delete_ecs_services", inp)
    assert first.deleted == ["frontend", "user-api"]
    assert first.already_absent == ["never-existed"]
    assert calls.index("UpdateService frontend") < calls.index("DeleteService frontend")
    assert "UpdateService user-api" not in calls  # already at 0
    statuses = boto3.client("ecs", region_name="us-east-1").describe_services(
        cluster="shop", services=["frontend", "user-api"]
    )
    assert {s["status"] for s in statuses["services"]} <= {"DRAINING", "INACTIVE"}

    again = run(aws_clients, "delete_ecs_services", inp)
    assert again.deleted == [] and again.already_absent == ["frontend", "user-api", "never-existed"]


def test_delete_services_throttled_then_ok(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    make_service("frontend", 1)
    fault = throttle_once(aws_clients.ecs(CTX), "DeleteService", "ThrottlingException")
    result = run(
        aws_clients, "delete_ecs_services", DeleteServicesInput(aws=CTX, cluster="shop", services=["frontend"])
    )
    assert fault.fired == 1 and result.deleted == ["frontend"]


def test_delete_services_unknown_cluster_is_permanent(aws_inprocess: None, aws_clients: AwsClients) -> None:
    with pytest.raises(ApplicationError) as err:
        run(aws_clients, "delete_ecs_services", DeleteServicesInput(aws=CTX, cluster="nope", services=["frontend"]))
    assert err.value.non_retryable
    assert "ClusterNotFoundException" in str(err.value) and "cluster 'nope'" in str(err.value)


# --- target groups ------------------------------------------------------------------------------


def _alb_with_groups() -> tuple[str, str, str, str]:
    """A load balancer whose listener forwards to blue (weight 0) and green; plus an unused group."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    elb = boto3.client("elbv2", region_name="us-east-1")
    lb = elb.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]

    def group(name: str) -> str:
        return str(
            elb.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][0][
                "TargetGroupArn"
            ]
        )

    blue, green, old = group("shop-blue"), group("shop-green"), group("shop-old")
    listener = elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": blue, "Weight": 0}, {"TargetGroupArn": green, "Weight": 999}]
                },
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    return blue, green, old, listener


def test_delete_unreferenced_target_group_is_idempotent(aws_mode: str, aws_clients: AwsClients) -> None:
    _, _, old, _ = _alb_with_groups()
    inp = DeleteTargetGroupsInput(aws=CTX, target_group_arns=[old])
    assert run(aws_clients, "delete_target_groups", inp).deleted == [old]
    assert run(aws_clients, "delete_target_groups", inp).already_absent == [old]


def _forward(listener: str) -> list[dict[str, Any]]:
    elb = boto3.client("elbv2", region_name="us-east-1")
    action = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
    return [{"arn": g["TargetGroupArn"], "weight": g.get("Weight")} for g in action["ForwardConfig"]["TargetGroups"]]


def test_a_group_at_weight_0_is_taken_out_of_the_forward_then_deleted(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    blue, green, _, listener = _alb_with_groups()
    inp = DeleteTargetGroupsInput(aws=CTX, target_group_arns=[blue])
    result = run(aws_clients, "delete_target_groups", inp)
    assert result.deleted == [blue]
    assert any(listener in w and "weight 0" in w for w in result.warnings)
    assert _forward(listener) == [{"arn": green, "weight": 999}]  # green keeps all the traffic
    assert run(aws_clients, "delete_target_groups", inp).already_absent == [blue]


def test_a_group_that_still_carries_traffic_is_refused(aws_inprocess: None, aws_clients: AwsClients) -> None:
    blue, green, _, listener = _alb_with_groups()
    elb = boto3.client("elbv2", region_name="us-east-1")
    groups = [{"TargetGroupArn": blue, "Weight": 1}, {"TargetGroupArn": green, "Weight": 999}]
    elb.modify_listener(
        ListenerArn=listener, DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]
    )
    with pytest.raises(ApplicationError) as err:
        run(aws_clients, "delete_target_groups", DeleteTargetGroupsInput(aws=CTX, target_group_arns=[blue]))
    assert err.value.non_retryable and err.value.type == "TargetGroupInUse"
    assert listener in str(err.value) and "weight above 0" in str(err.value)
    assert len(elb.describe_target_groups(TargetGroupArns=[blue])["TargetGroups"]) == 1  # untouched
    assert _forward(listener) == [{"arn": blue, "weight": 1}, {"arn": green, "weight": 999}]


def test_delete_target_group_throttled_then_ok(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    _, _, old, _ = _alb_with_groups()
    fault = throttle_once(aws_clients.elbv2(CTX), "DeleteTargetGroup", "Throttling")
    result = run(aws_clients, "delete_target_groups", DeleteTargetGroupsInput(aws=CTX, target_group_arns=[old]))
    assert fault.fired == 1 and result.deleted == [old]


# --- Route 53 -----------------------------------------------------------------------------------


def _zone(blue_weight: int = 0, with_green: bool = True) -> Route53Edge:
    r53 = boto3.client("route53", region_name="us-east-1")
    zone = r53.create_hosted_zone(Name="shop.example.com", CallerReference="test")["HostedZone"]["Id"]
    zone_id = zone.split("/")[-1]

    def record(ident: str, value: str, weight: int) -> dict[str, Any]:
        return {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "api.shop.example.com",
                "Type": "CNAME",
                "SetIdentifier": ident,
                "Weight": weight,
                "TTL": 60,
                "ResourceRecords": [{"Value": value}],
            },
        }

    changes = [record("blue", "blue.shop.example.com", blue_weight)]
    if with_green:
        changes.append(record("green", "green.shop.example.com", 255))
    # A neighbour with the same name but another type must never be touched.
    changes.append(
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "api.shop.example.com",
                "Type": "TXT",
                "TTL": 60,
                "ResourceRecords": [{"Value": '"owner=shop"'}],
            },
        }
    )
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return Route53Edge(
        type="route53",
        hosted_zone_id=zone_id,
        record_name="api.shop.example.com",
        record_type="CNAME",
        blue=WeightedRecord(set_identifier="blue", value="blue.shop.example.com"),
        green=WeightedRecord(set_identifier="green", value="green.shop.example.com"),
    )


def _records(edge: Route53Edge) -> list[tuple[str, str | None]]:
    r53 = boto3.client("route53", region_name="us-east-1")
    sets = r53.list_resource_record_sets(HostedZoneId=edge.hosted_zone_id)["ResourceRecordSets"]
    return sorted((s["Type"], s.get("SetIdentifier")) for s in sets if s["Name"].startswith("api."))


def test_delete_blue_record_is_idempotent(aws_mode: str, aws_clients: AwsClients) -> None:
    edge = _zone()
    inp = DeleteWeightedRecordInput(aws=CTX, edge=edge, set_identifier="blue")
    first = run(aws_clients, "delete_weighted_record", inp)
    assert len(first.deleted) == 1 and "'blue'" in first.deleted[0]
    assert _records(edge) == [("CNAME", "green"), ("TXT", None)]
    again = run(aws_clients, "delete_weighted_record", inp)
    assert again.deleted == [] and len(again.already_absent) == 1


def test_green_record_is_never_deleted(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = _zone()
    with pytest.raises(ApplicationError) as err:
        run(
            aws_clients, "delete_weighted_record", DeleteWeightedRecordInput(aws=CTX, edge=edge, set_identifier="green")
        )
    assert err.value.non_retryable and "green's record" in str(err.value)


def test_last_weighted_record_is_never_deleted(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = _zone(with_green=False)
    with pytest.raises(ApplicationError) as err:
        run(aws_clients, "delete_weighted_record", DeleteWeightedRecordInput(aws=CTX, edge=edge, set_identifier="blue"))
    assert err.value.non_retryable and err.value.type == "RefusedLastRecord"
    assert ("CNAME", "blue") in _records(edge)


def test_blue_record_still_weighted_is_refused(aws_inprocess: None, aws_clients: AwsClients) -> None:
    edge = _zone(blue_weight=10)
    with pytest.raises(ApplicationError) as err:
        run(aws_clients, "delete_weighted_record", DeleteWeightedRecordInput(aws=CTX, edge=edge, set_identifier="blue"))
    assert err.value.non_retryable and "weight 10" in str(err.value)


def test_delete_record_throttled_then_ok(aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None) -> None:
    edge = _zone()
    fault = throttle_once(aws_clients.route53(CTX), "ChangeResourceRecordSets", "Throttling")
    result = run(
        aws_clients, "delete_weighted_record", DeleteWeightedRecordInput(aws=CTX, edge=edge, set_identifier="blue")
    )
    assert fault.fired == 1 and len(result.deleted) == 1


# --- App Mesh -----------------------------------------------------------------------------------

LISTENER = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}


def _mesh() -> None:
    am = boto3.client("appmesh", region_name="us-east-1")
    am.create_mesh(meshName="shop-mesh")
    for node in ("user-api-v1", "user-api-v2"):
        am.create_virtual_node(meshName="shop-mesh", virtualNodeName=node, spec=LISTENER)
    am.create_virtual_router(meshName="shop-mesh", virtualRouterName="user-api", spec=LISTENER)
    am.create_route(
        meshName="shop-mesh",
        virtualRouterName="user-api",
        routeName="split",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {
                    "weightedTargets": [
                        {"virtualNode": "user-api-v1", "weight": 90},
                        {"virtualNode": "user-api-v2", "weight": 10},
                    ]
                },
            }
        },
    )
    am.create_virtual_service(
        meshName="shop-mesh",
        virtualServiceName="user-api.shop.local",
        spec={"provider": {"virtualRouter": {"virtualRouterName": "user-api"}}},
    )
    am.create_virtual_gateway(meshName="shop-mesh", virtualGatewayName="ingress", spec=LISTENER)
    am.create_gateway_route(
        meshName="shop-mesh",
        virtualGatewayName="ingress",
        gatewayRouteName="to-user-api",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"target": {"virtualService": {"virtualServiceName": "user-api.shop.local"}}},
            }
        },
    )


EXPECTED_ORDER = [
    "gatewayRoute ingress/to-user-api",
    "virtualGateway ingress",
    "virtualService user-api.shop.local",
    "route user-api/split",
    "virtualRouter user-api",
    "virtualNode user-api-v1",
    "virtualNode user-api-v2",
    "mesh shop-mesh",
]


def test_delete_app_mesh_in_dependency_order_and_idempotent(aws_mode: str, aws_clients: AwsClients) -> None:
    _mesh()
    inp = DeleteAppMeshInput(aws=CTX, mesh="shop-mesh")
    first = run(aws_clients, "delete_app_mesh", inp)
    assert not first.skipped and first.warnings == []
    assert first.deleted == EXPECTED_ORDER
    again = run(aws_clients, "delete_app_mesh", inp)
    assert again.deleted == [] and again.already_absent == ["mesh shop-mesh"]


def test_delete_app_mesh_throttled_then_ok(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    _mesh()
    client = aws_clients.appmesh(CTX)
    fault = ThrottleOnce(client.meta.service_model.resolved_protocol, "TooManyRequestsException", status=429)
    client.meta.events.register_first("before-send.app-mesh.DeleteRoute", fault)
    result = run(aws_clients, "delete_app_mesh", DeleteAppMeshInput(aws=CTX, mesh="shop-mesh"))
    assert fault.fired == 1
    # Under mock_aws the throttled DeleteRoute still reached moto (like a request whose answer was
    # lost), so its retry finds the route gone: same end state, reported as already absent.
    assert [r for r in result.deleted + result.already_absent if r in EXPECTED_ORDER] != []
    assert sorted(result.deleted + result.already_absent) == sorted(EXPECTED_ORDER)
    assert result.deleted[-1] == "mesh shop-mesh"


class _Retired:
    """Every App Mesh call answered the way a retired API answers: 404 without an error code."""

    def __call__(self, request: Any = None, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        class Raw:
            def stream(self, **_: Any) -> Any:
                yield b"Not yet implemented"

        return AWSResponse(request.url, 404, {"Content-Type": "text/plain"}, Raw())


def test_app_mesh_api_gone_is_skipped_with_a_warning(aws_mode: str, aws_clients: AwsClients) -> None:
    aws_clients.appmesh(CTX).meta.events.register_first("before-send.app-mesh", _Retired())
    result = run(aws_clients, "delete_app_mesh", DeleteAppMeshInput(aws=CTX, mesh="shop-mesh"))
    assert result.skipped and result.deleted == []
    assert len(result.warnings) == 1 and "did not answer describe_mesh" in result.warnings[0]
    assert "HTTP 404" in result.warnings[0]


def test_app_mesh_unreachable_endpoint_is_skipped(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    def refuse(request: Any = None, **_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url=request.url)

    aws_clients.appmesh(CTX).meta.events.register_first("before-send.app-mesh", refuse)
    result = run(aws_clients, "delete_app_mesh", DeleteAppMeshInput(aws=CTX, mesh="shop-mesh"))
    assert result.skipped and "EndpointConnectionError" in result.warnings[0]


def test_app_mesh_api_gone_midway_keeps_what_was_deleted(aws_inprocess: None, aws_clients: AwsClients) -> None:
    _mesh()
    aws_clients.appmesh(CTX).meta.events.register_first("before-send.app-mesh.ListVirtualRouters", _Retired())
    result = run(aws_clients, "delete_app_mesh", DeleteAppMeshInput(aws=CTX, mesh="shop-mesh"))
    assert result.skipped and result.deleted == EXPECTED_ORDER[:3]
    assert "list_virtual_routers" in result.warnings[0] and "left in place" in result.warnings[0]


def test_app_mesh_api_gone_lists_what_was_left_in_place_with_the_next_step(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    # Issue 18: the plan's appmesh_resources (from the live API or a snapshot) say what the mesh held.
    _mesh()
    from meshshift.activities.discovery import _MeshReader
    from meshshift.migration.plan import appmesh_resources

    known = appmesh_resources(_MeshReader(boto3.client("appmesh", region_name="us-east-1"), "shop-mesh", None).read())
    assert sorted(known) == sorted(EXPECTED_ORDER)  # the plan names them as the teardown does
    aws_clients.appmesh(CTX).meta.events.register_first("before-send.app-mesh.ListVirtualRouters", _Retired())
    result = run(aws_clients, "delete_app_mesh", DeleteAppMeshInput(aws=CTX, mesh="shop-mesh", known_resources=known))
    assert result.skipped and result.deleted == EXPECTED_ORDER[:3]
    assert sorted(result.left_in_place) == sorted(EXPECTED_ORDER[3:])
    assert result.next_step is not None and "delete" in result.next_step
    assert ", ".join(EXPECTED_ORDER[3:]) in result.warnings[0]


def test_missing_mesh_is_already_absent(aws_inprocess: None, aws_clients: AwsClients) -> None:
    result = run(aws_clients, "delete_app_mesh", DeleteAppMeshInput(aws=CTX, mesh="no-such-mesh"))
    assert not result.skipped and result.already_absent == ["mesh no-such-mesh"]


# --- task definitions ---------------------------------------------------------------------------


def test_deregister_task_definitions_is_idempotent(aws_mode: str, aws_clients: AwsClients) -> None:
    ecs = boto3.client("ecs", region_name="us-east-1")
    arns = [
        ecs.register_task_definition(family=f, containerDefinitions=[{"name": "app", "image": "app:1", "memory": 256}])[
            "taskDefinition"
        ]["taskDefinitionArn"]
        for f in ("frontend", "user-api")
    ]
    unknown = "arn:aws:ecs:us-east-1:123456789012:task-definition/never:1"
    inp = DeregisterTaskDefinitionsInput(aws=CTX, task_definition_arns=[*arns, unknown])
    first = run(aws_clients, "deregister_task_definitions", inp)
    assert first.deleted == arns and first.already_absent == [unknown]
    again = run(aws_clients, "deregister_task_definitions", inp)
    assert again.deleted == [] and again.already_absent == [*arns, unknown]


def test_deregister_throttled_then_ok(aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None) -> None:
    ecs = boto3.client("ecs", region_name="us-east-1")
    arn = ecs.register_task_definition(
        family="frontend", containerDefinitions=[{"name": "app", "image": "app:1", "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    fault = throttle_once(aws_clients.ecs(CTX), "DeregisterTaskDefinition", "ThrottlingException")
    result = run(
        aws_clients, "deregister_task_definitions", DeregisterTaskDefinitionsInput(aws=CTX, task_definition_arns=[arn])
    )
    assert fault.fired == 1 and result.deleted == [arn]


def test_activities_are_registered_under_their_contract_names(aws_clients: AwsClients) -> None:
    from temporalio import activity

    from meshshift.activities.async_workers import AsyncWorkerActivities
    from meshshift.activities.metrics import MetricsActivities
    from meshshift.migration import contracts

    decommission = DecommissionActivities(aws_clients)
    metrics = MetricsActivities(aws_clients)
    expected = {
        contracts.COLLECT_METRICS.name: metrics.collect_metrics,
        contracts.POLL_ALARMS.name: metrics.poll_alarms,
        contracts.SCALE_SERVICE.name: AsyncWorkerActivities(aws_clients).scale_service,
        contracts.DELETE_ECS_SERVICES.name: decommission.delete_ecs_services,
        contracts.DELETE_TARGET_GROUPS.name: decommission.delete_target_groups,
        contracts.DELETE_WEIGHTED_RECORD.name: decommission.delete_weighted_record,
        contracts.DELETE_APP_MESH.name: decommission.delete_app_mesh,
        contracts.DEREGISTER_TASK_DEFINITIONS.name: decommission.deregister_task_definitions,
    }
    for name, method in expected.items():
        definition = activity._Definition.must_from_callable(method)
        assert definition.name == name


def test_only_an_idle_group_beside_a_weighted_one_can_be_taken_out() -> None:
    from meshshift.activities.decommission import _without_idle

    def fwd(*groups: tuple[str, int | None]) -> dict[str, Any]:
        tgs = [{"TargetGroupArn": a} if w is None else {"TargetGroupArn": a, "Weight": w} for a, w in groups]
        return {"Type": "forward", "ForwardConfig": {"TargetGroups": tgs}}

    assert _without_idle([fwd(("b", 0), ("g", 5))], "b") == [fwd(("g", 5))]
    assert _without_idle([fwd(("b", 0), ("g", 0))], "b") is None  # nothing else carries traffic
    assert _without_idle([fwd(("b", None), ("g", 5))], "b") is None  # unweighted counts as weight 1
    assert _without_idle([{"Type": "forward", "TargetGroupArn": "b"}], "b") is None  # the only target
    other = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
    assert _without_idle([other, fwd(("b", 0), ("g", 1))], "b") == [other, fwd(("g", 1))]
