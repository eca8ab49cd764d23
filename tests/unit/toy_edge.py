"""A toy edge mechanism, defined here and nowhere in the product: registering it must be enough.

The toy gateway splits traffic in whole steps of ``step_size`` percent and takes
``settle_seconds`` to settle. Its I/O side is ``tests/activities/test_edge_plugins.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from meshshift.migration.edge.base import BlueResources, EdgeMechanism, EdgeModel, EdgeWeights
from meshshift.migration.iam_model import IamContext, IamGrant
from meshshift.migration.weights import WeightError, check_percent
from tests.unit.specdata import shop

if TYPE_CHECKING:
    from meshshift.migration.spec import RampSpec

TOY_GREEN_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/toy-green/0123456789abcdef"
TOY_BLUE_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/toy-blue/fedcba9876543210"


class ToyEdge(EdgeModel):
    type: Literal["toy"]
    gateway: str = Field(min_length=1, description="The toy gateway whose split is weighted")
    step_size: int = Field(default=1, ge=1, le=50, description="The gateway splits in steps of this many percent")
    settle_seconds: int = Field(default=0, ge=0, description="How long clients keep the old split")
    owned_by_meshshift: bool = False


class ToyMechanism(EdgeMechanism[ToyEdge]):
    name = "toy"
    model = ToyEdge

    def shifter_id(self, edge: ToyEdge) -> str:
        return f"toy:{edge.gateway}"

    def weights(self, edge: ToyEdge, percent: int) -> EdgeWeights:
        check_percent(percent)
        if percent % edge.step_size:
            raise WeightError(f"a multiple of {edge.step_size}", str(percent), "lower step_size")
        return EdgeWeights(blue=100 - percent, green=percent)

    def hint_at(self, hint: str, path: str) -> str:
        return hint.replace("step_size", f"{path}.step_size")

    def plan_warnings(self, edge: ToyEdge, path: str, ramp: RampSpec) -> list[str]:
        return [f"{path} ({self.name}): {len(ramp.steps)} steps on a toy gateway"]

    def propagation_wait(self, edge: ToyEdge) -> timedelta:
        return timedelta(seconds=edge.settle_seconds)

    def health_checked_target_groups(self, edge: ToyEdge) -> list[str]:
        return [TOY_GREEN_TG]

    def blue_resources(self, edge: ToyEdge) -> BlueResources:
        return BlueResources(target_group_arns=(TOY_BLUE_TG,)) if edge.owned_by_meshshift else BlueResources()

    def iam_grants(self, edge: ToyEdge, context: IamContext) -> list[IamGrant]:
        return []  # the toy gateway has no AWS API (its shifter keeps the split in memory)


TOY = ToyMechanism()


def toy_spec(**toy: Any) -> dict[str, Any]:
    """The brief's example spec (ALB + Route 53) with a toy shifter as ``edge[2]``."""
    data = shop()
    data["edge"].append({"type": "toy", "gateway": "gw-1", **toy})
    return data
