"""Security: who may approve, which alarms are believed, and where secrets never go.

- The approver allow-list and the two-person rule hold for signals and updates alike.
- The alarm bridge refuses forged, unsigned, stale and wrong-topic SNS messages (really signed
  test messages, tests/sns_signing.py), and signals nothing for them.
- Secrets planted in the worker's environment (AWS secret key and session token, a Temporal API
  key, an application password) appear in no workflow history, no worker log line and no
  exported span, after a full migration against the simulated AWS.
- Every AWS action the activities called is granted by docs/iam-policy.json (the session-end
  IAM check of tests/iam_check.py sees these calls too), and every resource they touched in the
  in-process worker's migration is inside that spec's generated least-privilege policy
  (``meshshift iam-policy``, checked at session end).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.migration.state import ApprovePayload, ResumePayload
from meshshift.workers.embedded_server import EmbeddedServer
from meshshift.workers.telemetry import traced_workflow_runner, tracing_interceptors
from meshshift.workers.worker import activity_methods, activity_objects, paired_worker
from meshshift.workflows.migration import MeshMigration
from tests import iam_recorder
from tests.iam_check import compare, direct_actions, load_policy
from tests.iam_scope import generated_policy
from tests.reliability import figures, stack
from tests.reliability.stack import Approver, WorkerProcess
from tests.sns_signing import RecordingRouter, SnsTestAuthority, make_bridge
from tests.workflows.harness import gate_open, make_spec, running_worker, start, wait_for, world_for

# --- approvers ----------------------------------------------------------------------------------

SPEC = make_spec(
    ramp={"steps": [10, 100], "bake": "PT1M", "approval": "required", "approval_timeout": "PT24H"},
    approvers=["alice", "bob", "carol"],
    requested_by="carol",
    two_person_rule=True,
)


async def test_allow_list_and_two_person_rule_hold_for_signals_and_updates(
    env_timeskipping: WorkflowEnvironment, task_queue: str
) -> None:
    world = world_for(SPEC)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, SPEC)
        await wait_for(handle, gate_open(10), "the first gate")
        attempts = [("mallory", "not an approver"), ("carol", "two-person rule"), ("Alice", "not an approver")]
        for who, why in attempts:
            await handle.signal("approve", ApprovePayload(approver=who, step=10))
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update("approve_update", ApprovePayload(approver=who, step=10))
            assert why in str(refused.value.cause), refused.value.cause
        await handle.signal("pause", {"requested_by": "mallory", "reason": "anyone may pause"})
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("resume_update", ResumePayload(requested_by="mallory"))
        assert "'mallory' may not resume" in str(refused.value.cause), refused.value.cause
        await handle.signal("resume", ResumePayload(requested_by="mallory"))
        await handle.signal("reject", {"approver": "mallory", "reason": "not allowed to reject"})
        status = await wait_for(
            handle, lambda s: sum(1 for e in s.events if not e.accepted) >= 9, "every refusal audited"
        )
        assert status.awaiting_approval is not None and status.green_weight == 0 and status.paused
        refused = [e for e in status.events if not e.accepted]
        assert {e.actor for e in refused} == {"mallory", "carol", "Alice"}
        assert all(e.reason for e in refused)
        await handle.execute_update("resume_update", ResumePayload(requested_by="alice"))
        await handle.execute_update("approve_update", ApprovePayload(approver="bob", step=10))
        passed = await wait_for(handle, lambda s: s.green_weight == 10, "bob's approval applied")
        assert [e.actor for e in passed.events if e.kind == "gate_passed"] == ["bob"]
        await handle.terminate("security test done")
    figures.record("approver_rules", refused_signals=5, refused_updates=4, accepted_only_from=["alice", "bob"])


# --- the alarm bridge ---------------------------------------------------------------------------


def _edit(body: bytes, **changes: Any) -> bytes:
    data = json.loads(body)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data).encode()


async def test_alarm_bridge_refuses_forged_unsigned_stale_and_wrong_topic_messages(sns: SnsTestAuthority) -> None:
    router = RecordingRouter()
    bridge = make_bridge(sns, router)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stale = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    genuine = sns.alarm("shop-green-5xx")
    alarm = json.dumps({"AlarmName": "shop-green-5xx", "NewStateValue": "ALARM"})
    other_topic = "arn:aws:sns:us-east-1:123456789012:someone-elses-topic"
    cases = {
        "forged (signed by another key)": sns.sign({"Type": "Notification", "Message": alarm}, key=other_key),
        "forged (message changed after signing)": _edit(genuine, Message=alarm.replace("5xx", "p99")),
        "unsigned (no signature)": _edit(genuine, Signature=None),
        "unsigned (empty signature)": _edit(genuine, Signature=""),
        "unsigned (garbage signature)": _edit(genuine, Signature=base64.b64encode(b"x" * 256).decode()),
        "stale": sns.sign({"Type": "Notification", "Message": alarm, "Timestamp": stale}),
        "wrong topic": sns.sign({"Type": "Notification", "Message": alarm, "TopicArn": other_topic}),
        "certificate from a non-SNS host": _edit(genuine, SigningCertURL="https://evil.example.com/cert.pem"),
        "plain http certificate": _edit(genuine, SigningCertURL="http://sns.us-east-1.amazonaws.com/cert.pem"),
    }
    for what, body in cases.items():
        outcome = await bridge.handle(body)
        assert outcome.status in (400, 403), f"{what}: {outcome}"
    assert router.notices == [], "a refused message reached a migration"
    assert (await bridge.handle(genuine)).status == 200 and len(router.notices) == 1
    figures.record("alarm_bridge", refused=sorted(cases), signalled_by_refused_messages=0)


# --- secrets --------------------------------------------------------------------------------------

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/PLANTEDsecretKEY0001",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEPLANTEDsessionTOKEN0002",
    "TEMPORAL_API_KEY": "tmprl-PLANTED-api-key-0003",
    "MESHSHIFT_DB_PASSWORD": "hunter2-PLANTED-password-0004",
}


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


@pytest.mark.integration
async def test_no_secret_in_history_logs_or_traces(
    dev_server: EmbeddedServer,
    dev_client: Client,
    moto_server: str,
    log_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack.reset_sim(moto_server)
    worlds = [stack.seed(moto_server, region, reset=False) for region in ("us-east-1", "us-west-2")]
    # The worker process: the real CLI, its environment carrying the secrets.
    queue = f"secrets-{random.randrange(2**31)}"
    process = WorkerProcess(
        dev_server.address, queue, moto_server, log_dir, extra_env={**SECRETS, "TEMPORAL_TLS": "false"}
    )
    # An in-process worker with tracing to memory, the same secrets in os.environ.
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    capture = Capture()
    capture.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(capture)
    traced_queue = f"{queue}-traced"
    process.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            aws = AwsClients(hooks=[("before-call", iam_recorder.record)])
            worker = paired_worker(
                dev_client,
                traced_queue,
                workflows=[MeshMigration],
                activities=activity_methods(activity_objects(dev_client, aws)),
                activity_executor=pool,
                max_concurrent_activities=8,
                workflow_runner=traced_workflow_runner(),
                interceptors=tracing_interceptors(provider.get_tracer("reliability")),
            )
            async with worker:

                async def run(world: Any, task_queue: str, wid: str) -> Any:
                    handle = await stack.start_migration(dev_client, task_queue, stack.fast_spec(world), wid)
                    approver = Approver(handle, random.Random(1))
                    approving = asyncio.create_task(approver.run())
                    report = await asyncio.wait_for(handle.result(), 180)
                    await asyncio.wait_for(approving, 10)
                    await approver.finish()
                    return report

                # Only the in-process worker records its calls: all of them are the traced migration's.
                traced_policy = generated_policy(stack.fast_spec(worlds[1]))
                with iam_recorder.scoped(f"the shop in {worlds[1].region}", traced_policy):
                    reports = await asyncio.gather(
                        run(worlds[0], queue, f"{queue}-process"), run(worlds[1], traced_queue, f"{queue}-traced")
                    )
    finally:
        logging.getLogger().removeHandler(capture)
        process.stop()
    assert [r.outcome for r in reports] == ["completed", "completed"]
    histories = [
        json.dumps((await dev_client.get_workflow_handle(wid).fetch_history()).to_json_dict())
        for wid in (f"{queue}-process", f"{queue}-traced")
    ]
    spans = exporter.get_finished_spans()
    assert spans, "the traced worker exported no spans"
    span_text = "\n".join(s.to_json() for s in spans)
    worker_log = process.output()
    assert "meshshift worker running" in worker_log
    found = {
        "history": leaks("\n".join(histories)),
        "worker process log": leaks(worker_log),
        "in-process log": leaks("\n".join(capture.lines)),
        "spans": leaks(span_text),
    }
    assert all(not names for names in found.values()), f"secrets leaked: {found}"

    called = iam_recorder.snapshot()
    comparison = compare(called, direct_actions(load_policy()))
    assert comparison.ok, f"called but not in docs/iam-policy.json: {comparison.missing}"
    figures.record(
        "secrets",
        secrets_planted=len(SECRETS),
        histories_searched=len(histories),
        history_bytes=sum(len(h) for h in histories),
        log_lines_searched=worker_log.count("\n") + len(capture.lines),
        spans_searched=len(spans),
        leaks=0,
        iam_actions_called=len(called),
        iam_actions_missing_from_policy=0,
    )
