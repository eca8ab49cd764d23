"""Building blocks of the spec's models, shared by ``migration.spec`` and the edge mechanisms.

They live apart from ``migration.spec`` because the spec's ``edge`` field is built from the edge
registry (``migration.edge.registry``), whose mechanisms define their spec models with these
same blocks: one module below both keeps the imports one-way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from meshshift.migration.errors import rule_error, show


class SpecModel(BaseModel):
    """Base for every spec section: unknown keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class StringFormat:
    """String metadata: checked against ``pattern`` with a message saying what was expected.

    The pattern also goes into the JSON Schema, so editors flag the same mistakes.
    """

    pattern: str
    expected: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        compiled = re.compile(self.pattern)
        expected = self.expected

        def check(value: str) -> str:
            if not compiled.fullmatch(value):
                raise rule_error([("", expected, show(value))])
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out["pattern"] = self.pattern
        return out


NonEmpty = Annotated[str, Field(min_length=1)]
