"""Notifications: one message, sent to one target (an SNS topic or a webhook) per call.

One call per target, so a retry re-sends only to the target that failed. A webhook target carries
only the reference to its URL (an environment variable name or a Secrets Manager ARN): the URL,
which usually embeds a secret, is resolved inside the activity and never enters the history.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from meshshift.migration.contracts.base import ActivityDef, AwsContext, Payload


class NotificationKind(StrEnum):
    GATE_OPENED = "gate_opened"
    REFUSAL = "refusal"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_ENDED = "rollback_ended"
    PHASE_FAILED = "phase_failed"
    COMPLETED = "completed"


class Notification(Payload):
    kind: NotificationKind
    app: str
    workflow_id: str
    title: str = Field(description="One line (the SNS subject)")
    text: str = Field(description="The message; Slack mrkdwn (backticks for commands)")


class SnsTarget(Payload):
    type: Literal["sns"] = "sns"
    topic_arn: str


class WebhookTarget(Payload):
    type: Literal["webhook"] = "webhook"
    url_env: str | None = Field(default=None, description="The worker's environment variable holding the URL")
    url_secret_arn: str | None = Field(default=None, description="Secrets Manager secret holding the URL")

    def describe(self) -> str:
        """Where the URL comes from, never the URL itself."""
        return f"webhook (URL from ${self.url_env})" if self.url_env else f"webhook (URL from {self.url_secret_arn})"


NotificationTarget = Annotated[SnsTarget | WebhookTarget, Field(discriminator="type")]


class NotifyInput(Payload):
    aws: AwsContext
    target: NotificationTarget
    notification: Notification


class NotifyResult(Payload):
    target: str = Field(description="Where it went: the topic ARN, or the URL's reference (never the URL)")
    detail: str = Field(description="The SNS message id, or the webhook's HTTP status")


# Short: a notification that cannot be delivered within seconds is retried, not waited for.
SEND_NOTIFICATION = ActivityDef("send_notification", NotifyInput, NotifyResult, start_to_close=timedelta(seconds=30))
