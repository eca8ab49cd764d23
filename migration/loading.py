"""Loading a spec: a YAML or JSON file or text, parsed and validated into a ``MigrationSpec``.

Problems come back as the one-line ``SpecLoadError`` (the file cannot be read or parsed) or as a
``SpecError`` listing every field problem (``migration.errors`` formats them). This module sits
above both ``spec`` and ``errors``; ``errors`` imports nothing of the spec, so the spec's
validators can use it without an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from meshshift.migration.errors import SpecError, SpecProblem, format_problems
from meshshift.migration.spec import MigrationSpec


class SpecLoadError(SpecError):
    """The spec could not be read or parsed at all (missing file, broken YAML): one line."""

    def __init__(self, source: str, expected: str, got: str):
        problem = SpecProblem(path="", expected=expected, got=got, message=f"{source}: {got}; expected {expected}")
        super().__init__([problem], source)
        self.args = (problem.message,)


def spec_error(error: ValidationError, source: str | None = None) -> SpecError:
    """A ``MigrationSpec`` validation error as a SpecError, one problem per line."""
    return SpecError(format_problems(error, MigrationSpec), source)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML silently keeps the last of two equal keys; a duplicated section is a typo we refuse."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_spec_text(text: str, source: str = "<spec>") -> dict[str, Any]:
    """YAML (which includes JSON) text -> the spec's mapping. Raises SpecLoadError (one line)."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        reason = " ".join(str(exc.problem or exc.context or "malformed").split())
        raise SpecLoadError(where, "valid YAML or JSON", f"could not parse it: {reason}") from None
    except yaml.YAMLError as exc:
        raise SpecLoadError(source, "valid YAML or JSON", f"could not parse it: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        kind = "an empty document" if data is None else f"a {type(data).__name__}"
        raise SpecLoadError(source, "a mapping of spec fields (name, region, blue, green, edge, ...)", kind)
    return data


def read_spec_file(path: Path | str) -> dict[str, Any]:
    """Read and parse a spec file. Raises SpecLoadError (one line) for any I/O or parse failure."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecLoadError(str(p), "an existing YAML or JSON file", "no such file") from None
    except IsADirectoryError:
        raise SpecLoadError(str(p), "a YAML or JSON file", "a directory") from None
    except PermissionError:
        raise SpecLoadError(str(p), "a readable file", "permission denied") from None
    except UnicodeDecodeError as exc:
        raise SpecLoadError(str(p), "UTF-8 text", f"undecodable bytes at offset {exc.start}") from None
    except OSError as exc:
        raise SpecLoadError(str(p), "a readable file", exc.strerror or type(exc).__name__) from None
    return parse_spec_text(text, str(p))


def validate_spec(data: Any, source: str | None = None) -> MigrationSpec:
    """``MigrationSpec.model_validate`` with problems as a SpecError."""
    try:
        return MigrationSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, source) from None


def load_spec(path_or_text: Path | str) -> MigrationSpec:
    """Load and validate a spec from a file path or from YAML/JSON text.

    A ``str`` is text when it has a newline or starts with ``{``; otherwise it is a path.
    Raises SpecLoadError (unreadable/unparseable) or SpecError (invalid), never anything else.
    """
    if isinstance(path_or_text, str) and ("\n" in path_or_text or path_or_text.lstrip().startswith("{")):
        return validate_spec(parse_spec_text(path_or_text), "<spec>")
    return validate_spec(read_spec_file(path_or_text), str(path_or_text))
