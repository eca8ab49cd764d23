"""Operator-surface helpers: the CLI through its real Typer app, a dev server, fake-activity workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from meshshift.migration.constants import workflow_id
from meshshift.workers.cli import app
from tests.workflows.fakes import FakeWorld
from tests.workflows.harness import make_spec, running_worker, world_for


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def address_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def cli(*args: str) -> CliResult:
    """Invoke the real ``meshshift`` Typer app. In a thread: each command runs its own event loop."""
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, app, list(args), catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


@dataclass
class Migration:
    """A spec on disk, its fake world and where its worker listens."""

    name: str
    spec: dict[str, Any]
    path: Path
    world: FakeWorld
    task_queue: str
    address: str

    def opts(self) -> list[str]:
        return ["--address", self.address]

    def start_opts(self) -> list[str]:
        return [*self.opts(), "--task-queue", self.task_queue]


def write_spec(tmp_path: Path, spec: dict[str, Any]) -> Path:
    path = tmp_path / f"{spec['name']}.json"
    path.write_text(json.dumps(spec, indent=2))
    return path


@pytest.fixture
async def migration(env_local: WorkflowEnvironment, task_queue: str, tmp_path: Path) -> AsyncIterator[Migration]:
    """An app with approval gates, alarms and a worker running the fake activities on the dev server."""
    name = f"shop-{uuid4().hex[:8]}"
    spec = make_spec(name=name, ramp={"approval": "required"}, approvers=["alice", "bob", "carol"])
    world = world_for(spec)
    async with running_worker(env_local, world, task_queue):
        yield Migration(name, spec, write_spec(tmp_path, spec), world, task_queue, address_of(env_local))
        # A migration left running would make later tests' alarm routing wait on a query nobody answers.
        handle = env_local.client.get_workflow_handle(workflow_id(name))
        with contextlib.suppress(RPCError):
            if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test ended")
