"""The edge mechanisms, listed once: everything else learns about mechanisms from here.

From the list come the mechanisms' names, the spec's ``edge`` type (a union tagged by ``type``)
and dispatch from an edge to its mechanism. An edge whose type no mechanism registered is an
error, never a guess.

Registration stays open so that a test or a plug-in can add a mechanism without editing this
file: ``with registered(mechanism): ...`` adds it and removes it again. ``EdgeSpec`` (the spec's
``edge`` items and the edge payloads) looks the union up when it validates rather than when the
models are built, so a mechanism registered later is accepted everywhere; pydantic's own errors
for the union (their paths, the expected tags) come through unchanged.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar, cast

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from meshshift.migration.edge import tags
from meshshift.migration.edge.alb import ALB
from meshshift.migration.edge.base import EdgeFacts, EdgeMechanism, EdgeModel, literal_tag
from meshshift.migration.edge.cloudfront import CLOUDFRONT
from meshshift.migration.edge.route53 import ROUTE53

# The product's mechanisms. Their order is the order in which errors list the accepted types.
_BUILT_IN: tuple[EdgeMechanism[Any], ...] = (ALB, ROUTE53, CLOUDFRONT)

_mechanisms: dict[str, EdgeMechanism[Any]] = {}
_union: TypeAdapter[EdgeModel] | None = None  # rebuilt after each change of _mechanisms
_facts_union: TypeAdapter[EdgeFacts] | None = None  # likewise, for the mechanisms' facts models

M = TypeVar("M", bound=EdgeMechanism[Any])


class UnknownMechanism(ValueError):
    """An edge type, or an edge model, that no registered mechanism handles."""


def register(mechanism: EdgeMechanism[Any]) -> None:
    model = mechanism.model
    if not (isinstance(model, type) and issubclass(model, EdgeModel)):
        raise TypeError(f"{type(mechanism).__name__}.model must be an EdgeModel subclass, got {model!r}")
    if literal_tag(model) != mechanism.name:
        raise ValueError(
            f"{model.__name__}.type must be declared Literal[{mechanism.name!r}] to match "
            f"{type(mechanism).__name__}.name"
        )
    facts = mechanism.facts_model
    if facts is not None and not (isinstance(facts, type) and issubclass(facts, EdgeFacts)):
        raise TypeError(f"{type(mechanism).__name__}.facts_model must be an EdgeFacts subclass, got {facts!r}")
    if facts is not None and literal_tag(facts) != mechanism.name:
        # The facts of every edge travel in one list, told apart by this tag.
        raise ValueError(
            f"{facts.__name__}.type must be declared Literal[{mechanism.name!r}] to match "
            f"{type(mechanism).__name__}.name"
        )
    if mechanism.name in _mechanisms:
        raise ValueError(f"edge mechanism {mechanism.name!r} is already registered")
    _mechanisms[mechanism.name] = mechanism
    _changed()


def unregister(mechanism: EdgeMechanism[Any]) -> None:
    if mechanism in _BUILT_IN:
        raise ValueError(f"edge mechanism {mechanism.name!r} is built in and cannot be unregistered")
    if _mechanisms.get(mechanism.name) is not mechanism:
        raise ValueError(f"edge mechanism {mechanism.name!r} is not registered")
    del _mechanisms[mechanism.name]
    _changed()


@contextmanager
def registered(mechanism: M) -> Iterator[M]:
    """``mechanism`` registered for the duration of the block, and unregistered after it."""
    register(mechanism)
    try:
        yield mechanism
    finally:
        unregister(mechanism)


def _changed() -> None:
    global _union, _facts_union
    _union = None
    _facts_union = None
    tags.publish(_mechanisms)


def mechanisms() -> tuple[EdgeMechanism[Any], ...]:
    return tuple(_mechanisms.values())


def names() -> tuple[str, ...]:
    return tuple(_mechanisms)


def mechanism(name: str) -> EdgeMechanism[Any]:
    try:
        return _mechanisms[name]
    except KeyError:
        raise UnknownMechanism(f"unknown edge mechanism {name!r}; registered: {', '.join(_mechanisms)}") from None


def mechanism_of(edge: EdgeModel) -> EdgeMechanism[Any]:
    """The mechanism of a validated edge (its model must be the one registered for its type)."""
    found = mechanism(edge.type)
    if not found.owns(edge):
        raise UnknownMechanism(
            f"edge of type {edge.type!r} is a {type(edge).__name__}, not the registered {found.model.__name__}"
        )
    return found


def check_name(name: str) -> str:
    """Pydantic validator for a payload's ``mechanism`` field."""
    mechanism(name)
    return name


def _union_adapter() -> TypeAdapter[EdgeModel]:
    global _union
    if _union is None:
        members = functools.reduce(operator.or_, (m.model for m in _mechanisms.values()))
        # Built at run time from the registry, so mypy cannot see the union: every member is an EdgeModel.
        union = cast("type[EdgeModel]", Annotated[members, Field(discriminator="type")])
        _union = TypeAdapter(union)
    return _union


def _validate_edge(value: Any, info: core_schema.ValidationInfo) -> EdgeModel:
    # A ValidationError raised here keeps its own locations (``alb.listener_arn``), below the field's.
    return _union_adapter().validate_python(value, context=info.context)


class _RegisteredEdge:
    """Pydantic metadata of ``EdgeSpec``: the union of the mechanisms registered when it validates."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.with_info_plain_validator_function(_validate_edge)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return handler(_union_adapter().core_schema)


def _facts_adapter() -> TypeAdapter[EdgeFacts]:
    global _facts_union
    if _facts_union is None:
        models = [m.facts_model for m in _mechanisms.values() if m.facts_model is not None]
        if not models:
            _facts_union = TypeAdapter(EdgeFacts)
        elif len(models) == 1:
            _facts_union = TypeAdapter(models[0])
        else:
            members = functools.reduce(operator.or_, models)
            # Built at run time from the registry, as the edge union is: every member is an EdgeFacts.
            _facts_union = TypeAdapter(cast("type[EdgeFacts]", Annotated[members, Field(discriminator="type")]))
    return _facts_union


def _validate_facts(value: Any, info: core_schema.ValidationInfo) -> EdgeFacts:
    return _facts_adapter().validate_python(value, context=info.context)


class _RegisteredFacts:
    """Pydantic metadata of ``RegisteredEdgeFacts``: the registered mechanisms' facts models."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.with_info_plain_validator_function(_validate_facts)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return handler(_facts_adapter().core_schema)


for _built_in in _BUILT_IN:
    register(_built_in)

if TYPE_CHECKING:
    EdgeSpec: TypeAlias = EdgeModel
else:
    # The annotation names the built-in models as well: migration.errors reads them from it to list
    # an edge's fields when a key is unknown.
    EdgeSpec = Annotated[functools.reduce(operator.or_, (m.model for m in _BUILT_IN)), _RegisteredEdge()]

# What a shifter read of its edge before the plan (``BlueDiscovery.edge_facts``): the facts model of
# the mechanism named by its ``type``, looked up when it validates, like ``EdgeSpec``.
RegisteredEdgeFacts = Annotated[EdgeFacts, _RegisteredFacts()]
