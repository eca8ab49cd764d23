"""One short line per activity call, shown by the Temporal Web UI beside the call in the event
history and the timeline ("ALB listener → 25% green", "discover blue: 12 services").

Pure: the workflow passes ``activity_summary(name, input)`` as the call's ``summary`` (user
metadata on the scheduled event, not a command attribute the replay compares). The line says what
the call is asked to do, from its input alone, so it is known before the call runs. It never
carries a URL or a secret: only names, counts and weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from meshshift.migration import contracts
from meshshift.migration.details import mechanism_label, span

# The Web UI shows a summary on one line; a longer one is cut here rather than by the UI.
MAX_SUMMARY = 120

InputT = TypeVar("InputT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)


def green_percent(weights: contracts.ShifterWeights) -> float:
    """The share of traffic the weights send to green, whatever the mechanism's units."""
    if weights.promoted:
        return 100.0
    total = weights.blue + weights.green
    return round(100 * weights.green / total, 2) if total > 0 else 0.0


def _names(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" +{len(items) - limit} more" if len(items) > limit else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _set_weights(arg: contracts.SetEdgeWeightsInput) -> str:
    by_percent: dict[float, list[str]] = {}
    for target in arg.targets:
        by_percent.setdefault(green_percent(target.weights), []).append(mechanism_label(target.weights.mechanism))
    parts = [f"{_names(list(dict.fromkeys(labels)))} → {percent:g}% green" for percent, labels in by_percent.items()]
    return "; ".join(parts) or "no shifters"


def _read_weights(arg: contracts.ReadEdgeWeightsInput) -> str:
    labels = [mechanism_label(getattr(edge, "type", "edge")) for edge in arg.edges]
    return f"read back {_names(list(dict.fromkeys(labels)))} ({_plural(len(arg.edges), 'shifter')})"


def _discover(arg: contracts.DiscoverInput) -> str:
    spec = arg.spec
    workers = f" + {_plural(len(spec.async_workers), 'async worker')}" if spec.async_workers else ""
    mesh = f" in mesh {spec.blue.mesh}" if spec.blue.mesh else ""
    return f"discover blue: {_plural(len(spec.blue.services), 'service')}{workers}{mesh}"


def _discover_mesh(arg: contracts.DiscoverInput) -> str:
    mesh = f"App Mesh {arg.spec.blue.mesh}" if arg.spec.blue.mesh else "no App Mesh"
    return f"discover blue: {mesh} and {_plural(len(arg.spec.edge), 'edge shifter')}"


def _discover_mesh_page(arg: contracts.DiscoverMeshPageInput) -> str:
    cursor = arg.cursor
    at = cursor.kind.value.replace("_", " ") + (" (continued)" if cursor.token or cursor.skip else "")
    source = " from the snapshot" if cursor.source is contracts.MeshSource.SNAPSHOT else ""
    return f"discover blue: App Mesh {arg.mesh}{source}, {at} on"


def _discover_services(arg: contracts.DiscoverServicesInput) -> str:
    services = sum(1 for ref in arg.services if not ref.async_worker)
    workers = len(arg.services) - services
    counted = [_plural(services, "service")] if services else []
    counted += [_plural(workers, "async worker")] if workers else []
    span_of = f" ({arg.services[0].name} .. {arg.services[-1].name})" if arg.services else ""
    return f"discover blue: {' + '.join(counted) or 'nothing'}{span_of}"


def _provision(arg: contracts.ProvisionServiceInput) -> str:
    what = "async worker" if arg.plan.is_async_worker else "service"
    return f"{arg.mode.value} green {what} {arg.plan.green_service} (from {arg.plan.blue_service})"


def _scale(arg: contracts.ScaleServiceInput) -> str:
    return f"scale {arg.service} in {arg.cluster} to {arg.desired_count} (wait up to {span(arg.timeout)})"


def _stable(arg: contracts.ServicesStableInput) -> str:
    return f"steady state of {_plural(len(arg.services), 'green service')} in {arg.cluster}"


def _metrics(arg: contracts.CollectMetricsInput) -> str:
    sources = len(arg.sources.alb) + len(arg.sources.service_connect)
    return f"metrics over {span(arg.window)} from {_plural(sources, 'source')}"


def _delete_services(arg: contracts.DeleteServicesInput) -> str:
    return f"delete ECS services {_names(arg.services)} in {arg.cluster}"


SUMMARIES: dict[str, Callable[[BaseModel], str]] = {}


def _register(
    definition: contracts.ActivityDef[InputT, ResultT],
) -> Callable[[Callable[[InputT], str]], Callable[[InputT], str]]:
    def add(render: Callable[[InputT], str]) -> Callable[[InputT], str]:
        def checked(arg: BaseModel) -> str:
            if not isinstance(arg, definition.input):
                raise TypeError(f"{definition.name}: expected {definition.input.__name__}, got {type(arg).__name__}")
            return render(arg)

        SUMMARIES[definition.name] = checked
        return render

    return add


_register(contracts.SET_EDGE_WEIGHTS)(_set_weights)
_register(contracts.READ_EDGE_WEIGHTS)(_read_weights)
_register(contracts.DISCOVER_BLUE)(_discover)
_register(contracts.DISCOVER_BLUE_MESH)(_discover_mesh)
_register(contracts.DISCOVER_BLUE_SERVICES)(_discover_services)
_register(contracts.DISCOVER_BLUE_MESH_PAGE)(_discover_mesh_page)
_register(contracts.PROVISION_GREEN_SERVICE)(_provision)
_register(contracts.SCALE_SERVICE)(_scale)
_register(contracts.WAIT_SERVICES_STABLE)(_stable)
_register(contracts.COLLECT_METRICS)(_metrics)
_register(contracts.DELETE_ECS_SERVICES)(_delete_services)
_register(contracts.ENSURE_NAMESPACE)(lambda a: f"Service Connect namespace {a.name}")
_register(contracts.CHECK_TARGET_HEALTH)(
    lambda a: f"target health of {_plural(len(a.target_group_arns), 'green target group')}"
)
# Counts only: a health URL may carry a token in its query string.
_register(contracts.DEEP_HEALTH_CHECK)(lambda a: f"deep health: {_plural(len(a.health.urls), 'URL')}")
_register(contracts.POLL_ALARMS)(lambda a: f"alarms: {_names(a.alarm_names)}")
_register(contracts.DELETE_TARGET_GROUPS)(lambda a: f"delete {_plural(len(a.target_group_arns), 'blue target group')}")
_register(contracts.DELETE_WEIGHTED_RECORD)(lambda a: f"delete weighted record {a.set_identifier}")
_register(contracts.DELETE_APP_MESH)(lambda a: f"delete App Mesh {a.mesh}")
_register(contracts.READ_STATE_PART)(lambda a: f"read back the state part held by {a.workflow_id}")
_register(contracts.DEREGISTER_TASK_DEFINITIONS)(
    lambda a: f"deregister {_plural(len(a.task_definition_arns), 'blue task definition')}"
)
_register(contracts.READ_GREEN_SERVICE_CONNECT)(
    lambda a: f"backend gate: read back Service Connect of {_plural(len(a.services), 'green service')}"
)
_register(contracts.SEND_NOTIFICATION)(
    lambda a: f"notify {'SNS' if a.target.type == 'sns' else 'webhook'}: {a.notification.kind.value.replace('_', ' ')}"
)


def activity_summary(name: str, arg: BaseModel, *, compensation: bool = False) -> str:
    """The one-line summary of calling activity ``name`` with ``arg`` (its name if none is known)."""
    render = SUMMARIES.get(name)
    text = render(arg) if render is not None else name.replace("_", " ")
    if compensation:
        text = f"rollback: {text}"
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


__all__ = ["MAX_SUMMARY", "activity_summary", "green_percent"]
