"""The ``type`` tags of the registered edge mechanisms, as a live view for ``migration.errors``.

Pydantic puts a tagged union's tag into its error locations (``edge.0.alb.listener_arn``) and
``migration.errors`` leaves the tags out of the paths it shows. ``errors`` cannot import the
registry, because the mechanisms' spec models import ``errors``, so the registry publishes its
names here (``publish``) and ``errors`` holds a view that follows every later registration.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set

_published: frozenset[str] = frozenset()


def publish(names: Iterable[str]) -> None:
    """Called by ``migration.edge.registry`` whenever its set of mechanisms changes."""
    global _published
    _published = frozenset(names)


class UnionTags(Set[str]):
    """The registered edge types plus ``fixed`` tags, as they are now (not as at import)."""

    def __init__(self, fixed: Iterable[str]) -> None:
        self._fixed = frozenset(fixed)

    def __contains__(self, value: object) -> bool:
        return value in self._fixed or value in _published

    def __iter__(self) -> Iterator[str]:
        return iter(self._fixed | _published)

    def __len__(self) -> int:
        return len(self._fixed | _published)


def union_tags(*fixed: str) -> UnionTags:
    return UnionTags(fixed)
