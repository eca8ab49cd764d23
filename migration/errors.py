"""Spec problems that a tired engineer can act on.

Every problem names the field path (``ramp.steps[2]``), what was expected and what arrived.
``format_problems`` is pure: the CLI, ``meshshift start`` and the workflow (which receives the
spec as a JSON object from any client) all turn a pydantic ``ValidationError`` into the same lines.
This module imports nothing of the spec (the spec's validators use it); reading a spec from a file
or text is ``migration.loading``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from meshshift.migration.edge.tags import union_tags

# The error type of meshshift's own rules; its context carries the problems, each with a path
# relative to the location pydantic reports (so a nested model's rule need not know its parent).
RULE_ERROR_TYPE = "spec_rule"

# Tags of the spec's tagged unions appear in pydantic's error locations after the list index
# (``edge.0.alb.listener_arn``); they are noise to a reader and are left out of the path.
_UNION_TAGS = union_tags("percent", "step")  # plus every registered edge type, now and later

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


def format_problems(error: ValidationError, model: type[BaseModel]) -> list[SpecProblem]:
    """One ``SpecProblem`` per problem in a pydantic error, with a readable path.

    ``model`` is the validated model (``MigrationSpec``, or one that holds it), used to list the
    allowed field names when a key is unknown.
    """
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
