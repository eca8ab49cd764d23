"""The status renderer: what `meshshift status` and `watch` show for a given status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from rich.console import Console
from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError

from meshshift.migration.contracts import ShifterReading
from meshshift.migration.state import (
    AuditEvent,
    AwaitingApproval,
    Countdown,
    MigrationStatus,
    Phase,
    RollbackInfo,
    StepStage,
)
from meshshift.workers.progress import StatusView, approve_command, follow, format_duration, render_status

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def a_status(**changes: object) -> MigrationStatus:
    base = MigrationStatus(
        phase=Phase.RAMPING,
        paused=False,
        green_weight=5,
        awaiting_approval=AwaitingApproval(step=25, since=NOW - timedelta(minutes=3)),
        events=[
            AuditEvent(time=NOW, actor="alice", kind="approve", detail="approve (update): approved step 5"),
            AuditEvent(
                time=NOW,
                actor="mallory",
                kind="approve",
                detail="approve (signal) refused",
                accepted=False,
                reason="'mallory' is not an approver",
            ),
        ],
        app="shop",
        step_index=2,
        step_stage=StepStage.GATE,
        steps=[1, 5, 25, 50, 100],
        weights={"alb:x": ShifterReading(shifter_id="alb:x", mechanism="alb", blue=949, green=50, green_percent=5.0)},
        countdown=Countdown(
            purpose="approval",
            total=timedelta(hours=24),
            remaining=timedelta(hours=23),
            ends_at=NOW + timedelta(hours=23, minutes=57),
        ),
        rollback_possible=True,
        rollback=RollbackInfo(possible=True, message="a rollback returns every shifter to 100% blue"),
    )
    return base.model_copy(update=changes)


def text_of(renderable: object) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_status_shows_phase_ramp_gate_countdown_and_events() -> None:
    out = text_of(StatusView(a_status(), clock=lambda: NOW))
    assert "phase ramping" in out
    assert "5%" in out and "[1%]" in out and "[5%]" in out and "<25%>" in out
    assert "alb:x" in out
    assert "approval window: 23h57m00s of 24h00m00s left" in out
    assert "meshshift approve shop --step 25 --as <approver>" in out
    assert "REFUSED" in out and "'mallory' is not an approver" in out


def test_paused_countdown_shows_remaining() -> None:
    status = a_status(
        paused=True,
        awaiting_approval=None,
        countdown=Countdown(purpose="bake", total=timedelta(minutes=10), remaining=timedelta(minutes=4), ends_at=None),
    )
    out = text_of(render_status(status))
    assert "PAUSED" in out
    assert "bake: 4m00s of 10m00s left (paused)" in out
    assert approve_command(status) is None


def test_format_duration_never_negative() -> None:
    assert format_duration(timedelta(seconds=-5)) == "0s"
    assert format_duration(timedelta(seconds=65)) == "1m05s"


class ScriptedHandle:
    """A running migration's handle whose status query answers from a script: a status, or an error."""

    id = "mesh-migration-shop"

    def __init__(self, answers: list[MigrationStatus | Exception]) -> None:
        self.answers = answers

    async def describe(self) -> SimpleNamespace:
        return SimpleNamespace(status=WorkflowExecutionStatus.RUNNING)

    async def query(self, *_args: object, **_kwargs: object) -> MigrationStatus:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_watch_says_a_lasting_query_failure_once_and_a_new_one_again() -> None:
    lasting = [WorkflowQueryFailedError("[TMPRL1100] Nondeterminism error: lasting") for _ in range(5)]
    handle = ScriptedHandle(
        [a_status(), *lasting, a_status(), WorkflowQueryFailedError("boom"), a_status(phase=Phase.ROLLED_BACK)]
    )
    console = Console(record=True, width=400, color_system=None)
    final = await follow(cast(Any, handle), console, poll_interval=0)
    out = console.export_text()
    assert final.phase is Phase.ROLLED_BACK
    assert out.count("the workers cannot replay the history of mesh-migration-shop") == 1
    assert out.count("failed in the worker (boom)") == 1
