"""Signed SNS alarms reach the migrations that watch them: HTTP bridge and Lambda handler, against a
dev server with a running migration (fake activities), which rolls back."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from meshshift.migration.constants import workflow_id
from meshshift.migration.state import Phase
from meshshift.workers.alarm_bridge import AlarmBridge, TemporalAlarmRouter, make_http_server, topics_from
from meshshift.workers.alarm_lambda import handle_event, sns_body
from meshshift.workers.sns import SnsVerifier, https_fetcher
from tests.operator.conftest import Migration, cli
from tests.sns_signing import SnsTestAuthority
from tests.workflows.harness import gate_open, start, wait_for

pytestmark = pytest.mark.integration


def bridge_for(sns: SnsTestAuthority, env: WorkflowEnvironment) -> AlarmBridge:
    verifier = SnsVerifier(
        allowed_topics={sns.topic_arn},
        fetcher=https_fetcher(sns.client_context),
        test_cert_url_prefix=sns.cert_url_prefix,
    )
    return AlarmBridge(verifier, TemporalAlarmRouter(env.client), confirm=lambda _url: None)


async def running(env: WorkflowEnvironment, m: Migration) -> WorkflowHandle[Any, Any]:
    """Start the migration, wait for its first gate and for the visibility store to list it."""
    handle = await start(env, m.task_queue, m.spec, workflow_id(m.name))
    await wait_for(handle, gate_open(1), "the first gate")
    router = TemporalAlarmRouter(env.client)
    for _ in range(200):
        if handle.id in await router.running_migrations():
            return handle
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never appeared in the visibility listing")


async def test_http_bridge_alarm_rolls_back(
    env_local: WorkflowEnvironment, sns: SnsTestAuthority, migration: Migration
) -> None:
    handle = await running(env_local, migration)
    server = make_http_server(bridge_for(sns, env_local), asyncio.get_running_loop(), "127.0.0.1", 0)
    port = server.server_address[1]
    serving = asyncio.create_task(asyncio.to_thread(server.serve_forever))

    def post(body: bytes) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", "/", body=body, headers={"Content-Type": "text/plain"})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    try:
        # An alarm nobody watches is acknowledged and changes nothing.
        status, text = await asyncio.to_thread(post, sns.alarm("some-other-alarm"))
        assert (status, text.strip()) == (200, "signalled 0")
        # A forged one is refused before anything is trusted.
        forged = json.loads(sns.alarm("shop-green-5xx"))
        forged["Message"] = forged["Message"].replace("Threshold Crossed", "forged")
        status, _ = await asyncio.to_thread(post, json.dumps(forged).encode())
        assert status == 403
        assert (await wait_for(handle, lambda s: True, "status")).phase is Phase.RAMPING

        status, text = await asyncio.to_thread(post, sns.alarm("shop-green-5xx"))
        assert status == 200 and text.strip() == "signalled 1", text
        final = await wait_for(handle, lambda s: s.phase is Phase.ROLLED_BACK, "rolled back by the alarm")
        assert final.rollback.record is not None
        assert final.rollback.record.trigger.value == "alarm"
        assert final.rollback.record.actor == f"sns:{sns.topic_arn}"
    finally:
        server.shutdown()
        await serving
        server.server_close()


async def test_lambda_handler_alarm_rolls_back(
    env_local: WorkflowEnvironment, sns: SnsTestAuthority, migration: Migration
) -> None:
    handle = await running(env_local, migration)
    signed = json.loads(sns.alarm("shop-green-p99"))
    # What Lambda delivers: the same fields, SigningCertUrl / UnsubscribeUrl spelling, null Subject allowed.
    record = {k.replace("SigningCertURL", "SigningCertUrl"): v for k, v in signed.items()}
    record["MessageAttributes"] = {}
    record["UnsubscribeUrl"] = "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
    event = {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": record}]}
    assert json.loads(sns_body(event["Records"][0]))["SigningCertURL"] == signed["SigningCertURL"]

    tampered = {"Records": [{"EventSource": "aws:sns", "Sns": {**record, "TopicArn": "arn:aws:sns:us-east-1:1:other"}}]}
    refused = await handle_event(tampered, bridge_for(sns, env_local))
    assert refused.outcomes[0].status == 403

    result = await handle_event(event, bridge_for(sns, env_local))
    assert [o.status for o in result.outcomes] == [200]
    assert result.outcomes[0].signalled == [handle.id]
    await wait_for(handle, lambda s: s.phase is Phase.ROLLED_BACK, "rolled back by the alarm")


def test_topics_come_from_flags_or_environment() -> None:
    assert topics_from(["a", " b "], {}) == {"a", "b"}
    assert topics_from(None, {"MESHSHIFT_ALARM_TOPICS": "x, y,,"}) == {"x", "y"}
    assert topics_from(None, {}) == set()


async def test_bridge_command_refuses_to_start_without_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHSHIFT_ALARM_TOPICS", raising=False)
    result = await cli("alarm-bridge", "--port", "0")
    assert result.exit_code == 2 and "no SNS topics allowed" in result.stderr
