"""Read every edge of the spec as it is today, for the plan's edge preflight (read-only).

Discovery calls ``inspect_edges`` once; each shifter's ``inspect()`` reads its own resource into
its mechanism's facts model (``migration/edge/<name>.py``), and the plan judges them
(``migration/plan_preflight.py``). A mechanism whose shifter reads nothing adds no facts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from meshshift.activities.aws import AwsClients
from meshshift.activities.edge.registry import shifter_class
from meshshift.migration.contracts import AwsContext
from meshshift.migration.edge.base import EdgeFacts
from meshshift.migration.edge.registry import EdgeSpec


def inspect_edges(
    clients: AwsClients,
    aws: AwsContext,
    edges: Sequence[EdgeSpec],
    heartbeat: Callable[[str], None] = lambda _detail: None,
) -> list[EdgeFacts]:
    facts: list[EdgeFacts] = []
    for edge in edges:
        shifter = shifter_class(edge.type)(edge, clients, aws, heartbeat=heartbeat)
        found = shifter.inspect()
        if found is not None:
            facts.append(found)
        heartbeat(f"read edge {shifter.shifter_id}")
    return facts
