"""What every edge mechanism tells the spec, the plan and the workflow (pure: no temporalio, no boto3).

An edge mechanism (ALB, Route 53, CloudFront, ...) is one ``EdgeMechanism`` object in its own
module under ``migration/edge/``, listed in ``migration.edge.registry``. It owns its spec model and
everything that differs between mechanisms: its shifter identity, its weights for a green percent
and their limits, the ramp steps it cannot express, its plan warnings, how long a change takes to
reach clients, the target groups it routes to, the blue resources it owns, what its shifter reads
of the edge before the plan and how the plan judges it (``facts_model``, ``preflight``), and the
IAM grants its shifter needs (``iam_grants``, for ``meshshift iam-policy``). Code outside the
mechanism modules asks the registry for an edge's mechanism and never tells mechanisms apart
itself. The I/O side, the ``Shifter`` that writes and reads the weights in AWS, is in
``activities/edge/``; its docstring lists everything a new mechanism takes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Generic, Literal, NamedTuple, Protocol, TypeGuard, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from meshshift.migration.iam_model import IamContext, IamGrant
from meshshift.migration.spec_base import SpecModel
from meshshift.migration.weights import WeightError

if TYPE_CHECKING:
    from meshshift.migration.spec import RampSpec


class EdgeModel(SpecModel):
    """Base of every edge's spec model; ``type`` names the mechanism and tags the spec's union."""

    type: str


class Weighted(Protocol):
    """Weights in a mechanism's own units (``EdgeWeights``, or the ``ShifterWeights`` payload)."""

    @property
    def blue(self) -> float: ...

    @property
    def green(self) -> float: ...

    @property
    def promoted(self) -> bool: ...


@dataclass(frozen=True)
class EdgeWeights:
    """A mechanism's setting for one green percent, in its own units (see ``ShifterWeights``)."""

    blue: float
    green: float
    promoted: bool = False


class RegionalResource(NamedTuple):
    """A spec field naming a resource that lives in one AWS region."""

    field: str
    region: str
    value: str


@dataclass(frozen=True)
class TargetGroupPair:
    """Blue's and green's target groups (ARNs) behind one shifter."""

    blue: str
    green: str


@dataclass(frozen=True)
class LoadBalancerMetrics:
    """CloudWatch ``AWS/ApplicationELB`` dimensions of blue's and green's target groups."""

    load_balancer: str
    blue_target_group: str
    green_target_group: str


@dataclass(frozen=True)
class BlueResources:
    """What of blue a shifter owns (``owned_by_meshshift``), for decommission to delete.

    Each kind has its own decommission activity and its own switch in ``decommission.delete``.
    """

    target_group_arns: tuple[str, ...] = ()
    weighted_record_set_identifiers: tuple[str, ...] = ()


# --- preflight: the edge as it is today, checked before the ramp is planned ---------------------


class FactModel(BaseModel):
    """Base of what a shifter reads of its edge resource before the plan (a workflow payload)."""

    model_config = ConfigDict(extra="forbid")


class EdgeFacts(FactModel):
    """What one shifter's ``inspect()`` read of its edge resource, in its mechanism's own terms.

    Each mechanism that inspects declares a subclass as ``EdgeMechanism.facts_model``, with ``type``
    declared ``Literal[<mechanism name>]``: ``type`` tags the facts in ``BlueDiscovery.edge_facts``
    (``registry.RegisteredEdgeFacts``), and ``shifter_id`` matches them to their edge.
    """

    type: str
    shifter_id: str


@dataclass(frozen=True)
class PreflightProblem:
    """One way the edge as it is today differs from what the spec says, or makes the ramp risky.

    An error stops planning; a warning goes into the plan's warnings. ``field`` is the spec field to
    change (``edge[0].rule_arn``), or the spec entry the problem is about when no field fixes it.
    """

    severity: Literal["error", "warning"]
    field: str
    expected: str
    found: str
    next_step: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def text(self) -> str:
        line = f"{self.field}: expected {self.expected}, found {self.found}"
        return f"{line}. Next: {self.next_step}" if self.next_step else line


def preflight_error(field: str, expected: str, found: str, next_step: str = "") -> PreflightProblem:
    return PreflightProblem("error", field, expected, found, next_step)


def preflight_warning(field: str, expected: str, found: str, next_step: str = "") -> PreflightProblem:
    return PreflightProblem("warning", field, expected, found, next_step)


@dataclass(frozen=True)
class GreenPorts:
    """One green service as the plan made it: the ports its translated task definition maps (container
    and host ports), and the target groups it is attached to, as (target group ARN, container, port)."""

    blue_service: str
    green_service: str
    ports: frozenset[int]
    attachments: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True)
class DnsDiscoveredService:
    """A blue service whose App Mesh virtual node is found by a DNS hostname rather than Cloud Map."""

    spec_field: str  # ``blue.services[2]``
    blue_service: str
    hostname: str
    green_discovery_name: str | None  # the Service Connect discovery name the plan gave green's copy


