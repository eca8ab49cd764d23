"""The `temporal` CLI commands in docs/driving.md work: the blocks marked `# tested: <step>` are run, in
order, against a dev server with a worker running the fake activities, and the migration progresses."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from temporalio.testing import WorkflowEnvironment

from meshshift.migration.state import MigrationStatus, Phase
from meshshift.workers.embedded_server import find_temporal_binary
from tests.operator.conftest import address_of
from tests.workflows.harness import gate_open, make_spec, running_worker, wait_for, world_for

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "driving.md"
DOC_WORKFLOW_ID = "mesh-migration-shop"
DOC_TASK_QUEUE = "mesh-migration"
STEPS = ["start", "query", "approve-update", "approve-signal", "pause-resume", "rollback", "list"]


def doc_blocks(text: str) -> dict[str, list[str]]:
    """``# tested: <step>`` bash blocks -> their `temporal` commands (backslash continuations joined)."""
    blocks: dict[str, list[str]] = {}
    for body in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines = body.replace("\\\n", " ").splitlines()
        marker = re.match(r"#\s*tested:\s*(\S+)", lines[0]) if lines else None
        if marker:
            blocks[marker.group(1)] = [line.strip() for line in lines[1:] if line.strip().startswith("temporal ")]
    return blocks


def localize(command: str, workflow_id: str, task_queue: str, spec_path: Path, address: str) -> list[str]:
    args = shlex.split(command)[1:]  # the binary itself is run by path
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == DOC_WORKFLOW_ID:
            arg = workflow_id
        elif arg == "spec.json":
            arg = str(spec_path)
        elif arg == DOC_TASK_QUEUE and i > 0 and args[i - 1] == "--task-queue":
            arg = task_queue
        elif "'MeshMigration'" in arg:
            arg = f"{arg} AND WorkflowId = '{workflow_id}'"
        out.append(arg)
    return [*out, "--address", address]


def test_doc_has_every_tested_step() -> None:
    blocks = doc_blocks(DOC.read_text())
    assert list(blocks) == STEPS
    assert all(blocks[step] for step in STEPS)


async def test_temporal_cli_commands_from_the_docs(
    env_local: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    binary = str(find_temporal_binary())
    wf_id = f"mesh-migration-doc-{uuid4().hex[:8]}"
    spec = make_spec(ramp={"approval": "required", "bake": "PT0S"})
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    world = world_for(spec)
    blocks = doc_blocks(DOC.read_text())
    handle = env_local.client.get_workflow_handle(wf_id)

    async def run(step: str) -> list[str]:
        outputs = []
        for command in blocks[step]:
            args = localize(command, wf_id, task_queue, spec_path, address_of(env_local))
            proc = await asyncio.create_subprocess_exec(
                binary, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, f"{step}: {shlex.join(args)}\n{out.decode()}\n{err.decode()}"
            outputs.append(out.decode())
        return outputs

    def events_accepted(kind: str) -> Callable[[MigrationStatus], bool]:
        return lambda s: any(e.kind == kind and e.accepted for e in s.events)

    async with running_worker(env_local, world, task_queue):
        await run("start")
        await wait_for(handle, gate_open(1), "the first gate")

        (queried,) = await run("query")
        assert '"ramping"' in queried and '"awaiting_approval"' in queried

        await run("approve-update")
        await wait_for(handle, gate_open(5), "the gate of step 5 (step 1 applied, zero bake)")

        await run("approve-signal")
        status = await wait_for(handle, gate_open(25), "the gate of step 25")
        assert status.green_weight == 5 and world.green_percent() == 5

        await run("pause-resume")
        status = await wait_for(handle, events_accepted("resume"), "pause then resume")
        assert events_accepted("pause")(status) and not status.paused

        await run("rollback")
        final = await wait_for(handle, lambda s: s.phase is Phase.ROLLED_BACK, "rolled back")
        assert final.green_weight == 0 and world.all_blue()
        assert [e.actor for e in final.events if e.kind == "approve" and e.accepted] == ["alice", "bob"]

        listed, described = await run("list")
        assert wf_id in listed and wf_id in described
