"""The migration plan, as pure functions of the spec and what discovery found.

(Signatures fixed; bodies filled in by the spec/plan work.)
"""

from __future__ import annotations

from migration.contracts import BlueDiscovery, MetricSources, MigrationPlan, PlannedStep, ShifterWeights
from migration.spec import EdgeSpec, MigrationSpec


def shifter_id(edge: EdgeSpec) -> str:
    """Stable identity of an edge shifter, used to match weights to shifters and readings."""
    raise NotImplementedError


def weights_for(edge: EdgeSpec, percent: int) -> ShifterWeights:
    """The mechanism's weights that give ``percent`` green (0 = all blue, 100 = all green)."""
    raise NotImplementedError


def ramp_steps(spec: MigrationSpec) -> list[PlannedStep]:
    """Each ramp step with its effective bake, approval, and weights per shifter."""
    raise NotImplementedError


def build_plan(spec: MigrationSpec, discovery: BlueDiscovery) -> MigrationPlan:
    """Green services (translated task definitions + Service Connect config), steps, warnings."""
    raise NotImplementedError


def metric_sources(spec: MigrationSpec, plan: MigrationPlan) -> MetricSources:
    """Where blue's and green's traffic metrics live (ALB target groups, Service Connect services)."""
    raise NotImplementedError
