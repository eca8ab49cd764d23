"""The alarm bridge with really signed SNS messages (test CA, certificate served over HTTPS)."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from meshshift.workers.alarm_bridge import AlarmNotice, make_http_server
from tests.sns_signing import RecordingRouter, SnsTestAuthority, make_bridge


@pytest.mark.parametrize("version", ["1", "2"])
async def test_valid_alarm_is_signalled(sns: SnsTestAuthority, version: str) -> None:
    router = RecordingRouter()
    message = json.dumps({"AlarmName": "shop-green-5xx", "NewStateValue": "ALARM", "NewStateReason": "5xx > 1%"})
    body = sns.sign({"Type": "Notification", "Message": message, "Subject": "ALARM"}, version=version)
    outcome = await make_bridge(sns, router).handle(body)
    assert outcome.status == 200, outcome.detail
    assert router.notices == [
        AlarmNotice(alarm_name="shop-green-5xx", state="ALARM", reason="5xx > 1%", source=f"sns:{sns.topic_arn}")
    ]


async def test_message_without_subject_verifies(sns: SnsTestAuthority) -> None:
    router = RecordingRouter()
    message = json.dumps({"AlarmName": "a", "NewStateValue": "ALARM"})
    outcome = await make_bridge(sns, router).handle(sns.sign({"Type": "Notification", "Message": message}))
    assert outcome.status == 200 and len(router.notices) == 1


async def test_ok_transition_is_acknowledged_not_signalled(sns: SnsTestAuthority) -> None:
    router = RecordingRouter()
    outcome = await make_bridge(sns, router).handle(sns.alarm("shop-green-5xx", state="OK"))
    assert outcome.status == 200
    assert router.notices == []


def _tamper(body: bytes, **changes: str) -> bytes:
    data = json.loads(body)
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("case", "expected_status", "expected_reason"),
    [
        ("forged_signature", 403, "signature does not verify"),
        ("tampered_message", 403, "signature does not verify"),
        ("wrong_topic", 403, "not in the allow-list"),
        ("stale", 403, "stale message"),
        ("malformed_json", 400, "not an SNS message"),
        ("unsigned", 400, "not an SNS message"),
        ("foreign_cert_host", 403, "not an SNS host"),
        ("http_cert_url", 403, "must be https"),
        ("unknown_version", 403, "unsupported SignatureVersion"),
    ],
)
async def test_refused(sns: SnsTestAuthority, case: str, expected_status: int, expected_reason: str) -> None:
    router = RecordingRouter()
    good = sns.alarm("shop-green-5xx")
    if case == "forged_signature":
        body = _forged(sns)
    elif case == "tampered_message":
        body = _tamper(good, Message=json.dumps({"AlarmName": "other", "NewStateValue": "ALARM"}))
    elif case == "wrong_topic":
        body = sns.sign({"Type": "Notification", "Message": "{}", "TopicArn": "arn:aws:sns:us-east-1:1:evil"})
    elif case == "stale":
        old = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        body = sns.sign({"Type": "Notification", "Message": "{}", "Timestamp": old})
    elif case == "malformed_json":
        body = b'{"Type": "Notification", '
    elif case == "unsigned":
        data = json.loads(good)
        del data["Signature"]
        body = json.dumps(data).encode()
    elif case == "foreign_cert_host":
        body = _tamper(good, SigningCertURL="https://evil.example.com/cert.pem")
    elif case == "http_cert_url":
        body = _tamper(good, SigningCertURL="http://sns.us-east-1.amazonaws.com/cert.pem")
    else:
        body = _tamper(good, SignatureVersion="3")
    outcome = await make_bridge(sns, router).handle(body)
    assert outcome.status == expected_status
    assert expected_reason in outcome.detail
    assert router.notices == []


def _forged(sns: SnsTestAuthority) -> bytes:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = json.dumps({"AlarmName": "shop-green-5xx", "NewStateValue": "ALARM"})
    return sns.sign({"Type": "Notification", "Message": message}, key=other_key)


async def test_subscription_confirmation_only_for_sns_hosts(sns: SnsTestAuthority) -> None:
    confirmed: list[str] = []
    bridge = make_bridge(sns, RecordingRouter(), confirmed)
    good_url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"
    common = {"Type": "SubscriptionConfirmation", "Message": "confirm", "Token": "t"}
    outcome = await bridge.handle(sns.sign({**common, "SubscribeURL": good_url}))
    assert outcome.status == 200 and confirmed == [good_url]
    outcome = await bridge.handle(sns.sign({**common, "SubscribeURL": "https://evil.example.com/confirm"}))
    assert outcome.status == 403 and confirmed == [good_url]


def test_http_server_refuses_oversized_and_accepts_valid(sns: SnsTestAuthority) -> None:
    router = RecordingRouter()
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
    loop_thread.start()
    server = make_http_server(make_bridge(sns, router), loop, "127.0.0.1", 0)
    server_thread = threading.Thread(target=server.serve_forever, daemon=True)
    server_thread.start()
    port = server.server_address[1]
    try:

        def post(body: bytes) -> tuple[int, str]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/", body=body, headers={"Content-Type": "text/plain"})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()

        # Only the headers of the oversized request: the server answers 413 from Content-Length
        # without reading the body (a client still sending 1 MB could see the reset instead).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.putrequest("POST", "/")
        conn.putheader("Content-Length", str(1024 * 1024))
        conn.endheaders()
        assert conn.getresponse().status == 413
        status, text = post(sns.alarm("shop-green-p99"))
        assert status == 200, text
        assert [n.alarm_name for n in router.notices] == ["shop-green-p99"]
        status, _ = post(b"not json")
        assert status == 400
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
    finally:
        server.shutdown()
        server.server_close()
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join(timeout=5)
        loop.close()
