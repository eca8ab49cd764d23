"""Spec problems that a tired engineer can act on, and loading a spec from a file or text.

Every problem names the field path (``ramp.steps[2]``), what was expected and what arrived.
``format_problems`` is pure: the CLI, ``meshshift start`` and the workflow (which receives the
spec as a JSON object from any client) all turn a pydantic ``ValidationError`` into the same lines.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from meshshift.migration.spec import MigrationSpec

# The error type of meshshift's own rules; its context carries the problems, each with a path
# relative to the location pydantic reports (so a nested model's rule need not know its parent).
RULE_ERROR_TYPE = "spec_rule"

# Tags of the spec's tagged unions appear in pydantic's error locations after the list index
# (``edge.0.alb.listener_arn``); they are noise to a reader and are left out of the path.
_UNION_TAGS = frozenset({"alb", "route53", "cloudfront", "percent", "step"})

_MAX_SHOWN = 120


class SpecProblem(BaseModel):
    """One thing wrong with a spec."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    expected: str
    got: str
    message: str

    def __str__(self) -> str:
        return self.message


class SpecError(Exception):
    """A spec that must not be run; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[SpecProblem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        count = len(self.problems)
        head = f"{where}{count} problem{'s' if count != 1 else ''} in the migration spec"
        super().__init__("\n".join([head, *(f"  {p.message}" for p in self.problems)]))


class SpecLoadError(SpecError):
    """The spec could not be read or parsed at all (missing file, broken YAML): one line."""

    def __init__(self, source: str, expected: str, got: str):
        problem = SpecProblem(path="", expected=expected, got=got, message=f"{source}: {got}; expected {expected}")
        super().__init__([problem], source)
        self.args = (problem.message,)


def show(value: Any) -> str:
    """A short, unambiguous rendering of a value the user wrote."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, BaseModel):
        text = json.dumps(value.model_dump(mode="json"), default=str)
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def problem(path: str, expected: str, got: str) -> SpecProblem:
    where = path or "spec"
    return SpecProblem(path=path, expected=expected, got=got, message=f"{where}: expected {expected}, got {got}")


def rule_error(problems: Iterable[tuple[str, str, str]]) -> PydanticCustomError:
    """The error a spec validator raises: ``(relative path, expected, got)`` per problem.

    ``got`` is already rendered (use ``show`` for user values) so the message reads naturally.
    """
    items = [{"path": p, "expected": e, "got": g} for p, e, g in problems]
    detail = "; ".join(
        f"{i['path'] + ': ' if i['path'] else ''}expected {i['expected']}, got {i['got']}" for i in items
    )
    return PydanticCustomError(RULE_ERROR_TYPE, "{detail}", {"detail": detail, "problems": items})


def rule_error_from_problems(problems: list[dict[str, str]]) -> PydanticCustomError:
    """Like ``rule_error`` for problems already formatted (``SpecProblem.model_dump()``)."""
    detail = "; ".join(p["message"] for p in problems)
    return PydanticCustomError(RULE_ERROR_TYPE, "{detail}", {"detail": detail, "problems": problems})


def join_path(*parts: str | int) -> str:
    """``("ramp", "steps", 2, "weight")`` -> ``ramp.steps[2].weight``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            if part.startswith("["):
                out += part
            else:
                out += f".{part}" if out else part
    return out


def _loc_path(loc: tuple[str | int, ...]) -> str:
    kept: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in _UNION_TAGS and i > 0 and isinstance(loc[i - 1], int):
            continue
        kept.append(part)
    return join_path(*kept)


def _allowed_fields(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str] | None:
    """Field names of the spec section at ``loc`` (the parent of an unknown key)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or part in _UNION_TAGS:
            if isinstance(part, str):
                current = _union_member(current, part)
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _model_in(current.model_fields[part].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def _model_in(annotation: Any) -> Any:
    """The model class inside ``X``, ``X | None``, ``list[X]`` or a tagged union (first model found)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = _models_in(annotation)
    return models[0] if len(models) == 1 else (models or None)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and not found:
        found.extend(_models_in(origin))
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        found.extend(_models_in(annotation.__origin__))
    return list(dict.fromkeys(found))


def _union_member(current: Any, tag: str) -> Any:
    candidates = current if isinstance(current, list) else [current]
    for model in candidates:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        type_field = model.model_fields.get("type")
        if type_field is not None and tag in getattr(type_field.annotation, "__args__", ()):
            return model
        if tag == "step" and model.__name__ == "RampStep":
            return model
    return current


def _expected_from_message(msg: str) -> str:
    for prefix in ("Input should be ", "Value should be "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if msg.startswith("expected "):
        return msg[len("expected ") :].split(", got ")[0]
    return msg[0].lower() + msg[1:] if msg else msg


def format_problems(error: ValidationError, model: type[BaseModel] | None = None) -> list[SpecProblem]:
    """One ``SpecProblem`` per problem in a pydantic error, with a readable path.

    ``model`` is the validated model (default: ``MigrationSpec``), used to list the allowed
    field names when a key is unknown.
    """
    if model is None:
        from meshshift.migration.spec import MigrationSpec

        model = MigrationSpec
    out: list[SpecProblem] = []
    for err in error.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        base = _loc_path(loc)
        ctx = err.get("ctx") or {}
        kind = err.get("type", "")
        if kind == RULE_ERROR_TYPE and isinstance(ctx.get("problems"), list):
            for item in ctx["problems"]:
                path = join_path(base, item["path"]) if item["path"] else base
                if "message" in item and not base:
                    out.append(SpecProblem.model_validate(item))
                elif "message" in item:
                    # Already formatted below ``base``: re-root the path and the message.
                    message = item["message"].removeprefix(f"{item['path'] or 'spec'}: ")
                    out.append(
                        SpecProblem(path=path, expected=item["expected"], got=item["got"], message=f"{path}: {message}")
                    )
                else:
                    out.append(problem(path, item["expected"], item["got"]))
            continue
        got = show(err.get("input"))
        if kind == "missing":
            out.append(problem(base, "this required field", "nothing"))
        elif kind == "extra_forbidden":
            field = str(loc[-1]) if loc else ""
            allowed = _allowed_fields(model, loc[:-1]) or []
            close = difflib.get_close_matches(field, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = ", ".join(allowed) if allowed else "the documented fields"
            out.append(
                SpecProblem(
                    path=base,
                    expected=f"one of the known fields ({known})",
                    got=f"unknown field {field!r}",
                    message=f"{base}: unknown field {field!r}; {hint}expected one of: {known}",
                )
            )
        elif kind == "union_tag_invalid":
            tags = ctx.get("expected_tags", "")
            out.append(problem(base, f"'type' to be one of {tags}", show(ctx.get("tag"))))
        elif kind == "union_tag_not_found":
            out.append(problem(base, f"a '{ctx.get('discriminator', 'type')}' field", "none"))
        else:
            out.append(problem(base, _expected_from_message(str(err.get("msg", ""))), got))
    return out


def spec_error(error: ValidationError, source: str | None = None) -> SpecError:
    return SpecError(format_problems(error), source)


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
    from meshshift.migration.spec import MigrationSpec

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
