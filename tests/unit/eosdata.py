"""The "acme" application after App Mesh's end of support, as discovery sees it (pure data).

web calls api (API_URL=http://api.acme.local:9090), api calls stock (STOCK_HOST=stock.acme.local:7070);
each registers in Cloud Map namespace acme.local through its ECS serviceRegistries, and runs an
envoy sidecar naming its virtual node. The App Mesh API does not answer.
"""

from __future__ import annotations

from typing import Any

from meshshift.migration.contracts import (
    AppMeshStatus,
    BlueDiscovery,
    BlueService,
    CloudMapRegistration,
    TaskDefinition,
)
from meshshift.migration.inference import env_backend_calls, infer_aliases
from meshshift.migration.loading import validate_spec
from meshshift.migration.spec import MigrationSpec
from tests.unit.specdata import shop

ENVOY_IMAGE = "840364872350.dkr.ecr.us-east-1.amazonaws.com/aws-appmesh-envoy:v1.29.6.0-prod"
APPS = {
    "web": (8080, {"API_URL": "http://api.acme.local:9090/v1"}),
    "api": (9090, {"STOCK_HOST": "stock.acme.local:7070", "DB_HOST": "db.cluster-x.rds.amazonaws.com"}),
    "stock": (7070, {}),
}


def task_definition(name: str) -> TaskDefinition:
    port, env = APPS[name]
    body: dict[str, Any] = {
        "family": name,
        "networkMode": "awsvpc",
        "proxyConfiguration": {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [{"name": "AppPorts", "value": str(port)}],
        },
        "containerDefinitions": [
            {
                "name": "app",
                "image": f"acme/{name}:1",
                "essential": True,
                "portMappings": [{"containerPort": port, "protocol": "tcp", "name": "http", "appProtocol": "http"}],
                "environment": [{"name": k, "value": v} for k, v in env.items()],
            },
            {
                "name": "envoy",
                "image": ENVOY_IMAGE,
                "essential": True,
                "environment": [
                    {
                        "name": "APPMESH_RESOURCE_ARN",
                        "value": f"arn:aws:appmesh:us-east-1:123456789012:mesh/acme/virtualNode/{name}-node",
                    }
                ],
            },
        ],
    }
    return TaskDefinition.model_validate(body)


def blue_service(name: str, registered: bool = True) -> BlueService:
    return BlueService(
        name=name,
        arn=f"arn:aws:ecs:us-east-1:123456789012:service/acme/{name}",
        cluster="acme",
        desired_count=2,
        running_count=2,
        task_definition_arn=f"arn:aws:ecs:us-east-1:123456789012:task-definition/{name}:1",
        task_definition=task_definition(name),
        virtual_node_name=f"{name}-node",
        cloud_map=[
            CloudMapRegistration(
                registry_arn=f"arn:aws:servicediscovery:us-east-1:123456789012:service/srv-{name}",
                service=name,
                namespace="acme.local",
                dns_records=["A"],
            )
        ]
        if registered
        else [],
    )


def discovery(names: list[str] | None = None, registered: bool = True) -> BlueDiscovery:
    return discovery_from([blue_service(n, registered) for n in (names or list(APPS))])


def discovery_from(services: list[BlueService]) -> BlueDiscovery:
    """What the discovery activity returns for these services with App Mesh refusing."""
    namespaces = {"acme.local"}
    calls = [c for s in services for c in env_backend_calls(s, namespaces)]
    aliases, warnings = infer_aliases(services, calls, namespaces)
    return BlueDiscovery(
        services=services,
        appmesh_status=AppMeshStatus.UNAVAILABLE,
        backend_calls=calls,
        inferred_aliases=aliases,
        namespaces=sorted(namespaces),
        warnings=warnings,
    )


def spec(names: list[str] | None = None, **green: Any) -> MigrationSpec:
    data = shop()
    data["name"] = "acme"
    data["blue"] = {"cluster": "acme", "services": names or list(APPS), "mesh": "acme"}
    data["green"] = {"cluster": "acme", "namespace": "acme.local", **green}
    data["async_workers"] = []
    return validate_spec(data)
