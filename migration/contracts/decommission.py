"""Removing blue: services, target groups, records, App Mesh resources, task definitions."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from meshshift.migration.contracts.base import ActivityDef, AwsContext, Payload
from meshshift.migration.edge.registry import EdgeSpec


class DeleteServicesInput(Payload):
    aws: AwsContext
    cluster: str
    services: list[str]


class DeleteTargetGroupsInput(Payload):
    aws: AwsContext
    target_group_arns: list[str]


class DeleteWeightedRecordInput(Payload):
    aws: AwsContext
    edge: EdgeSpec  # one whose mechanism lists the record among its blue resources
    set_identifier: str


class DeleteAppMeshInput(Payload):
    aws: AwsContext
    mesh: str
    mesh_owner: str | None = None
    known_resources: list[str] = Field(
        default_factory=list,
        description="The mesh's resources as planning knew them (live API or snapshot), e.g. 'virtualNode api-node': "
        "listed as left in place when the API no longer answers",
    )


class DeregisterTaskDefinitionsInput(Payload):
    aws: AwsContext
    task_definition_arns: list[str]


class DeletionResult(Payload):
    deleted: list[str] = Field(default_factory=list)
    already_absent: list[str] = Field(default_factory=list)
    skipped: bool = False
    warnings: list[str] = Field(default_factory=list)
    left_in_place: list[str] = Field(
        default_factory=list, description="Resources that could not be deleted (App Mesh API gone), for the report"
    )
    next_step: str | None = Field(default=None, description="What to do about left_in_place")


DELETE_ECS_SERVICES = ActivityDef(
    "delete_ecs_services", DeleteServicesInput, DeletionResult, start_to_close=timedelta(minutes=20)
)
# Waits for the groups' draining targets first (at most ELB's 3600 s deregistration delay).
DELETE_TARGET_GROUPS = ActivityDef(
    "delete_target_groups", DeleteTargetGroupsInput, DeletionResult, start_to_close=timedelta(minutes=65)
)
DELETE_WEIGHTED_RECORD = ActivityDef(
    "delete_weighted_record", DeleteWeightedRecordInput, DeletionResult, start_to_close=timedelta(minutes=10)
)
DELETE_APP_MESH = ActivityDef(
    "delete_app_mesh", DeleteAppMeshInput, DeletionResult, start_to_close=timedelta(minutes=20)
)
DEREGISTER_TASK_DEFINITIONS = ActivityDef(
    "deregister_task_definitions", DeregisterTaskDefinitionsInput, DeletionResult, start_to_close=timedelta(minutes=10)
)
