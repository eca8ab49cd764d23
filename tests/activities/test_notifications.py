"""send_notification against a local HTTPS receiver (a self-signed certificate made here for
127.0.0.1, trusted through SSL_CERT_FILE) and the simulated SNS and Secrets Manager (moto).

The webhook URL carries a secret in its path, as Slack's do: no error message may contain it."""

from __future__ import annotations

import json

import boto3
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.notifications import NotificationActivities
from meshshift.migration.contracts import (
    AwsContext,
    Notification,
    NotificationKind,
    NotifyInput,
    NotifyResult,
    SnsTarget,
    WebhookTarget,
)
from meshshift.migration.notifications import webhook_body
from tests.webhook_receiver import SECRET_PATH, Receiver, receiver, trusted_receiver

__all__ = ["receiver", "trusted_receiver"]  # fixtures

ENV = "MESHSHIFT_WEBHOOK_URL"
CTX = AwsContext(region="us-east-1")
NOTE = Notification(
    kind=NotificationKind.GATE_OPENED,
    app="shop",
    workflow_id="mesh-migration-shop",
    title="meshshift shop: approval needed for the step 5% green",
    text="*meshshift shop: approval needed*\n`meshshift approve shop --step 5 --as <approver>`",
)


def send(
    target: SnsTarget | WebhookTarget, environ: dict[str, str] | None = None, clients: AwsClients | None = None
) -> NotifyResult:
    # ``aws_clients`` where AWS is called: its calls are checked against docs/iam-policy.json.
    activities = NotificationActivities(clients or AwsClients(), environ=environ or {})
    result: NotifyResult = ActivityEnvironment().run(
        activities.send_notification, NotifyInput(aws=CTX, target=target, notification=NOTE)
    )
    return result


def failure(
    target: SnsTarget | WebhookTarget, environ: dict[str, str] | None = None, clients: AwsClients | None = None
) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        send(target, environ, clients)
    # Nothing the failure carries (its message, and the causes Temporal would serialize with it).
    err: BaseException | None = caught.value
    while err is not None:
        assert "s3cr3t" not in str(err), f"the webhook URL leaked into an error: {err!r}"
        err = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
    return caught.value


def test_the_webhook_gets_a_slack_body_from_the_url_in_the_environment(trusted_receiver: Receiver) -> None:
    result = send(WebhookTarget(url_env=ENV), {ENV: trusted_receiver.url})
    assert result == NotifyResult(target=f"webhook (URL from ${ENV})", detail="HTTP 200 from 127.0.0.1")
    assert trusted_receiver.received == [
        {"path": SECRET_PATH, "content_type": "application/json", "json": webhook_body(NOTE)}
    ]
    assert trusted_receiver.received[0]["json"] == {"text": NOTE.text}
    assert "s3cr3t" not in result.model_dump_json()


def test_the_webhook_url_can_come_from_secrets_manager(
    trusted_receiver: Receiver, aws_inprocess: None, aws_clients: AwsClients
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    as_json = secrets.create_secret(Name="shop/webhook", SecretString=json.dumps({"url": trusted_receiver.url}))["ARN"]
    plain = secrets.create_secret(Name="shop/webhook-plain", SecretString=trusted_receiver.url)["ARN"]
    assert send(WebhookTarget(url_secret_arn=as_json), clients=aws_clients).detail == "HTTP 200 from 127.0.0.1"
    assert send(WebhookTarget(url_secret_arn=plain), clients=aws_clients).detail == "HTTP 200 from 127.0.0.1"
    assert len(trusted_receiver.received) == 2
    empty = secrets.create_secret(Name="shop/webhook-empty", SecretString=json.dumps({"link": "x"}))["ARN"]
    err = failure(WebhookTarget(url_secret_arn=empty), clients=aws_clients)
    assert err.non_retryable and "JSON without a string 'url' key" in str(err)


def test_server_errors_are_retried_and_client_errors_are_not(trusted_receiver: Receiver) -> None:
    target, environ = WebhookTarget(url_env=ENV), {ENV: trusted_receiver.url}
    trusted_receiver.answers = [
        (503, "unavailable", {}),
        (429, "rate limited", {}),
        (404, f"no_service for {SECRET_PATH}", {}),
        (302, "", {"Location": "https://example.com/elsewhere"}),
    ]
    busy, limited, gone, moved = (failure(target, environ) for _ in range(4))
    assert not busy.non_retryable and "127.0.0.1 answered HTTP 503: unavailable" in str(busy)
    assert not limited.non_retryable and "HTTP 429" in str(limited)
    assert gone.non_retryable and "HTTP 404: no_service for <redacted>" in str(gone)
    assert moved.non_retryable and "redirects are not followed" in str(moved)
    assert len(trusted_receiver.received) == 4  # the redirect was not followed


def test_a_missing_variable_or_a_plain_http_url_is_permanent(trusted_receiver: Receiver) -> None:
    missing = failure(WebhookTarget(url_env=ENV), {})
    assert missing.non_retryable and f"environment variable {ENV}" in str(missing)
    plain = failure(WebhookTarget(url_env=ENV), {ENV: trusted_receiver.url.replace("https://", "http://")})
    assert plain.non_retryable and "expected an https:// URL, got a URL with scheme 'http'" in str(plain)
    assert trusted_receiver.received == []


def test_an_untrusted_certificate_is_refused_and_retried(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    err = failure(WebhookTarget(url_env=ENV), {ENV: receiver.url})
    assert not err.non_retryable and "could not deliver to 127.0.0.1" in str(err) and "CERTIFICATE" in str(err)
    assert receiver.received == []


def test_sns_publishes_subject_text_and_attributes(aws_inprocess: None, aws_clients: AwsClients) -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="shop-migrations")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    result = send(SnsTarget(topic_arn=topic), clients=aws_clients)
    assert result.target == topic and result.detail.startswith("message id ")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"] == NOTE.title and envelope["Message"] == NOTE.text
    assert envelope["MessageAttributes"]["meshshift_kind"]["Value"] == "gate_opened"


def test_sns_to_a_missing_topic_is_permanent(aws_inprocess: None, aws_clients: AwsClients) -> None:
    err = failure(SnsTarget(topic_arn="arn:aws:sns:us-east-1:123456789012:nobody"), clients=aws_clients)
    assert err.non_retryable and "SNS Publish to arn:aws:sns:us-east-1:123456789012:nobody failed" in str(err)
