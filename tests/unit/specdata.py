"""Spec dictionaries for the unit tests: the brief's example, and small edits of it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHOP = EXAMPLES / "shop.yaml"
ALB_ONLY = EXAMPLES / "alb-only.yaml"

ACCOUNT = "123456789012"
LISTENER = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = (
    f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:"
    "listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
)
BLUE_TG = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/shop-blue/73e2d6bc24d8a067"
GREEN_TG = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/shop-green/9f1c3a7be0d24e55"

CLOUDFRONT_EDGE: dict[str, Any] = {
    "type": "cloudfront",
    "distribution_id": "E2QWRUHAPOMQZL",
    "staging_distribution_id": "E3STAGINGABCDE",
    "continuous_deployment_policy_id": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
}

_SHOP_DATA = yaml.safe_load(SHOP.read_text())


def shop() -> dict[str, Any]:
    """A fresh, mutable copy of the brief's example spec."""
    return copy.deepcopy(_SHOP_DATA)
