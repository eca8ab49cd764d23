"""Delivering a notification the workflow built: publish to an SNS topic, or POST to a webhook.

A webhook URL usually is the secret (Slack's carry their token in the path), so it never travels in
the activity's input: the input names an environment variable of the worker or a Secrets Manager
secret, and the URL is read here, used once, and kept out of every error message (errors are
raised ``from None``, so no chained exception carrying the URL is serialized into the history).

Transient trouble (a connection error, a 5xx, a 429, SNS throttling) is raised retryable and the
workflow's retry policy takes over; a permanent one (a 4xx, a missing variable, a non-https URL) is
non-retryable. Either way the workflow only records the failure: a notification never holds up or
fails a migration.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from http.client import HTTPResponse
from typing import Any, NoReturn

from temporalio.exceptions import ApplicationError

from meshshift.activities.aws import AwsClients, aws_errors
from meshshift.activities.definition import implements
from meshshift.migration import contracts
from meshshift.migration.contracts import NotifyInput, NotifyResult, SnsTarget, WebhookTarget
from meshshift.migration.notifications import sns_subject, webhook_body

WEBHOOK_TIMEOUT_SECONDS = 10.0
# Enough of a webhook's error answer to say why (Slack answers e.g. "invalid_token", "no_service").
MAX_ANSWER = 200
USER_AGENT = "meshshift-notifications"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would re-send the message somewhere the spec did not name (urllib also turns a
    POST into a GET on 302): a 3xx is an error instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class NotificationActivities:
    def __init__(self, aws: AwsClients, environ: Mapping[str, str] | None = None) -> None:
        self._clients = aws
        # The worker's environment, read at each call: a variable added by a restart is picked up.
        self._environ = environ if environ is not None else os.environ

    @implements(contracts.SEND_NOTIFICATION)
    def send_notification(self, inp: NotifyInput) -> NotifyResult:
        target = inp.target
        if isinstance(target, SnsTarget):
            return self._publish(inp, target)
        return self._post(inp, target)

    def _publish(self, inp: NotifyInput, target: SnsTarget) -> NotifyResult:
        sns = self._clients.sns(inp.aws)
        with aws_errors(f"SNS Publish to {target.topic_arn}"):
            answer = sns.publish(
                TopicArn=target.topic_arn,
                Subject=sns_subject(inp.notification),
                Message=inp.notification.text,
                MessageAttributes={
                    "meshshift_kind": {"DataType": "String", "StringValue": inp.notification.kind.value},
                    "meshshift_app": {"DataType": "String", "StringValue": inp.notification.app},
                },
            )
        return NotifyResult(target=target.topic_arn, detail=f"message id {answer['MessageId']}")

    def _post(self, inp: NotifyInput, target: WebhookTarget) -> NotifyResult:
        where = target.describe()
        url = self._webhook_url(inp, target)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ApplicationError(
                f"{where}: expected an https:// URL, got a URL with scheme {parts.scheme or 'none'!r} "
                "(the value is not shown: it may carry a secret)",
                type="WebhookUrlInvalid",
                non_retryable=True,
            )
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above: https only
            url,
            data=json.dumps(webhook_body(inp.notification)).encode(),
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
            method="POST",
        )
        opener = urllib.request.build_opener(
            _NoRedirects(), urllib.request.HTTPSHandler(context=ssl.create_default_context())
        )
        try:
            response: HTTPResponse
            with opener.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                status = response.status
        except urllib.error.HTTPError as err:
            self._http_failure(where, url, err)
        except (urllib.error.URLError, OSError) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            raise ApplicationError(
                f"{where}: could not deliver to {parts.hostname}: {redact(str(reason), url)}",
                type="WebhookUnreachable",
            ) from None
        return NotifyResult(target=where, detail=f"HTTP {status} from {parts.hostname}")

    def _http_failure(self, where: str, url: str, err: urllib.error.HTTPError) -> NoReturn:
        try:
            answer = err.read(MAX_ANSWER).decode(errors="replace").strip()
        except OSError:
            answer = ""
        host = urllib.parse.urlsplit(url).hostname
        message = f"{where}: {host} answered HTTP {err.code}" + (f": {redact(answer, url)}" if answer else "")
        transient = err.code == 429 or err.code >= 500
        if 300 <= err.code < 400:
            message += " (redirects are not followed: put the final URL in the variable or secret)"
        raise ApplicationError(message, type=f"WebhookHttp{err.code}", non_retryable=not transient) from None

    def _webhook_url(self, inp: NotifyInput, target: WebhookTarget) -> str:
        if target.url_env is not None:
            url = self._environ.get(target.url_env, "").strip()
            if not url:
                raise ApplicationError(
                    f"the worker's environment variable {target.url_env} (notifications.webhook.url_env) is not "
                    "set or empty: set it to the webhook's https:// URL on every worker, then restart them",
                    type="WebhookUrlMissing",
                    non_retryable=True,
                )
            return url
        assert target.url_secret_arn is not None  # the spec requires one of the two
        secrets = self._clients.secretsmanager(inp.aws)
        with aws_errors(f"Secrets Manager GetSecretValue of {target.url_secret_arn}"):
            secret = str(secrets.get_secret_value(SecretId=target.url_secret_arn).get("SecretString") or "")
        return url_from_secret(secret.strip(), target.url_secret_arn)


def url_from_secret(secret: str, arn: str) -> str:
    """The secret is the URL itself, or JSON with a ``url`` key (how many teams store webhooks)."""
    if not secret.startswith("{"):
        if not secret:
            raise ApplicationError(
                f"secret {arn} has no string value: store the webhook's https:// URL as its SecretString",
                type="WebhookUrlMissing",
                non_retryable=True,
            )
        return secret
    try:
        value = json.loads(secret).get("url")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value.strip():
        raise ApplicationError(
            f'secret {arn} is JSON without a string \'url\' key: store the URL itself, or {{"url": "https://..."}}',
            type="WebhookUrlMissing",
            non_retryable=True,
        ) from None
    return value.strip()


def redact(text: str, url: str) -> str:
    """``text`` without the URL or its secret-bearing parts (path, query)."""
    parts = urllib.parse.urlsplit(url)
    for secret in (url, parts.path if len(parts.path) > 1 else "", parts.query):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
