"""A continue-as-new state too large for one payload, in parts (issue 22): the pure side."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meshshift.migration import state_parts
from meshshift.migration.contracts import ProvisionedService
from meshshift.migration.plan import build_plan
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.state import (
    PLAN_SERVICES_SHOWN,
    Approval,
    GateKind,
    MigrationInput,
    MigrationState,
    Phase,
    StateTotals,
    plan_services,
)
from tests.unit.test_plan import discovery, spec

__all__ = ["spec"]  # a fixture, used by name

N = 3 * PLAN_SERVICES_SHOWN


def large_state(spec: MigrationSpec, n: int = N) -> MigrationState:
    plan = build_plan(spec, discovery())
    one = plan.services[0]
    services = [one.model_copy(update={"blue_service": f"svc-{i}", "green_service": f"svc-{i}-sc"}) for i in range(n)]
    return MigrationState(
        app="shop",
        phase=Phase.PROVISIONING,
        plan=plan.model_copy(update={"services": services, "appmesh_resources": [f"node/n{i}" for i in range(n)]}),
        provisioned=[
            ProvisionedService(
                service_name=s.green_service,
                service_arn=f"arn:aws:ecs:::service/{s.green_service}",
                task_definition_arn=f"arn:aws:ecs:::task-definition/{s.green_service}:1",
                created=True,
                adopted=False,
            )
            for s in services
        ],
        blue_task_definition_arns=[f"arn:aws:ecs:::task-definition/svc-{i}:1" for i in range(n)],
    )


def test_a_state_that_fits_is_not_split(spec: MigrationSpec) -> None:
    assert state_parts.parts_of(large_state(spec, 3)) is None


def test_parts_come_back_whole_into_the_head(spec: MigrationSpec) -> None:
    state = large_state(spec)
    parts = state_parts.parts_of(state, part_bytes=2048)
    assert parts is not None
    head = state_parts.head_of(state)
    assert len(parts) > 1 and all(len(p) <= 2048 for p in parts)
    # The head is what the status query shows; the plan's steps and rollback weights stay whole.
    assert head.plan is not None and state.plan is not None
    assert len(plan_services(head.plan)) == PLAN_SERVICES_SHOWN
    assert len(head.plan.appmesh_resources) == PLAN_SERVICES_SHOWN
    assert len(head.provisioned) == PLAN_SERVICES_SHOWN
    assert head.plan.rollback_weights == state.plan.rollback_weights and head.plan.steps == state.plan.steps
    assert len(state.provisioned) == N, "the state itself is not changed"
    reference = state_parts.reference(state, parts, [f"holder-{i}" for i in range(len(parts))])
    assert reference.totals == StateTotals.of(state)
    # The head travels through the input; a message handled before the parts are read back stays.
    carried = MigrationInput.envelope({"name": "shop"}, head, parts=reference).model_dump(mode="json")
    again = MigrationInput.model_validate(carried)
    assert again.resume_parts == reference
    resumed = MigrationState.model_validate(again.resume_json)
    approval = Approval(
        gate=GateKind.RAMP,
        step=5,
        approver="alice",
        time=datetime(2026, 12, 7, tzinfo=UTC),
    )
    resumed.approvals.append(approval)
    state_parts.join(resumed, parts, reference)
    assert resumed.model_copy(update={"approvals": []}) == state
    assert resumed.approvals == [approval]


def test_parts_that_are_not_the_ones_written_are_refused_by_name(spec: MigrationSpec) -> None:
    state = large_state(spec)
    parts = state_parts.parts_of(state, part_bytes=2048)
    assert parts is not None
    head = state_parts.head_of(state)
    reference = state_parts.reference(state, parts, [f"holder-{i}" for i in range(len(parts))])
    with pytest.raises(ValueError, match=f"expected {len(parts)} parts, got {len(parts) - 1}"):
        state_parts.join(head.model_copy(deep=True), parts[:-1], reference)
    swapped = [parts[1], parts[0], *parts[2:]]
    with pytest.raises(ValueError, match=r"expected sha256 .* read from holder-0, holder-1"):
        state_parts.join(head.model_copy(deep=True), swapped, reference)


def test_a_malformed_parts_reference_is_refused_by_name() -> None:
    body = {"spec": {"name": "shop"}, "resume_parts": {"workflow_ids": [], "sha256": "x"}}
    with pytest.raises(
        ValueError, match=r"resume_parts: workflow_ids: .*at least 1 item.*; sha256: String should match"
    ):
        _ = MigrationInput.model_validate(body).resume_parts


def test_a_plan_without_services_lists_splits_too(spec: MigrationSpec) -> None:
    state = large_state(spec).model_copy(update={"plan": None})
    assert state_parts.parts_of(state, part_bytes=1024) is not None
    assert state_parts.head_of(state).plan is None
