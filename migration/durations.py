"""Durations in specs: ISO 8601 (``PT10M``, ``P1DT2H``) or a number of seconds (``600``, ``"600"``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_ISO = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: Any) -> timedelta:
    """Parse an ISO 8601 duration or seconds. Raises ValueError with what was expected."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected an ISO 8601 duration like 'PT10M' or a number of seconds, got {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            return timedelta(seconds=float(text))
        except ValueError:
            pass
        m = _ISO.match(text.upper())
        if m:
            parts = {k: float(v) for k, v in m.groupdict().items() if v is not None}
            return timedelta(
                weeks=parts.get("weeks", 0.0),
                days=parts.get("days", 0.0),
                hours=parts.get("hours", 0.0),
                minutes=parts.get("minutes", 0.0),
                seconds=parts.get("seconds", 0.0),
            )
    raise ValueError(f"expected an ISO 8601 duration like 'PT10M' or a number of seconds, got {value!r}")


def format_duration(value: timedelta) -> str:
    """ISO 8601 form, so a dumped spec reads like the one the user wrote."""
    total = value.total_seconds()
    if total == 0:
        return "PT0S"
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    out = "P"
    if days:
        out += f"{int(days)}D"
    if hours or minutes or seconds:
        out += "T"
        if hours:
            out += f"{int(hours)}H"
        if minutes:
            out += f"{int(minutes)}M"
        if seconds:
            out += f"{seconds:g}S"
    return out


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "description": "ISO 8601 duration, e.g. PT10M", "examples": ["PT10M"]},
                {"type": "number", "minimum": 0, "description": "seconds"},
            ]
        }
    ),
]
