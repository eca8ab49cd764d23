"""The simulated AWS: moto plus meshshift's extensions for what moto lacks or models unrealistically.

This is a test and demo double. The activity code that runs against it is the code that runs
against real AWS; only the endpoint differs (``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

from workers.simaws import appmesh, cloudfront, cloudwatch, ecs

_installed = False


def install_extensions() -> None:
    """Register the extensions on moto's backends and response classes. Idempotent."""
    global _installed
    if _installed:
        return
    for area in (ecs, appmesh, cloudfront, cloudwatch):
        area.install()
    _installed = True