@dataclass(frozen=True)
class PreflightContext:
    """What the plan knows beyond the edge itself, for the checks that compare the two (pure data)."""

    green: tuple[GreenPorts, ...] = ()
    dns_discovered: tuple[DnsDiscoveredService, ...] = ()
    # Every edge of the spec: what one edge's check asks for may be done by another edge.
    edges: tuple[EdgeModel, ...] = ()

    def green_ports(self) -> frozenset[int]:
        """Every port any green task definition maps."""
        return frozenset(port for service in self.green for port in service.ports)

    def attached_to(self, target_group_arn: str) -> list[GreenPorts]:
        """The green services the plan attaches to ``target_group_arn``."""
        return [s for s in self.green if any(a[0] == target_group_arn for a in s.attachments)]


E = TypeVar("E", bound=EdgeModel)


class EdgeMechanism(ABC, Generic[E]):
    """One edge mechanism's domain rules. Register the object in ``migration.edge.registry``."""

    name: str  # the spec's ``type`` for this mechanism: its model's ``type`` is ``Literal[name]``
    model: type[E]

    def owns(self, edge: EdgeModel) -> TypeGuard[E]:
        return isinstance(edge, self.model)

    @abstractmethod
    def shifter_id(self, edge: E) -> str:
        """Stable identity of the shifter, used to match weights to shifters and readings."""

    @abstractmethod
    def weights(self, edge: E, percent: int) -> EdgeWeights:
        """The weights that give ``percent`` green (0 = all blue, 100 = all green).

        Raises ``WeightError`` for a percent the shifter cannot express within its limits.
        """

    def percent_problem(self, edge: E, percent: int, path: str) -> WeightError | None:
        """Why ``edge`` (at spec path ``path``) cannot express ``percent`` green, or None."""
        try:
            self.weights(edge, percent)
        except WeightError as err:
            return WeightError(err.expected, err.got, self.hint_at(err.hint, path))
        return None

    def hint_at(self, hint: str, path: str) -> str:
        """``hint`` with the spec fields it mentions named under ``path`` (``edge[2].weight_scale``)."""
        return hint

    def describe_weights(self, weights: Weighted) -> str:
        """Weights for people: ``95/5`` where the share is weight / sum."""
        return f"{weights.blue:g}/{weights.green:g}"

    def plan_warnings(self, edge: E, path: str, ramp: RampSpec) -> list[str]:
        """Allowed but worth a second look before the ramp starts."""
        return []

    def propagation_wait(self, edge: E) -> timedelta:
        """How long clients may act on the previous weights after a change has landed (DNS TTL)."""
        return timedelta(0)

    def target_groups(self, edge: E) -> list[TargetGroupPair]:
        """Target groups the shifter moves traffic between: green services attach to the green ones."""
        return []

    def health_checked_target_groups(self, edge: E) -> list[str]:
        """Green target groups whose targets must be healthy before any traffic moves."""
        return []

    def load_balancer_metrics(self, edge: E) -> list[LoadBalancerMetrics]:
        """Where blue's and green's request metrics are published at the edge."""
        return []

    def regional_resources(self, edge: E) -> list[RegionalResource]:
        """Fields naming regional resources: they must all be in the spec's region."""
        return []

    def blue_resources(self, edge: E) -> BlueResources:
        return BlueResources()

    # The model of what its shifter's ``inspect()`` reads (an ``EdgeFacts`` subclass whose ``type`` is
    # ``Literal[name]``); None for a mechanism whose shifter reads nothing before the plan.
    facts_model: type[EdgeFacts] | None = None

    def preflight(
        self, edge: E, path: str, facts: EdgeFacts | None, context: PreflightContext
    ) -> list[PreflightProblem]:
        """How the edge as it is today (``facts``, None when it was not read) differs from what the
        spec at ``path`` says, or makes the ramp risky. Pure: the plan calls it with what discovery
        read. Without facts (a history recorded before discovery read the edge) only checks that
        need none may run, and only as warnings, so that such a history still plans the same."""
        return []

    @abstractmethod
    def iam_grants(self, edge: E, context: IamContext) -> list[IamGrant]:
        """The IAM actions its shifter calls, on exactly this edge's resources (``migration.iam``).

        Everything the ``Shifter`` (``activities/edge/``) calls, and what decommission does to the
        blue resources this mechanism owns under ``context.decommission``. Target groups are the
        exception: health checks and target group deletion are generic, so the policy builder grants
        them from ``health_checked_target_groups`` and ``blue_resources``. Abstract on purpose: a
        mechanism without its grants would get AccessDenied in production.
        """


def literal_tag(model: type[BaseModel]) -> str | None:
    """The one value of ``model.type`` when it is declared ``Literal["..."]``, else None."""
    annotation = model.model_fields["type"].annotation
    if get_origin(annotation) is not Literal:
        return None
    values = get_args(annotation)
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None
