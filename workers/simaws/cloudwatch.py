"""moto extensions for cloudwatch (filled in by the activities work)."""

from __future__ import annotations


def install() -> None:
    return None
