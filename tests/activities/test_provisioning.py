"""ensure_namespace and provision_green_service against the simulated AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.provisioning import ProvisioningActivities, client_token, creator_request_id
from meshshift.migration.contracts import (
    EnsureNamespaceInput,
    GreenServicePlan,
    NamespaceResult,
    ProvisionedService,
    ProvisionServiceInput,
)
from meshshift.migration.spec import ProvisionMode
from tests.activities import conftest_local as blue
from tests.activities.throttle import no_retry_backoff, throttle_once

__all__ = ["no_retry_backoff"]  # a fixture, used by name


def ensure_namespace(clients: AwsClients, name: str = "shop.local") -> NamespaceResult:
    activities = ProvisioningActivities(clients)
    return ActivityEnvironment().run(activities.ensure_namespace, EnsureNamespaceInput(aws=blue.AWS, name=name))


def provision(
    clients: AwsClients,
    plan: GreenServicePlan,
    namespace_arn: str,
    mode: ProvisionMode = ProvisionMode.CREATE,
    initial_desired_count: int | None = None,
) -> ProvisionedService:
    activities = ProvisioningActivities(clients)
    params = ProvisionServiceInput(
        aws=blue.AWS, plan=plan, namespace_arn=namespace_arn, mode=mode, initial_desired_count=initial_desired_count
    )
    return ActivityEnvironment().run(activities.provision_green_service, params)


def green_service(name: str = "frontend-sc") -> dict[str, Any]:
    service: dict[str, Any] = blue.client("ecs").describe_services(cluster=blue.CLUSTER, services=[name])["services"][0]
    return service


def namespace_count(name: str) -> int:
    namespaces = blue.client("servicediscovery").list_namespaces()["Namespaces"]
    return sum(1 for n in namespaces if n["Name"] == name)


# --- namespace ----------------------------------------------------------------------------------


def test_namespace_is_created_once_and_found_on_repeat(aws_inprocess: None, aws_clients: AwsClients) -> None:
    first = ensure_namespace(aws_clients)
    assert first.created and first.name == "shop.local"
    assert first.arn.startswith("arn:aws:servicediscovery:") and first.id in first.arn

    second = ensure_namespace(aws_clients)
    assert not second.created
    assert (second.id, second.arn) == (first.id, first.arn)
    assert namespace_count("shop.local") == 1


def test_existing_namespace_is_adopted(aws_inprocess: None, aws_clients: AwsClients) -> None:
    sd = blue.client("servicediscovery")
    sd.create_http_namespace(Name="shop.local", CreatorRequestId="made-by-iac")
    result = ensure_namespace(aws_clients)
    assert not result.created
    assert namespace_count("shop.local") == 1


def test_creator_request_id_is_deterministic_and_within_limits() -> None:
    assert creator_request_id("shop.local") == creator_request_id("shop.local")
    assert creator_request_id("shop.local") != creator_request_id("shop.internal")
    assert len(creator_request_id("x" * 1024)) <= 64


def test_throttled_namespace_create_succeeds_on_retry(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    fault = throttle_once(aws_clients.servicediscovery(blue.AWS), "CreateHttpNamespace", "RequestLimitExceeded")
    result = ensure_namespace(aws_clients)
    assert fault.fired == 1
    assert result.created
    assert namespace_count("shop.local") == 1


# --- green services -----------------------------------------------------------------------------


def test_green_service_is_created_with_service_connect(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    plan = blue.green_plan(app)

    result = provision(aws_clients, plan, namespace.arn)

    assert result.created and not result.adopted and result.mismatches == []
    assert result.task_definition_arn.endswith("task-definition/frontend-sc:1")
    service = green_service()
    assert service["serviceArn"] == result.service_arn
    assert service["desiredCount"] == 2
    assert service["taskDefinition"] == result.task_definition_arn
    assert [lb["targetGroupArn"] for lb in service["loadBalancers"]] == [app.green_target_groups["frontend"]]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [app.subnet_id]
    (deployment,) = service["deployments"]
    config = deployment["serviceConnectConfiguration"]
    assert config["enabled"] and config["namespace"] == namespace.arn
    assert config["services"][0]["discoveryName"] == "frontend"
    assert config["services"][0]["clientAliases"] == [{"port": 8080, "dnsName": "frontend.shop.local"}]
    td = blue.client("ecs").describe_task_definition(taskDefinition=result.task_definition_arn)["taskDefinition"]
    assert [c["name"] for c in td["containerDefinitions"]] == ["app"]
    assert "proxyConfiguration" not in td


def test_repeat_after_success_adopts_and_creates_nothing(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    plan = blue.green_plan(app)
    first = provision(aws_clients, plan, namespace.arn)
    services = blue.service_count()

    second = provision(aws_clients, plan, namespace.arn)

    assert second.adopted and not second.created
    assert (second.service_arn, second.task_definition_arn) == (first.service_arn, first.task_definition_arn)
    assert blue.service_count() == services
    assert blue.revision_count("frontend-sc") == 1


class WorkerCrash(Exception):
    """Stands for the worker dying after AWS acted but before the answer was recorded."""


class _Ok:
    status_code = 200


def test_retry_after_a_lost_create_answer_and_a_stale_read_reuses_the_client_token(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    plan = blue.green_plan(app)
    ecs = aws_clients.ecs(blue.AWS)
    seen_tokens: list[str] = []

    def record_token(params: dict[str, Any], **_: Any) -> None:
        seen_tokens.append(params["clientToken"])

    def crash(**_: Any) -> None:
        raise WorkerCrash

    ecs.meta.events.register("before-parameter-build.ecs.CreateService", record_token)
    ecs.meta.events.register("after-call.ecs.CreateService", crash)
    with pytest.raises(WorkerCrash):
        provision(aws_clients, plan, namespace.arn)
    ecs.meta.events.unregister("after-call.ecs.CreateService", crash)
    assert blue.service_count() == len(blue.SERVICES) + 2  # the create did happen

    # The retry's lookup misses the service (ECS reads are eventually consistent), so it creates again.
    stale = {"left": 1}

    def stale_lookup(params: dict[str, Any], **_: Any) -> tuple[_Ok, dict[str, Any]] | None:
        # before-call sees the serialized request: ECS speaks JSON.
        if stale["left"] and json.loads(params["body"]).get("services") == ["frontend-sc"]:
            stale["left"] -= 1
            return _Ok(), {"services": [], "failures": [{"arn": "frontend-sc", "reason": "MISSING"}]}
        return None

    ecs.meta.events.register_first("before-call.ecs.DescribeServices", stale_lookup)
    result = provision(aws_clients, plan, namespace.arn)

    assert len(seen_tokens) == 2 and seen_tokens[0] == seen_tokens[1]
    assert seen_tokens[0] == client_token(blue.CLUSTER, "frontend-sc", result.task_definition_arn)
    assert len(seen_tokens[0]) <= 36
    assert result.created  # ECS answered the repeated token with the service it already made
    assert result.service_arn == green_service()["serviceArn"]
    assert blue.service_count() == len(blue.SERVICES) + 2
    assert blue.revision_count("frontend-sc") == 1


def test_changed_plan_registers_a_new_revision_and_updates_the_adopted_service(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    provision(aws_clients, blue.green_plan(app), namespace.arn)

    result = provision(aws_clients, blue.green_plan(app, image_tag="1.4.3"), namespace.arn)

    assert result.adopted and not result.created
    assert result.task_definition_arn.endswith("frontend-sc:2")
    assert green_service()["taskDefinition"] == result.task_definition_arn
    assert blue.revision_count("frontend-sc") == 2
    assert blue.service_count() == len(blue.SERVICES) + 2


def test_async_worker_starts_at_zero_tasks(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    plan = blue.green_plan(app, blue.WORKER, async_worker=True)
    result = provision(aws_clients, plan, namespace.arn, initial_desired_count=0)
    assert result.created
    service = green_service(f"{blue.WORKER}-sc")
    assert service["desiredCount"] == 0
    # A repeat must not scale it back down after the flip scaled it up.
    blue.client("ecs").update_service(cluster=blue.CLUSTER, service=f"{blue.WORKER}-sc", desiredCount=2)
    provision(aws_clients, plan, namespace.arn, initial_desired_count=0)
    assert green_service(f"{blue.WORKER}-sc")["desiredCount"] == 2


@pytest.mark.integration
def test_throttled_create_service_succeeds_on_retry(
    aws_server_env: str, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    # Server mode: there the throttling answer replaces the HTTP send. Under mock_aws, moto's own
    # before-send handler still runs, so the "throttled" call would have acted (a lost answer instead).
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    ecs = aws_clients.ecs(blue.AWS)
    faults = [
        throttle_once(ecs, "RegisterTaskDefinition", "ThrottlingException"),
        throttle_once(ecs, "CreateService", "ThrottlingException"),
    ]
    result = provision(aws_clients, blue.green_plan(app), namespace.arn)
    assert [f.fired for f in faults] == [1, 1]
    assert result.created
    assert blue.service_count() == len(blue.SERVICES) + 2
    assert blue.revision_count("frontend-sc") == 1


# --- provision: existing ------------------------------------------------------------------------


def iac_creates_green(app: blue.BlueApp, namespace_arn: str, **overrides: Any) -> None:
    """What a Terraform/CDK stack would have made for frontend-sc."""
    ecs = blue.client("ecs")
    plan = blue.green_plan(app)
    ecs.register_task_definition(**plan.task_definition.model_dump(exclude_none=True))
    request: dict[str, Any] = {
        "cluster": blue.CLUSTER,
        "serviceName": "frontend-sc",
        "taskDefinition": "frontend-sc",
        "desiredCount": 2,
        "launchType": "FARGATE",
        "loadBalancers": [
            {"targetGroupArn": app.green_target_groups["frontend"], "containerName": "app", "containerPort": 8080}
        ],
        "serviceConnectConfiguration": {
            "enabled": True,
            "namespace": namespace_arn,
            "services": [{"portName": "http", "discoveryName": "frontend", "clientAliases": [{"port": 8080}]}],
        },
    }
    request.update(overrides)
    ecs.create_service(**request)


def test_existing_mode_adopts_a_matching_service_without_changes(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    iac_creates_green(app, namespace.arn, desiredCount=3)
    before = green_service()

    result = provision(aws_clients, blue.green_plan(app), namespace.arn, mode=ProvisionMode.EXISTING)

    assert result.adopted and not result.created
    assert result.mismatches == ["desired count 3, blue runs 2"]
    assert green_service()["deployments"] == before["deployments"]
    assert blue.revision_count("frontend-sc") == 1


def test_existing_mode_refuses_a_service_that_would_break_the_cutover(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    iac_creates_green(
        app,
        namespace.arn,
        loadBalancers=[
            {"targetGroupArn": app.target_groups["frontend"], "containerName": "app", "containerPort": 8080}
        ],
        serviceConnectConfiguration={
            "enabled": True,
            "namespace": "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-other",
            "services": [{"portName": "http", "discoveryName": "web"}],
        },
    )
    with pytest.raises(ApplicationError) as caught:
        provision(aws_clients, blue.green_plan(app), namespace.arn, mode=ProvisionMode.EXISTING)
    err = caught.value
    assert err.non_retryable and err.type == "GreenServiceMismatch"
    assert "'frontend-sc'" in err.message
    assert "namespace" in err.message and "ns-other" in err.message
    assert "discovery names ['web']" in err.message
    assert "target groups" in err.message and app.green_target_groups["frontend"] in err.message
    assert blue.service_count() == len(blue.SERVICES) + 2  # nothing created, nothing deleted


def test_existing_mode_without_the_service_says_what_to_do(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    with pytest.raises(ApplicationError) as caught:
        provision(aws_clients, blue.green_plan(app), namespace.arn, mode=ProvisionMode.EXISTING)
    assert caught.value.non_retryable and caught.value.type == "GreenServiceNotFound"
    assert "provision: create" in caught.value.message
    assert blue.service_count() == len(blue.SERVICES) + 1


@pytest.mark.integration
def test_server_mode_create_then_repeat(aws_server_env: str, aws_clients: AwsClients) -> None:
    app = blue.seed_blue(with_mesh=False)
    namespace = ensure_namespace(aws_clients)
    plan = blue.green_plan(app)
    first = provision(aws_clients, plan, namespace.arn)
    second = provision(aws_clients, plan, namespace.arn)
    assert first.created and second.adopted
    assert first.service_arn == second.service_arn
    assert blue.revision_count("frontend-sc") == 1
    assert green_service()["deployments"][0]["serviceConnectConfiguration"]["namespace"] == namespace.arn
