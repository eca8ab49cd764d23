"""Each edge mechanism is one plug-in: a mechanism registered from a test (tests/unit/toy_edge.py,
no product file edited) is validated, planned and dispatched like the built-in ones, and leaves
the registry as it found it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from meshshift.migration import plan as planning
from meshshift.migration.contracts import ShifterWeights
from meshshift.migration.edge import registry
from meshshift.migration.edge.alb import ALB, AlbEdge
from meshshift.migration.edge.base import EdgeMechanism, EdgeModel, EdgeWeights
from meshshift.migration.errors import SpecError
from meshshift.migration.iam_model import IamContext, IamGrant
from meshshift.migration.loading import validate_spec
from meshshift.migration.spec import MigrationSpec
from tests.unit.specdata import BLUE_TG, GREEN_TG, shop
from tests.unit.toy_edge import TOY, TOY_BLUE_TG, TOY_GREEN_TG, ToyEdge, toy_spec

BUILT_IN = ("alb", "route53", "cloudfront")
REPO = Path(__file__).resolve().parents[2]


def problems(data: object) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    return {p.path: p.message for p in info.value.problems}


def test_the_built_in_mechanisms_in_their_order() -> None:
    assert registry.names() == BUILT_IN
    assert [m.model.__name__ for m in registry.mechanisms()] == ["AlbEdge", "Route53Edge", "CloudFrontEdge"]


def test_a_registered_mechanism_validates_and_plans() -> None:
    with registry.registered(TOY):
        assert registry.names() == (*BUILT_IN, "toy")
        spec = validate_spec(toy_spec(settle_seconds=900, owned_by_meshshift=True))
        toy = spec.edge[2]
        assert isinstance(toy, ToyEdge)
        assert registry.mechanism_of(toy) is TOY
        assert planning.shifter_id(toy) == "toy:gw-1"

        steps = planning.ramp_steps(spec)
        assert [(w.shifter_id, w.mechanism, w.blue, w.green) for s in steps for w in s.weights[2:]] == [
            ("toy:gw-1", "toy", 100 - p, p) for p in (1, 5, 25, 50, 100)
        ]
        assert planning.rollback_weights(spec)[2] == ShifterWeights(
            shifter_id="toy:gw-1", mechanism="toy", blue=100, green=0
        )
        assert planning.describe_step_weights(steps[1]) == "alb 95/5, route53 95/5, toy 95/5"
        assert "edge[2] (toy): 5 steps on a toy gateway" in planning.spec_warnings(spec)

        # What the workflow asks of the spec's mechanisms, with the toy's answers among them.
        assert planning.health_checked_target_groups(spec) == sorted([GREEN_TG, TOY_GREEN_TG])
        assert planning.propagation_wait(spec) == timedelta(seconds=900)
        assert planning.owned_blue_target_groups(spec) == [TOY_BLUE_TG]

        # The spec survives a round trip (the workflow receives it as JSON).
        assert MigrationSpec.model_validate_json(spec.model_dump_json()) == spec
        assert "ToyEdge" in MigrationSpec.model_json_schema()["$defs"]


def test_a_registered_mechanism_explains_its_problems_like_the_built_in_ones() -> None:
    with registry.registered(TOY):
        found = problems(toy_spec(step_size=10))
        assert found["ramp.steps[0]"] == (
            "ramp.steps[0]: expected a multiple of 10 on edge[2] (toy), got 1; lower edge[2].step_size"
        )

        # The union's tag ("toy") is left out of the paths, as "alb" is.
        found = problems(toy_spec(gateway="", colour="blue"))
        assert set(found) == {"edge[2].gateway", "edge[2].colour"}

        data = toy_spec()
        data["edge"].append(dict(data["edge"][2]))
        assert problems(data)["edge[3]"] == (
            "edge[3]: expected each shifter listed once (edge[2] is the same toy shifter), got toy:gw-1"
        )


def test_the_registry_is_left_as_it_was_found() -> None:
    schema = MigrationSpec.model_json_schema()
    with registry.registered(TOY):
        toy = validate_spec(toy_spec()).edge[2]
    assert registry.names() == BUILT_IN
    assert MigrationSpec.model_json_schema() == schema

    # An unknown edge type is an error everywhere, never taken for another mechanism.
    assert problems(toy_spec())["edge[2]"] == (
        "edge[2]: expected 'type' to be one of 'alb', 'route53', 'cloudfront', got 'toy'"
    )
    with pytest.raises(registry.UnknownMechanism, match="unknown edge mechanism 'toy'"):
        planning.weights_for(toy, 5)
    with pytest.raises(ValidationError, match="unknown edge mechanism 'toy'"):
        ShifterWeights(shifter_id="toy:gw-1", mechanism="toy", blue=95, green=5)


def test_an_edge_model_must_be_the_registered_one() -> None:
    class Impostor(EdgeModel):
        type: str = "alb"

    with pytest.raises(registry.UnknownMechanism, match="Impostor, not the registered AlbEdge"):
        registry.mechanism_of(Impostor())


def test_registration_is_checked() -> None:
    class WrongTag(EdgeMechanism[AlbEdge]):
        name = "lattice"
        model = AlbEdge

        def shifter_id(self, edge: AlbEdge) -> str:
            return "x"

        def weights(self, edge: AlbEdge, percent: int) -> EdgeWeights:
            return EdgeWeights(blue=100 - percent, green=percent)

        def iam_grants(self, edge: AlbEdge, context: IamContext) -> list[IamGrant]:
            return []

    with pytest.raises(ValueError, match=re.escape("AlbEdge.type must be declared Literal['lattice']")):
        registry.register(WrongTag())
    with pytest.raises(ValueError, match="'alb' is already registered"):
        registry.register(ALB)
    with pytest.raises(ValueError, match="built in"):
        registry.unregister(ALB)
    with registry.registered(TOY), pytest.raises(ValueError, match="'toy' is already registered"):
        registry.register(TOY)
    assert registry.names() == BUILT_IN


def test_the_workflow_questions_for_the_built_in_mechanisms() -> None:
    data = shop()
    data["edge"][0]["owned_by_meshshift"] = True
    data["edge"][1].update(owned_by_meshshift=True, ttl=120)
    spec = validate_spec(data)
    assert planning.health_checked_target_groups(spec) == [GREEN_TG]
    assert planning.owned_blue_target_groups(spec) == [BLUE_TG]
    assert planning.owned_blue_records(spec) == [(spec.edge[1], "blue")]
    assert planning.propagation_wait(spec) == timedelta(seconds=120)

    spec = validate_spec(shop())
    assert planning.owned_blue_target_groups(spec) == [] and planning.owned_blue_records(spec) == []


def test_only_the_mechanism_modules_tell_mechanisms_apart() -> None:
    """No product module outside migration/edge/ and a mechanism's shifter checks an edge's type."""
    edge_models = re.compile(
        r"isinstance\([^)]*(AlbEdge|Route53Edge|CloudFrontEdge)|\bedge\.type\s*[!=]=|\.mechanism\s*[!=]=\s*\""
    )
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for folder in ("migration", "activities", "workflows", "workers")
        for path in sorted((REPO / folder).rglob("*.py"))
        if "edge" not in path.relative_to(REPO).parts
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if edge_models.search(line)
    ]
    assert offenders == []
