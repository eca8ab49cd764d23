"""A continue-as-new state too large for one payload, carried in parts.

The state's per-service fields (the plan, the provisioning results, blue's task definition ARNs,
the decommission results) grow with the number of services: compressed, about 80 B per service of
one application, more for services less alike. Past ``PART_BYTES`` they leave the continue-as-new
input: they are split into parts of at most ``PART_BYTES``, each held by a child workflow until the
next run has read it back, and the input carries the rest of the state (the *head*, the same size
whatever the number of services) and the parts' ids with a digest of the whole.

Pure: the workflow starts the holders and reads them; this module only splits and joins.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib

from pydantic import Field

from meshshift.migration.contracts import DeletionResult, GreenServicePlan, ProvisionedService
from meshshift.migration.state import PLAN_SERVICES_SHOWN, MigrationState, Model, ResumeParts, StateTotals, plan_shown

# Each part is one payload: the activity result that reads it back and the holder's own input. The
# issue's bound is 256 KB per payload; the rest is room for the payload's envelope.
PART_BYTES = 192 * 1024


class StateBulk(Model):
    """The fields of MigrationState, and of its plan, that grow with the number of services."""

    services: list[GreenServicePlan] = Field(default_factory=list)
    async_workers: list[GreenServicePlan] = Field(default_factory=list)
    appmesh_resources: list[str] = Field(default_factory=list)
    provisioned: list[ProvisionedService] = Field(default_factory=list)
    blue_task_definition_arns: list[str] = Field(default_factory=list)
    decommissioned: list[DeletionResult] = Field(default_factory=list)


PLAN_FIELDS = ("services", "async_workers", "appmesh_resources")
STATE_FIELDS = ("provisioned", "blue_task_definition_arns", "decommissioned")


def parts_of(state: MigrationState, part_bytes: int = PART_BYTES) -> list[str] | None:
    """The state's per-service fields, compressed, in parts of at most ``part_bytes``; None when
    they fit in one part and the state goes in the input as it is."""
    plan = state.plan
    bulk = StateBulk.model_validate(
        {name: getattr(state, name) for name in STATE_FIELDS}
        | ({name: getattr(plan, name) for name in PLAN_FIELDS} if plan is not None else {})
    )
    text = base64.b64encode(zlib.compress(bulk.model_dump_json().encode(), 6)).decode()
    if len(text) <= part_bytes:
        return None
    return [text[i : i + part_bytes] for i in range(0, len(text), part_bytes)]


def head_of(state: MigrationState) -> MigrationState:
    """A copy of ``state`` without its per-service fields. It keeps the rest of the plan (its steps
    and rollback weights: a rollback needs them even if the parts could not be read) and what the
    status query shows of each list (``plan_shown``), so that the query answers the same while the
    next run reads the parts back."""
    return state.model_copy(
        update={name: getattr(state, name)[:PLAN_SERVICES_SHOWN] for name in STATE_FIELDS}
        | {"plan": plan_shown(state.plan)}
    )


def reference(state: MigrationState, parts: list[str], workflow_ids: list[str]) -> ResumeParts:
    """What the continue-as-new input says of the ``parts`` split from ``state``, held by
    ``workflow_ids``."""
    return ResumeParts(
        workflow_ids=workflow_ids,
        sha256=_digest(parts),
        totals=StateTotals.of(state),
    )


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def join(state: MigrationState, parts: list[str], resume: ResumeParts) -> None:
    """Put the per-service fields read back from ``parts`` (in the order of ``resume.workflow_ids``)
    into ``state``: the head, which messages handled meanwhile may have changed. Raises ValueError,
    naming what is wrong, when the parts are not the ones that were written."""
    if len(parts) != len(resume.workflow_ids):
        raise ValueError(f"state parts: expected {len(resume.workflow_ids)} parts, got {len(parts)}")
    text = "".join(parts)
    digest = _digest(parts)
    if digest != resume.sha256:
        raise ValueError(
            f"state parts: expected sha256 {resume.sha256}, got {digest} "
            f"({len(text):,} characters read from {', '.join(resume.workflow_ids)})"
        )
    try:
        bulk = StateBulk.model_validate_json(zlib.decompress(base64.b64decode(text, validate=True)))
    except (binascii.Error, zlib.error) as err:
        raise ValueError(f"state parts: expected base64 of zlib JSON, got {err}") from err
    for name in STATE_FIELDS:
        setattr(state, name, getattr(bulk, name))
    if state.plan is not None:
        state.plan = state.plan.model_copy(update={name: getattr(bulk, name) for name in PLAN_FIELDS})
