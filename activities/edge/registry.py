"""Edge mechanism -> its shifter class (the I/O side), kept in step with ``migration.edge.registry``.

A shifter is registered for the domain mechanism it declares (``Shifter.mechanism``), which must
be the object registered under that name. ``check_shifters`` (run here for the built-in table,
and again when the edge activities are built) makes sure every registered mechanism has exactly
one shifter, so a mechanism can never be accepted in a spec and then have nothing to write it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import TypeVar

from meshshift.activities.edge.alb import AlbShifter
from meshshift.activities.edge.base import Shifter
from meshshift.activities.edge.cloudfront import CloudFrontShifter
from meshshift.activities.edge.route53 import Route53Shifter
from meshshift.migration.edge import registry as edge_registry

_shifters: dict[str, type[Shifter]] = {}
SHIFTERS: Mapping[str, type[Shifter]] = MappingProxyType(_shifters)

S = TypeVar("S", bound=type[Shifter])


def register_shifter(cls: type[Shifter]) -> None:
    name = cls.mechanism.name
    if edge_registry.mechanism(name) is not cls.mechanism:
        raise ValueError(f"{cls.__name__}.mechanism is not the edge mechanism registered as {name!r}")
    if name in _shifters:
        raise ValueError(f"edge mechanism {name!r} already has a shifter: {_shifters[name].__name__}")
    _shifters[name] = cls


def unregister_shifter(cls: type[Shifter]) -> None:
    if _shifters.get(cls.mechanism.name) is not cls:
        raise ValueError(f"{cls.__name__} is not registered")
    del _shifters[cls.mechanism.name]


@contextmanager
def registered_shifter(cls: S) -> Iterator[S]:
    """``cls`` registered for the duration of the block, and unregistered after it."""
    register_shifter(cls)
    try:
        yield cls
    finally:
        unregister_shifter(cls)


def check_shifters() -> None:
    """Every registered edge mechanism has exactly one shifter, and every shifter a mechanism."""
    problems = [f"{name}: no shifter" for name in edge_registry.names() if name not in _shifters]
    problems += [
        f"{name}: {cls.__name__} is registered for a mechanism that is no longer registered"
        for name, cls in _shifters.items()
        if name not in edge_registry.names() or edge_registry.mechanism(name) is not cls.mechanism
    ]
    if problems:
        raise RuntimeError(f"edge shifters out of step with the edge mechanisms: {'; '.join(problems)}")


def shifter_class(edge_type: str) -> type[Shifter]:
    try:
        return _shifters[edge_type]
    except KeyError:
        raise ValueError(f"No shifter for edge type {edge_type!r}; known: {', '.join(sorted(_shifters))}") from None


for _shifter in (AlbShifter, Route53Shifter, CloudFrontShifter):
    register_shifter(_shifter)
check_shifters()
