"""moto extensions for appmesh (filled in by the activities work)."""

from __future__ import annotations


def install() -> None:
    return None
