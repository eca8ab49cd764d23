"""Durations in specs: ISO 8601 (``PT10M``, ``P1DT2H``) or a number of seconds (``600``, ``"600"``).

A spec's durations are timers, bakes and timeouts: zero or negative is always a mistake, and
anything beyond ``MAX_DURATION`` is a typo (and would overflow a timer), so both are refused.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from meshshift.migration.errors import rule_error, show

MAX_DURATION = timedelta(days=366)
_EXPECTED = "an ISO 8601 duration like 'PT10M' or a number of seconds"

_ISO = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


class DurationError(ValueError):
    def __init__(self, expected: str, value: Any):
        self.expected = expected
        self.got = show(value)
        super().__init__(f"expected {expected}, got {self.got}")


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        m = _ISO.match(text.upper())
        if m:
            parts = {k: float(v) for k, v in m.groupdict().items() if v is not None}
            return (
                parts.get("weeks", 0.0) * 604800
                + parts.get("days", 0.0) * 86400
                + parts.get("hours", 0.0) * 3600
                + parts.get("minutes", 0.0) * 60
                + parts.get("seconds", 0.0)
            )
    return None


def parse_duration(value: Any, allow_zero: bool = False) -> timedelta:
    """Parse an ISO 8601 duration or seconds into a positive timedelta of at most MAX_DURATION.

    ``allow_zero`` is for waits that may legitimately be skipped (a zero bake or soak).
    Raises DurationError (a ValueError) saying what was expected and what arrived.
    """
    if isinstance(value, timedelta):
        seconds: float | None = value.total_seconds()
    else:
        seconds = _seconds(value)
    if seconds is None or not math.isfinite(seconds):
        raise DurationError(_EXPECTED, value)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise DurationError("a zero or positive duration" if allow_zero else "a positive duration", value)
    if seconds > MAX_DURATION.total_seconds():
        raise DurationError(f"at most {format_duration(MAX_DURATION)} ({MAX_DURATION.days} days)", value)
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


def _validate_duration(value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise rule_error([("", exc.expected, exc.got)]) from None


def _validate_wait(value: Any) -> timedelta:
    try:
        return parse_duration(value, allow_zero=True)
    except DurationError as exc:
        raise rule_error([("", exc.expected, exc.got)]) from None


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
    BeforeValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "description": "ISO 8601 duration, e.g. PT10M", "examples": ["PT10M"]},
                {"type": "number", "exclusiveMinimum": 0, "description": "seconds"},
            ]
        }
    ),
]

# A wait that may be zero: bakes and the soak (e.g. a zero-bake benchmark or a skipped soak).
WaitDuration = Annotated[
    timedelta,
    BeforeValidator(_validate_wait),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "description": "ISO 8601 duration, e.g. PT10M (PT0S skips the wait)"},
                {"type": "number", "minimum": 0, "description": "seconds"},
            ]
        }
    ),
]
