"""Bad input: fuzzed specs never touch AWS, fuzzed signals and updates never change a migration.

1. Specs: hypothesis generates specs (the shop example with knobs broken at random, plus
   arbitrary JSON values planted anywhere). Every one goes through ``validate_spec``, the code
   path the workflow itself runs first; a sample of the refused ones is then started as real
   workflows on a dev server, against a worker with the REAL activities and boto3 pointed at the
   simulated AWS, with a counter on every AWS call: each must fail with ``InvalidSpec`` and the
   counter must stay at zero.
2. Messages: hypothesis generates invalid approve/reject/alarm/rollback/pause/resume payloads
   (malformed JSON shapes and well-formed but forbidden ones). They are sent as signals and as
   updates to migrations waiting at a gate (time-skipping server, fake AWS world): none may fail
   the workflow or change its state, and each must leave exactly one refusal in the audit trail.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.migration.constants import WORKFLOW_TYPE
from meshshift.migration.errors import SpecError
from meshshift.migration.loading import validate_spec
from meshshift.migration.state import Command, Phase, parse_payload
from meshshift.workers.embedded_server import EmbeddedServer
from meshshift.workers.worker import activity_thread_pool, build_worker
from tests.reliability import figures
from tests.unit.test_spec_fuzz import specs
from tests.workflows.harness import gate_open, make_spec, running_worker, start, wait_for, world_for

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
SECTIONS = ["name", "region", "blue", "green", "edge", "health", "ramp", "analysis", "alarms", "drain",
            "async_workers", "decommission", "rate_limits", "approvers", "requested_by", "dry_run"]  # fmt: skip


@st.composite
def fuzzed_specs(draw: st.DrawFn) -> Any:
    """Mostly the knob-breaking generator of the unit tests; sometimes any JSON planted in a section."""
    data = draw(specs())
    if draw(st.integers(0, 2)) == 0:
        section = draw(st.sampled_from(SECTIONS))
        if isinstance(data.get(section), dict) and draw(st.booleans()):
            data[section][draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        else:
            data[section] = draw(json_values)
    if draw(st.integers(0, 30)) == 0:
        return draw(json_values)  # not even an object
    return data


def collect(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """Values drawn by hypothesis (shrinking off: this only gathers inputs for async tests)."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[settings.default.phases[2]],  # generate only
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def gather(value: Any) -> None:
        drawn.append(value)

    gather()
    return drawn


