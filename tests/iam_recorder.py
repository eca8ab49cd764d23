"""Records every AWS operation the activities call during the test session (for the IAM check).

Install it as a botocore hook on the AwsClients used by activity tests:
``AwsClients(hooks=[("before-call", iam_recorder.record)])`` (the ``aws_clients`` fixture does).
botocore emits ``before-call`` once per API call (not per HTTP retry) with ``model``, the
operation's ``OperationModel``; ``model.name`` is the API operation name (CloudFront's versioned
wire names such as ``GetDistribution2020_05_31`` are not used there), which is also the IAM action
name for every service meshshift uses.

Only calls made from code under ``activities/`` are recorded: a test that seeds resources through
the same recording clients must not widen the least-privilege policy. ``tests/iam_check.py``
compares what was recorded with ``docs/iam-policy.json`` at the end of the session.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()
RECORDED: set[str] = set()  # IAM-style "prefix:Operation"

ACTIVITIES_DIR = str(Path(__file__).resolve().parent.parent / "activities") + os.sep

# botocore service name (``service_model.service_name``) -> IAM action prefix. botocore's name
# is not always the IAM one: elbv2's actions are ``elasticloadbalancing:*``, Cloud Map's are
# ``servicediscovery:*`` and CloudWatch signs as ``monitoring`` but its actions are ``cloudwatch:*``.
IAM_PREFIX = {
    "ecs": "ecs",
    "elbv2": "elasticloadbalancing",
    "elb": "elasticloadbalancing",
    "route53": "route53",
    "cloudfront": "cloudfront",
    "cloudwatch": "cloudwatch",
    "appmesh": "appmesh",
    "servicediscovery": "servicediscovery",
    "sqs": "sqs",
    "sns": "sns",
    "sts": "sts",
    "ec2": "ec2",
    "iam": "iam",
    "logs": "logs",
}


def iam_action(service_name: str, signing_name: str | None, operation: str) -> str:
    prefix = IAM_PREFIX.get(service_name) or signing_name or service_name
    return f"{prefix}:{operation}"


def _called_from_activities() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(ACTIVITIES_DIR):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def record(model: Any = None, **_: Any) -> None:
    if model is None or not _called_from_activities():
        return
    service_model = model.service_model
    action = iam_action(service_model.service_name, getattr(service_model, "signing_name", None), model.name)
    with _lock:
        RECORDED.add(action)


def snapshot() -> list[str]:
    with _lock:
        return sorted(RECORDED)
