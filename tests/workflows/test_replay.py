"""Replay the stored histories: a workflow change that alters the commands of a running migration
fails here (ship such a change behind ``workflow.patched()``; see tests/histories/regenerate.py)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from meshshift.workflows.migration import MeshMigration
from meshshift.workflows.sandbox import workflow_runner
from tests.histories.regenerate import large_sizes

HISTORIES = Path(__file__).parent.parent / "histories"


# The current histories, plus those recorded before each workflow.patched() change (``*_v1``...),
# so that both sides of every patch stay covered.
NAMES = sorted(p.stem for p in HISTORIES.glob("*.json"))


def test_both_sides_of_the_patches_are_stored() -> None:
    assert {
        "happy_path",
        "rollback",
        "large",
        "large_parts",
        "large_parts_resumed",
        "happy_path_v1",
        "rollback_v1",
        "rollback_v2",
        "rollback_v3",
        "rollback_v4",
        "large_v1",
    } <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
async def test_stored_history_replays(name: str) -> None:
    path = HISTORIES / f"{name}.json"
    history = WorkflowHistory.from_json(f"mesh-migration-replay-{name}", path.read_text())
    replayer = Replayer(
        workflows=[MeshMigration], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    # The large history was recorded with smaller planning steps and batches (see regenerate.py).
    with large_sizes() if name.startswith("large") else nullcontext():
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure!r}"
    assert len(history.events) > 50
