"""Records every AWS operation the activities call during the test session (for the IAM check).

Install it as a botocore hook on the AwsClients used by activity tests:
``AwsClients(hooks=[("before-call", iam_recorder.record)])``.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
RECORDED: set[str] = set()  # IAM-style "service:Operation"

# boto3 service name -> IAM action prefix
IAM_PREFIX = {
    "ecs": "ecs",
    "elbv2": "elasticloadbalancing",
    "route53": "route53",
    "cloudfront": "cloudfront",
    "cloudwatch": "cloudwatch",
    "appmesh": "appmesh",
    "servicediscovery": "servicediscovery",
    "sqs": "sqs",
}


def record(model: Any = None, **_: Any) -> None:
    if model is None:
        return
    service = model.service_model.service_name
    prefix = IAM_PREFIX.get(service, service)
    with _lock:
        RECORDED.add(f"{prefix}:{model.name}")
