"""moto extension for Route 53 changes: PENDING until they have propagated, then INSYNC.

moto 5.2.5 answers every ChangeResourceRecordSets with the same change id, already INSYNC. Route 53
answers PENDING with a new id, and GetChange of that id turns INSYNC once the change has reached
every name server (AWS: generally within 60 seconds). Here that takes ``route53_insync`` seconds of
the settings' clock (sim/aws/settings.py). The records themselves change at once, as Route 53's
API shows them (ListResourceRecordSets reads the new values while the change is PENDING).

A change id this simulation did not hand out (moto's fixed ids of other calls) reads INSYNC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshshift.sim.aws import settings as sim_settings

_installed = False


def _changes(backend: Any) -> dict[str, float]:
    store: dict[str, float] = backend.__dict__.setdefault("_meshshift_changes", {})
    return store


def _new_change_id() -> str:
    from moto.moto_api._internal import mock_random

    return "/change/C" + mock_random.get_random_string(length=13, include_digits=True).upper()


def _wrap_change(original: Callable[..., Any]) -> Callable[..., Any]:
    def change_resource_record_sets(self: Any) -> Any:
        result = original(self)
        settings = sim_settings.current()
        change_id = _new_change_id()
        insync_at = settings.now() + settings.scaled(settings.route53_insync)
        _changes(self.backend)[change_id.rsplit("/", 1)[-1]] = insync_at
        info = result.result["ChangeInfo"]
        info["Id"] = change_id
        info["Status"] = "PENDING" if settings.now() < insync_at else "INSYNC"
        return result

    return change_resource_record_sets


def _wrap_get_change(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_change(self: Any) -> Any:
        result = original(self)
        info = result.result["ChangeInfo"]
        insync_at = _changes(self.backend).get(str(info["Id"]).rsplit("/", 1)[-1])
        if insync_at is not None:
            info["Status"] = "INSYNC" if sim_settings.current().now() >= insync_at else "PENDING"
        return result

    return get_change


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.route53.responses import Route53

    Route53.change_resource_record_sets = _wrap_change(Route53.change_resource_record_sets)  # type: ignore[method-assign]
    Route53.get_change = _wrap_get_change(Route53.get_change)  # type: ignore[method-assign]
    _installed = True
