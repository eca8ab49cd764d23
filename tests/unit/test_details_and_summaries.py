"""What the Temporal Web UI shows: the workflow's current details (migration/details.py) and the
one-line summary of each activity call (migration/summaries.py)."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta

import pytest

from meshshift.migration import contracts
from meshshift.migration.details import approve_commands, current_details, span
from meshshift.migration.loading import validate_spec
from meshshift.migration.plan import build_plan, shifter_id
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.state import (
    ApprovePayload,
    AuditEvent,
    AwaitingApproval,
    Countdown,
    GateKind,
    MigrationState,
    Phase,
    RollbackRecord,
    RollbackTrigger,
)
from meshshift.migration.summaries import MAX_SUMMARY, activity_summary, green_percent
from tests.unit.specdata import shop
from tests.unit.test_plan import discovery

T0 = datetime(2026, 5, 1, 3, 12, 9, tzinfo=UTC)


@pytest.fixture
def spec() -> MigrationSpec:
    return validate_spec(shop())


def reading(weights: contracts.ShifterWeights) -> contracts.ShifterReading:
    return contracts.ShifterReading(
        shifter_id=weights.shifter_id,
        mechanism=weights.mechanism,
        blue=weights.blue,
        green=weights.green,
        promoted=weights.promoted,
        green_percent=green_percent(weights),
    )


def ramping_at(spec: MigrationSpec, percent: int) -> MigrationState:
    plan = build_plan(spec, discovery())
    step = next(s for s in plan.steps if s.percent == percent)
    state = MigrationState(app=spec.name, phase=Phase.RAMPING, green_weight=percent, plan=plan)
    state.step_index = plan.steps.index(step)
    state.weights = {w.shifter_id: reading(w) for w in step.weights}
    return state


# --- current details ------------------------------------------------------------------------------


def test_details_show_phase_and_the_weights_of_every_shifter(spec: MigrationSpec) -> None:
    state = ramping_at(spec, 25)
    text = current_details(state, spec)
    assert text.splitlines()[0].startswith("**shop**: phase **ramping**, green 25%")
    for edge in spec.edge:
        assert f"`{shifter_id(edge)}`: 25% green" in text
    assert "ALB listener" in text and "Route 53 record" in text
    assert "Waiting for approval" not in text and "Last refusal" not in text


def test_an_open_gate_shows_both_approve_commands_with_the_real_names(spec: MigrationSpec) -> None:
    state = ramping_at(spec, 25)
    state.awaiting_approval = AwaitingApproval(step=50, since=T0, gate=GateKind.RAMP)
    state.countdown = Countdown.starting("approval", timedelta(hours=24), T0)
    text = current_details(state, spec)
    assert "**Waiting for approval** of ramp step 50% green since 2026-05-01 03:12:09 UTC" in text
    assert "Approvers: alice, bob." in text  # carol requested it: the two-person rule leaves her out
    assert "`meshshift approve shop --step 50 --as <approver>`" in text
    assert "**Countdown:** approval timeout ends at 2026-05-02 03:12:09 UTC (24h 00m 00s left of 24h 00m 00s)" in text


def test_the_temporal_cli_command_carries_a_payload_the_workflow_accepts() -> None:
    gate = AwaitingApproval(step=50, since=T0)
    meshshift, temporal = approve_commands("shop", gate, approver="alice")
    argv = shlex.split(temporal)
    assert argv[:4] == ["temporal", "workflow", "update", "execute"]
    assert argv[argv.index("--workflow-id") + 1] == "mesh-migration-shop"
    assert argv[argv.index("--name") + 1] == "approve_update"
    payload = ApprovePayload.model_validate(json.loads(argv[argv.index("--input") + 1]))
    assert payload == ApprovePayload(approver="alice", step=50)
    assert shlex.split(meshshift) == ["meshshift", "approve", "shop", "--step", "50", "--as", "alice"]


def test_a_paused_countdown_shows_what_is_left_and_the_last_refusal(spec: MigrationSpec) -> None:
    state = ramping_at(spec, 5)
    state.paused = True
    state.countdown = Countdown(purpose="bake", total=timedelta(minutes=10), remaining=timedelta(minutes=4, seconds=5))
    state.events = [
        AuditEvent(
            time=T0,
            actor="mallory",
            kind="approve",
            detail="approve (update) refused",
            accepted=False,
            reason="'mallory' is not an approver",
        ),
        AuditEvent(time=T0 + timedelta(seconds=1), actor="meshshift", kind="phase", detail="ramping"),
    ]
    text = current_details(state, spec)
    assert "**paused**" in text
    assert "**Countdown:** bake, paused with 4m 05s left of 10m 00s" in text
    assert "**Last refusal:** approve from mallory at 2026-05-01 03:12:09 UTC: 'mallory' is not an approver" in text


def test_a_rollback_and_an_error_are_shown(spec: MigrationSpec) -> None:
    state = ramping_at(spec, 50)
    state.phase = Phase.ROLLING_BACK
    state.rollback = RollbackRecord(
        trigger=RollbackTrigger.ALARM,
        actor="meshshift:alarm-poll",
        reason="alarm shop-green-5xx",
        requested_at=T0,
        started=T0,
    )
    text = current_details(state, spec)
    assert "**Rollback** (alarm by meshshift:alarm-poll, in progress): alarm shop-green-5xx" in text


def test_details_render_without_a_valid_spec() -> None:
    state = MigrationState(app="broken", phase=Phase.FAILED, error="spec invalid: name is missing")
    state.awaiting_approval = AwaitingApproval(step=100, since=T0, gate=GateKind.DECOMMISSION)
    text = current_details(state, None)
    assert "the decommission of blue" in text and "--step 100" in text
    assert "**Error:** spec invalid: name is missing" in text


def test_span_reads_like_a_clock() -> None:
    assert [span(timedelta(seconds=s)) for s in (0, 59, 61, 3723, -5)] == ["0s", "59s", "1m 01s", "1h 02m 03s", "0s"]


# --- activity summaries ---------------------------------------------------------------------------


def test_a_weight_write_says_which_shifters_go_to_which_percent(spec: MigrationSpec) -> None:
    plan = build_plan(spec, discovery())
    edges = {shifter_id(e): e for e in spec.edge}
    step = next(s for s in plan.steps if s.percent == 25)
    arg = contracts.SetEdgeWeightsInput(
        aws=contracts.AwsContext(),
        targets=[contracts.ShifterTarget(edge=edges[w.shifter_id], weights=w) for w in step.weights],
    )
    assert activity_summary("set_edge_weights", arg) == "ALB listener, Route 53 record → 25% green"
    rollback = contracts.SetEdgeWeightsInput(
        aws=contracts.AwsContext(),
        targets=[contracts.ShifterTarget(edge=edges[w.shifter_id], weights=w) for w in plan.rollback_weights],
    )
    assert (
        activity_summary("set_edge_weights", rollback, compensation=True)
        == "rollback: ALB listener, Route 53 record → 0% green"
    )


def test_cloudfront_weights_read_as_a_share_of_traffic() -> None:
    staging = contracts.ShifterWeights(shifter_id="cf", mechanism="cloudfront", blue=0.95, green=0.05)
    promoted = contracts.ShifterWeights(shifter_id="cf", mechanism="cloudfront", blue=0.85, green=0.15, promoted=True)
    assert (green_percent(staging), green_percent(promoted)) == (5.0, 100.0)


def test_discovery_counts_the_services_to_discover(spec: MigrationSpec) -> None:
    summary = activity_summary("discover_blue", contracts.DiscoverInput(aws=contracts.AwsContext(), spec=spec))
    assert summary == "discover blue: 3 services + 1 async worker in mesh shop-mesh"


def test_every_activity_the_workflow_calls_has_a_summary_of_its_own() -> None:
    from meshshift.migration import summaries

    defined = {
        d.name
        for d in vars(contracts).values()
        if isinstance(d, contracts.ActivityDef) and d is not contracts.REGISTERED_SEARCH_ATTRIBUTES
    }
    assert defined - set(summaries.SUMMARIES) == set()


def test_a_summary_never_carries_a_health_url_and_is_one_short_line(spec: MigrationSpec) -> None:
    secret = "https://green.internal/health?token=s3cr3t"
    health = spec.health.model_copy(update={"urls": [secret]})
    summary = activity_summary("deep_health_check", contracts.DeepHealthInput(health=health))
    assert summary == "deep health: 1 URL" and "s3cr3t" not in summary
    long = contracts.PollAlarmsInput(aws=contracts.AwsContext(), alarm_names=["x" * 300])
    assert len(activity_summary("poll_alarms", long)) == MAX_SUMMARY


def test_a_summary_refuses_the_wrong_input_type() -> None:
    with pytest.raises(TypeError, match="set_edge_weights: expected SetEdgeWeightsInput, got PollAlarmsInput"):
        activity_summary("set_edge_weights", contracts.PollAlarmsInput(aws=contracts.AwsContext(), alarm_names=[]))


def test_paged_discovery_summaries_count_the_page() -> None:
    spec = validate_spec(shop())
    refs = [
        contracts.BlueServiceRef(cluster="shop", name="frontend"),
        contracts.BlueServiceRef(cluster="shop", name="order-worker", async_worker=True),
    ]
    page = contracts.DiscoverServicesInput(aws=contracts.AwsContext(), services=refs)
    assert (
        activity_summary("discover_blue_services", page)
        == "discover blue: 1 service + 1 async worker (frontend .. order-worker)"
    )
    mesh = activity_summary("discover_blue_mesh", contracts.DiscoverInput(aws=contracts.AwsContext(), spec=spec))
    assert mesh.startswith("discover blue: App Mesh ") and "edge shifter" in mesh