class CallCounter:
    """A botocore ``before-call`` hook: counts every AWS API call the activities make."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls[getattr(model, "name", "?")] += 1


@pytest.mark.integration
async def test_invalid_specs_fail_with_invalid_spec_and_make_no_aws_call(
    dev_server: EmbeddedServer, aws_server_env: str
) -> None:
    cases = collect(fuzzed_specs(), max(1000, 100 * figures.chaos_runs(10)))
    refused: list[Any] = []
    accepted = 0
    for case in cases:
        try:
            validate_spec(case)
            accepted += 1
        except SpecError as err:
            assert err.problems and all(p.path is not None and p.message for p in err.problems)
            refused.append(case)
    assert len(refused) > 100, "the generator must produce plenty of invalid specs"

    counter = CallCounter()
    client = await Client.connect(dev_server.address, data_converter=pydantic_data_converter)
    queue = f"bad-specs-{uuid4()}"
    objects = [case for case in refused if isinstance(case, dict)]  # non-objects: their own test below
    sample = random.Random(len(cases)).sample(objects, min(30, len(objects)))
    with activity_thread_pool(8) as pool:
        worker = build_worker(client, queue, AwsClients(hooks=[("before-call", counter)]), 8, activity_executor=pool)
        async with worker:

            async def start_one(i: int, body: Any) -> str:
                handle = await client.start_workflow(WORKFLOW_TYPE, body, id=f"{queue}-{i}", task_queue=queue)
                with pytest.raises(WorkflowFailureError) as failed:
                    await handle.result()
                cause = failed.value.cause
                assert isinstance(cause, ApplicationError) and cause.type == "InvalidSpec", cause
                assert "nothing was changed in AWS" in str(cause)
                return str(cause)

            await asyncio.gather(*(start_one(i, body) for i, body in enumerate(sample)))
    assert sum(counter.calls.values()) == 0, f"AWS calls made for invalid specs: {dict(counter.calls)}"
    figures.record(
        "bad_specs",
        specs_generated=len(cases),
        refused=len(refused),
        accepted=accepted,
        started_as_workflows=len(sample),
        aws_calls_for_invalid_specs=0,
        violations=0,
    )


@pytest.mark.integration
async def test_a_spec_that_is_not_an_object_fails_the_workflow(dev_client: Client) -> None:
    queue = f"not-object-{uuid4()}"
    world = world_for(make_spec())
    env = WorkflowEnvironment.from_client(dev_client)
    async with running_worker(env, world, queue):
        handle = await dev_client.start_workflow(WORKFLOW_TYPE, ["not", "a", "spec"], id=queue, task_queue=queue)
        try:
            await asyncio.wait_for(handle.result(), 8)
        except WorkflowFailureError as failed:
            assert getattr(failed.cause, "type", None) == "InvalidSpec"
            return
        except TimeoutError:
            await handle.terminate("still running: the known bug")
            raise AssertionError("the workflow is still running after 8 s") from None
    assert sum(world.calls.values()) == 0


# --- signals and updates -----------------------------------------------------------------------

SPEC = make_spec(
    ramp={"steps": [10, 100], "bake": "PT10M", "approval": "required", "approval_timeout": "PT24H"},
    approvers=["alice", "bob", "carol"],
    requested_by="carol",
)
COMMANDS = ["approve", "reject", "alarm", "rollback", "pause", "resume"]
strangers = st.sampled_from(["mallory", "", "ALICE", "alice ", "root", "carol"])


def invalid_payloads(command: str) -> st.SearchStrategy[Any]:
    """Payloads that must be refused while the migration waits, unpaused, at the gate for step 10."""
    malformed = st.one_of(
        # JSON null has its own test below (test_a_null_signal_payload_is_refused_and_audited).
        json_values.filter(lambda v: not isinstance(v, dict) and v is not None),
        st.dictionaries(
            st.sampled_from(["approver", "step", "x", "reason", "requested_by", "alarm_name"]), json_values
        ),
    ).filter(lambda v: isinstance(parse_payload(Command(command), v), str))
    forbidden = {
        "approve": st.one_of(
            st.fixed_dictionaries({"approver": strangers.filter(lambda a: a not in ("carol",)) | st.just("carol")}),
            st.fixed_dictionaries(
                {"approver": st.sampled_from(["alice", "bob"]), "step": st.integers().filter(lambda s: s != 10)}
            ),
        ),
        "reject": st.fixed_dictionaries(
            {"approver": strangers.filter(lambda a: a != "carol"), "reason": st.just("no")}
        ),
        "alarm": st.one_of(
            st.fixed_dictionaries(
                {"alarm_name": st.text(min_size=1, max_size=10).filter(lambda n: not n.startswith("shop"))}
            ),
            st.fixed_dictionaries(
                {
                    "alarm_name": st.just("shop-green-5xx"),
                    "state": st.sampled_from(["OK", "INSUFFICIENT_DATA", "alarm"]),
                }
            ),
        ),
        "rollback": st.fixed_dictionaries({"requested_by": st.just(""), "reason": st.text(max_size=5)}),
        "pause": st.fixed_dictionaries({"requested_by": st.just("")}),
        "resume": st.fixed_dictionaries({"requested_by": st.sampled_from(["alice", "mallory", "bob"])}),
    }[command]
    return st.one_of(malformed, forbidden)


@st.composite
def invalid_messages(draw: st.DrawFn) -> tuple[str, Any, str]:
    command = draw(st.sampled_from(COMMANDS))
    payload = draw(invalid_payloads(command))
    approver_ok = command == "approve" and isinstance(payload, dict) and payload.get("approver") in ("alice", "bob")
    # Only a wrong step makes alice's or bob's approval invalid here.
    if approver_ok and (payload.get("step") in (None, 10) or isinstance(payload.get("step"), bool)):
        payload["step"] = 11
    # Alarms arrive from the alarm bridge as signals only (there is no alarm update).
    via = "signal" if command == "alarm" else draw(st.sampled_from(["signal", "update"]))
    return command, payload, via


async def test_invalid_signals_and_updates_change_nothing_and_are_audited(
    env_timeskipping: WorkflowEnvironment, task_queue: str
) -> None:
    total = max(1000, 100 * figures.chaos_runs(10))
    messages = collect(invalid_messages(), total)
    world = world_for(SPEC)
    per_workflow = 600  # well under the 2,000 updates a history allows
    sent = Counter[str]()
    updates_in_flight = asyncio.Semaphore(8)
    async with running_worker(env_timeskipping, world, task_queue):
        for offset in range(0, len(messages), per_workflow):
            batch = messages[offset : offset + per_workflow]
            handle = await start(env_timeskipping, task_queue, SPEC)
            before = await wait_for(handle, gate_open(10), "the first gate")
            refusals_before = sum(1 for e in before.events if not e.accepted)
            calls_before = sum(world.calls.values())

            async def send(handle: Any, command: str, payload: Any, via: str) -> None:
                if via == "signal":
                    await handle.signal(command, payload)
                    return
                # A workflow takes at most 10 updates in flight; more are refused by the server.
                async with updates_in_flight:
                    with pytest.raises(WorkflowUpdateFailedError) as refused:
                        await handle.execute_update(f"{command}_update", payload)
                assert getattr(refused.value.cause, "type", None) == "Refused", (command, payload, refused.value)

            for start_at in range(0, len(batch), 50):
                await asyncio.gather(*(send(handle, *m) for m in batch[start_at : start_at + 50]))
            sent.update(via for _, _, via in batch)
            expected = refusals_before + len(batch)
            after = await wait_for(
                handle, lambda s, n=expected: sum(1 for e in s.events if not e.accepted) >= n, "every refusal audited"
            )
            refusals = [e for e in after.events if not e.accepted]
            assert len(refusals) == refusals_before + len(batch), "one audit entry per refused message"
            assert all(e.reason for e in refusals), "every refusal says why"
            accepted_after = [e for e in after.events if e.accepted]
            assert accepted_after == [e for e in before.events if e.accepted], "an invalid message changed state"
            assert after.phase is Phase.RAMPING and not after.paused and after.green_weight == 0
            assert after.awaiting_approval == before.awaiting_approval
            assert sum(world.calls.values()) - calls_before <= world.calls["poll_alarms"], "no AWS change"
            await handle.terminate("fuzzing done")
    assert not world.blocks
    figures.record(
        "bad_messages",
        messages=len(messages),
        by_signal=sent["signal"],
        by_update=sent["update"],
        workflows=-(-len(messages) // per_workflow),
        refusals_audited=len(messages),
        state_changes=0,
        violations=0,
    )


async def test_a_null_signal_payload_is_refused_and_audited(
    env_timeskipping: WorkflowEnvironment, task_queue: str
) -> None:
    world = world_for(SPEC)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, SPEC)
        before = await wait_for(handle, gate_open(10), "the first gate")
        await handle.signal("pause", None)
        try:
            after = await wait_for(
                handle, lambda s: len(s.events) > len(before.events), "the refusal of the null payload", limit=5
            )
        finally:
            await handle.terminate("null payload test done")
        assert not after.events[-1].accepted and not after.paused
