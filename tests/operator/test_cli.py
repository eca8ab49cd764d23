"""The CLI client through its real Typer app against a dev server and a worker with fake activities."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from temporalio.testing import WorkflowEnvironment

from meshshift.migration.constants import WORKFLOW_TASK_TIMEOUT, workflow_id
from meshshift.migration.state import MigrationStatus, Phase, RollbackPayload
from meshshift.workers.connection import TemporalSettings
from meshshift.workers.progress import follow
from tests.operator.conftest import Migration, cli
from tests.workflows.harness import gate_open, wait_for

pytestmark = pytest.mark.integration


async def test_start_duplicate_status_approve_rollback_history(
    env_local: WorkflowEnvironment, migration: Migration
) -> None:
    m = migration
    started = await cli("start", str(m.path), *m.start_opts(), "--ui-url", "http://ui.example:8233")
    assert started.exit_code == 0, started.text
    wf_id = workflow_id(m.name)
    assert wf_id in started.stdout
    assert f"http://ui.example:8233/namespaces/default/workflows/{wf_id}" in started.stdout

    again = await cli("start", str(m.path), *m.start_opts())
    assert again.exit_code == 1
    assert "already running" in again.stderr and wf_id in again.stderr

    handle = env_local.client.get_workflow_handle(wf_id)
    await wait_for(handle, gate_open(1), "the first gate")
    # Long enough to replay a large migration's history after a worker restart.
    config = (await handle.describe()).raw_description.execution_config
    assert config.default_workflow_task_timeout.ToTimedelta() == WORKFLOW_TASK_TIMEOUT

    status = await cli("status", m.name, *m.opts())
    assert status.exit_code == 0, status.text
    assert "phase ramping" in status.stdout
    assert f"meshshift approve {m.name} --step 1" in status.stdout

    as_json = await cli("status", m.name, "--json", *m.opts())
    parsed = MigrationStatus.model_validate(json.loads(as_json.stdout))
    assert parsed.awaiting_approval is not None and parsed.awaiting_approval.step == 1
    assert parsed.alarms == m.spec["alarms"]

    refused = await cli("approve", m.name, "--as", "mallory", *m.opts())
    assert refused.exit_code == 1
    assert "refused" in refused.stderr and "'mallory' is not an approver" in refused.stderr

    own = await cli("approve", m.name, "--as", "carol", *m.opts())
    assert own.exit_code == 1 and "two-person rule" in own.stderr

    wrong_step = await cli("approve", m.name, "--as", "alice", "--step", "5", *m.opts())
    assert wrong_step.exit_code == 1 and "future step" in wrong_step.stderr

    accepted = await cli("approve", m.name, "--as", "alice", "--step", "1", "--comment", "looks good", *m.opts())
    assert accepted.exit_code == 0, accepted.text
    assert "accepted" in accepted.stdout

    await wait_for(handle, lambda s: s.green_weight == 1, "step 1 applied")

    rolled = await cli("rollback", m.name, "--as", "bob", "--reason", "p99 looks off", *m.opts())
    assert rolled.exit_code == 0, rolled.text
    final = await wait_for(handle, lambda s: s.phase is Phase.ROLLED_BACK, "rolled back")
    assert final.green_weight == 0 and m.world.all_blue()

    history = await cli("history", m.name, *m.opts())
    assert history.exit_code == 0, history.text
    for text in ("mallory", "not an approver", "alice", "bob", "p99 looks off"):
        assert text in history.stdout

    history_json = await cli("history", m.name, "--json", *m.opts())
    events = json.loads(history_json.stdout)
    assert any(e["actor"] == "mallory" and not e["accepted"] for e in events)

    ended = await cli("approve", m.name, "--as", "alice", *m.opts())
    assert ended.exit_code == 1 and "not running" in ended.stderr

    listed = await cli("list", "--all", "--json", *m.opts())
    assert listed.exit_code == 0, listed.text
    assert any(row["workflow_id"] == wf_id for row in json.loads(listed.stdout))


async def test_pause_resume_and_reject(env_local: WorkflowEnvironment, migration: Migration) -> None:
    m = migration
    assert (await cli("start", str(m.path), *m.start_opts())).exit_code == 0
    handle = env_local.client.get_workflow_handle(workflow_id(m.name))
    await wait_for(handle, gate_open(1), "the first gate")

    paused = await cli("pause", m.name, "--as", "dave", "--reason", "lunch", *m.opts())
    assert paused.exit_code == 0, paused.text
    twice = await cli("pause", m.name, "--as", "dave", *m.opts())
    assert twice.exit_code == 1 and "already paused" in twice.stderr
    approve_while_paused = await cli("approve", m.name, "--as", "alice", *m.opts())
    assert approve_while_paused.exit_code == 1 and "paused" in approve_while_paused.stderr
    not_allowed = await cli("resume", m.name, "--as", "dave", *m.opts())
    assert not_allowed.exit_code == 1 and "may not resume" in not_allowed.stderr
    assert (await cli("resume", m.name, "--as", "carol", *m.opts())).exit_code == 0

    rejected = await cli("reject", m.name, "--as", "bob", "--reason", "not today", *m.opts())
    assert rejected.exit_code == 0, rejected.text
    await wait_for(handle, lambda s: s.phase is Phase.ROLLED_BACK, "rolled back")
    closed = await cli("status", m.name, *m.opts())
    assert closed.exit_code == 0 and "rolled_back" in closed.stdout


async def test_errors_are_one_line(env_local: WorkflowEnvironment, tmp_path: Path, migration: Migration) -> None:
    missing = await cli("status", "no-such-app", *migration.opts())
    assert missing.exit_code == 1 and "no migration named 'no-such-app'" in missing.stderr

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**migration.spec, "ramp": {"steps": [50, 5]}}))
    invalid = await cli("start", str(bad), *migration.start_opts())
    assert invalid.exit_code == 1 and "ramp.steps" in invalid.stderr and "Nothing was started" in invalid.stderr


def test_real_entry_point_unreachable_server_and_help() -> None:
    """The installed console script: a clear one-line error, no traceback, when Temporal is not there."""
    exe = Path(sys.executable).parent / "meshshift"
    done = subprocess.run(
        [str(exe), "status", "shop", "--address", "127.0.0.1:9"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "cannot reach Temporal at 127.0.0.1:9" in done.stderr and "meshshift server" in done.stderr
    assert "Traceback" not in done.stderr


async def test_every_command_has_help() -> None:
    commands = (
        "start",
        "plan",
        "status",
        "watch",
        "approve",
        "reject",
        "rollback",
        "pause",
        "resume",
        "list",
        "history",
    )
    for command in commands:
        helped = await cli(command, "--help")
        assert helped.exit_code == 0, (command, helped.text)
        assert "not built yet" not in helped.stdout


def test_settings_never_show_the_api_key() -> None:
    settings = TemporalSettings.model_validate({"api_key": "very-secret", "address": "x:1"})
    assert "very-secret" not in repr(settings) and "very-secret" not in settings.describe()
    assert settings.tls_config() is True  # an API key is only ever sent over TLS


async def test_watch_follows_until_terminal(env_local: WorkflowEnvironment, migration: Migration) -> None:
    m = migration
    assert (await cli("start", str(m.path), *m.start_opts())).exit_code == 0
    handle = env_local.client.get_workflow_handle(workflow_id(m.name))
    await wait_for(handle, gate_open(1), "the first gate")

    watching = asyncio.create_task(cli("watch", m.name, "--interval", "0.05", *m.opts()))
    # Not through `cli`: CliRunner swaps the process's stdout, so two invocations cannot overlap.
    await wait_for(handle, lambda s: True, "status")
    await handle.signal("rollback", RollbackPayload(requested_by="bob", reason="watch test"))
    watched = await asyncio.wait_for(watching, 60)
    assert watched.exit_code == 0, watched.text
    assert "rolled_back" in watched.stdout
    assert "watch test" in watched.stdout  # events are printed as they happen

    buffer = io.StringIO()
    final = await follow(handle, Console(file=buffer, width=120), poll_interval=0.05)
    assert final.phase is Phase.ROLLED_BACK  # a closed migration returns at once, from its result
