"""Edge spec ``type`` -> shifter class. A new mechanism is one module plus one line here."""

from __future__ import annotations

from meshshift.activities.edge.alb import AlbShifter
from meshshift.activities.edge.base import Shifter
from meshshift.activities.edge.cloudfront import CloudFrontShifter
from meshshift.activities.edge.route53 import Route53Shifter

SHIFTERS: dict[str, type[Shifter]] = {
    "alb": AlbShifter,
    "route53": Route53Shifter,
    "cloudfront": CloudFrontShifter,
}


def shifter_class(edge_type: str) -> type[Shifter]:
    try:
        return SHIFTERS[edge_type]
    except KeyError:
        raise ValueError(f"No shifter for edge type {edge_type!r}; known: {', '.join(sorted(SHIFTERS))}") from None
