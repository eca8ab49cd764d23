"""ECS shapes in AWS's own camelCase, passed to boto3 as they are (unknown keys kept)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from meshshift.migration.contracts.base import AwsShaped, Payload


class KeyValue(AwsShaped):
    name: str
    value: str


class PortMapping(AwsShaped):
    containerPort: int | None = None
    hostPort: int | None = None
    protocol: str | None = None
    name: str | None = None
    appProtocol: Literal["http", "http2", "grpc"] | None = None


class ContainerDependency(AwsShaped):
    containerName: str
    condition: str


class ContainerDefinition(AwsShaped):
    name: str
    image: str
    essential: bool | None = None
    portMappings: list[PortMapping] = Field(default_factory=list)
    environment: list[KeyValue] = Field(default_factory=list)
    dependsOn: list[ContainerDependency] = Field(default_factory=list)


class ProxyConfiguration(AwsShaped):
    type: str | None = None
    containerName: str
    properties: list[KeyValue] = Field(default_factory=list)


class TaskDefinition(AwsShaped):
    """The registerable part of a task definition (what ``register_task_definition`` takes)."""

    family: str
    containerDefinitions: list[ContainerDefinition]
    proxyConfiguration: ProxyConfiguration | None = None
    networkMode: str | None = None
    cpu: str | None = None
    memory: str | None = None
    taskRoleArn: str | None = None
    executionRoleArn: str | None = None
    requiresCompatibilities: list[str] | None = None


class ServiceConnectClientAlias(AwsShaped):
    port: int
    dnsName: str | None = None


class ServiceConnectTimeout(AwsShaped):
    idleTimeoutSeconds: int | None = None
    perRequestTimeoutSeconds: int | None = None


class ServiceConnectService(AwsShaped):
    portName: str
    discoveryName: str | None = None
    clientAliases: list[ServiceConnectClientAlias] = Field(default_factory=list, max_length=1)
    timeout: ServiceConnectTimeout | None = None
    tls: dict[str, Any] | None = None


class ServiceConnectConfiguration(AwsShaped):
    enabled: bool = True
    namespace: str | None = None
    services: list[ServiceConnectService] = Field(default_factory=list)
    logConfiguration: dict[str, Any] | None = None
    accessLogConfiguration: dict[str, Any] | None = None


class LoadBalancerAttachment(Payload):
    target_group_arn: str
    container_name: str
    container_port: int


class NetworkConfig(Payload):
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = False


class CapacityProviderItem(Payload):
    capacity_provider: str
    weight: int = 0
    base: int = 0
