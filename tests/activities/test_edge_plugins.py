"""The I/O side of a plug-in mechanism: a shifter registered from a test (for the toy mechanism of
tests/unit/toy_edge.py) is what set_edge_weights and read_edge_weights call, and the edge
activities refuse to run while a registered mechanism has no shifter."""

from __future__ import annotations

from typing import ClassVar

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.activities.edge.base import Shifter, percent_of, refuse
from meshshift.activities.edge.inspect import inspect_edges
from meshshift.activities.edge.registry import SHIFTERS, registered_shifter, shifter_class
from meshshift.migration.contracts import (
    AwsContext,
    EdgeWeightsResult,
    ReadEdgeWeightsInput,
    SetEdgeWeightsInput,
    ShifterReading,
    ShifterTarget,
    ShifterWeights,
)
from meshshift.migration.edge import registry
from meshshift.migration.edge.base import PreflightContext
from meshshift.migration.loading import validate_spec
from meshshift.migration.plan import weights_for
from tests.unit.toy_edge import TOY, ToyEdge, toy_spec

CTX = AwsContext(region="us-east-1")


class ToyShifter(Shifter):
    """Keeps each toy gateway's split in memory: the toy has no AWS API."""

    mechanism = TOY
    edge: ToyEdge
    gateways: ClassVar[dict[str, tuple[float, float]]] = {}

    def _check_range(self, weights: ShifterWeights) -> None:
        if weights.blue + weights.green != 100:
            raise refuse(f"toy shifter {self.shifter_id}: blue + green must be 100")

    def set_weights(self, weights: ShifterWeights) -> None:
        self.check_weights(weights)
        self.gateways[self.edge.gateway] = (weights.blue, weights.green)

    def read_weights(self) -> ShifterReading:
        blue, green = self.gateways.get(self.edge.gateway, (100.0, 0.0))
        return self.reading(blue, green, percent_of(blue, green))


def test_edge_activities_dispatch_to_a_registered_shifter(aws_clients: AwsClients) -> None:
    ToyShifter.gateways.clear()
    with registry.registered(TOY), registered_shifter(ToyShifter):
        toy = validate_spec(toy_spec()).edge[2]
        acts = EdgeActivities(aws_clients)
        # As the workflow sends it: a JSON payload, turned back into the toy's own model.
        payload = pydantic_data_converter.payload_converter.to_payloads(
            [SetEdgeWeightsInput(aws=CTX, targets=[ShifterTarget(edge=toy, weights=weights_for(toy, 25))])]
        )
        (write,) = pydantic_data_converter.payload_converter.from_payloads(payload, [SetEdgeWeightsInput])
        assert isinstance(write.targets[0].edge, ToyEdge)

        written = ActivityEnvironment().run(acts.set_edge_weights, write)
        read = ActivityEnvironment().run(acts.read_edge_weights, ReadEdgeWeightsInput(aws=CTX, edges=[toy]))

        assert ToyShifter.gateways == {"gw-1": (75, 25)}
        expected = ShifterReading(shifter_id="toy:gw-1", mechanism="toy", blue=75, green=25, green_percent=25)
        assert written == read == EdgeWeightsResult(readings=[expected])
    assert set(SHIFTERS) == {"alb", "route53", "cloudfront"}
    with pytest.raises(ValueError, match="No shifter for edge type 'toy'"):
        shifter_class("toy")


def test_a_mechanism_without_a_shifter_stops_the_edge_activities(aws_clients: AwsClients) -> None:
    with registry.registered(TOY), pytest.raises(RuntimeError, match="toy: no shifter"):
        EdgeActivities(aws_clients)
    EdgeActivities(aws_clients)  # in step again


def test_a_shifter_needs_its_registered_mechanism() -> None:
    with pytest.raises(ValueError, match="unknown edge mechanism 'toy'"), registered_shifter(ToyShifter):
        pass
    twice = pytest.raises(ValueError, match="'toy' already has a shifter: ToyShifter")
    with registry.registered(TOY), registered_shifter(ToyShifter), twice, registered_shifter(ToyShifter):
        pass
    assert set(SHIFTERS) == {"alb", "route53", "cloudfront"}


def test_a_mechanism_that_reads_nothing_before_the_plan_adds_no_edge_facts(aws_clients: AwsClients) -> None:
    with registry.registered(TOY), registered_shifter(ToyShifter):
        spec = validate_spec(toy_spec())
        toy = spec.edge[2]
        assert TOY.facts_model is None and ToyShifter(toy, aws_clients, CTX).inspect() is None
        assert inspect_edges(aws_clients, CTX, [toy]) == []
        assert TOY.preflight(toy, "edge[2]", None, PreflightContext()) == []
