"""The App Mesh snapshot format (issue 18): every describe output of one mesh, saved while the API
still answers, so that a migration after App Mesh's end of support plans as if it still did.

``meshshift snapshot appmesh --mesh NAME -o FILE`` writes it; ``blue.appmesh_snapshot: FILE`` in the
spec refers to it, and ``meshshift start`` / ``meshshift plan`` embed its content in the spec they
send (the worker never reads a local file). Discovery ranks it after the live API: it is read only
when the API refuses.

The format is versioned JSON; each list holds the objects the AWS CLI prints under the describe
command's top-level key, unchanged, so a snapshot can also be assembled by hand from saved output:

| field              | content                                                                 |
|--------------------|-------------------------------------------------------------------------|
| `format_version`   | `1`                                                                     |
| `kind`             | `meshshift.appmesh-snapshot`                                            |
| `mesh_name`        | the mesh                                                                |
| `mesh_owner`       | its owner account, for a shared mesh (else null)                        |
| `taken_at`         | ISO 8601 time the snapshot was taken (informative)                      |
| `mesh`             | `aws appmesh describe-mesh` -> `.mesh`                                  |
| `virtual_nodes`    | each `describe-virtual-node` -> `.virtualNode`                          |
| `virtual_services` | each `describe-virtual-service` -> `.virtualService`                    |
| `virtual_routers`  | each `describe-virtual-router` -> `.virtualRouter`                      |
| `routes`           | each `describe-route` -> `.route` (it names its `virtualRouterName`)     |
| `virtual_gateways` | each `describe-virtual-gateway` -> `.virtualGateway`                    |
| `gateway_routes`   | each `describe-gateway-route` -> `.gatewayRoute` (names its gateway)     |

Pure: no file or AWS access here (the CLI reads the file, the activities call AWS).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer

from meshshift.migration.spec_base import SpecModel

FORMAT_VERSION = 1
KIND: Literal["meshshift.appmesh-snapshot"] = "meshshift.appmesh-snapshot"
# Temporal refuses a payload over 2 MB (the default blob size error limit) and warns above 512 KB;
# the snapshot travels inside the workflow input, so it must fit with room for the rest of the spec.
PAYLOAD_HARD_LIMIT = 2 * 1024 * 1024
PAYLOAD_WARN_LIMIT = 512 * 1024
# A snapshot over this much JSON travels compressed (issue 22): one virtual node's describe output is
# about 1-2 KB, and the nodes of one mesh are alike, so the JSON compresses about 10 to 20 times.
EMBED_COMPRESSED_OVER = 64 * 1024
EMBEDDED_PREFIX = "meshshift-appmesh-snapshot+zlib:"


class AppMeshSnapshot(SpecModel):
    """Every describe output of one mesh (see the module's table)."""

    format_version: Literal[1] = Field(description="Snapshot format version (1)")
    kind: Literal["meshshift.appmesh-snapshot"] = Field(default=KIND, description="Always meshshift.appmesh-snapshot")
    mesh_name: str = Field(min_length=1, description="The mesh the snapshot describes")
    mesh_owner: str | None = Field(default=None, description="Owner account of a shared mesh")
    taken_at: str | None = Field(default=None, description="When it was taken (ISO 8601)")
    mesh: dict[str, Any] = Field(description="describe-mesh: .mesh")
    virtual_nodes: list[dict[str, Any]] = Field(default_factory=list, description="describe-virtual-node outputs")
    virtual_services: list[dict[str, Any]] = Field(default_factory=list, description="describe-virtual-service outputs")
    virtual_routers: list[dict[str, Any]] = Field(default_factory=list, description="describe-virtual-router outputs")
    routes: list[dict[str, Any]] = Field(default_factory=list, description="describe-route outputs")
    virtual_gateways: list[dict[str, Any]] = Field(default_factory=list, description="describe-virtual-gateway outputs")
    gateway_routes: list[dict[str, Any]] = Field(default_factory=list, description="describe-gateway-route outputs")


def encoded_size(document: Any) -> int:
    """Bytes of ``document`` as JSON, as Temporal's JSON payload converter sends it."""
    return len(json.dumps(document, separators=(",", ":"), default=str).encode())


class SnapshotTooLarge(ValueError):
    """The snapshot would not fit in the workflow input."""


def size_check(size: int, what: str) -> str | None:
    """Raise ``SnapshotTooLarge`` over Temporal's hard limit; a warning above its warning limit."""
    if size > PAYLOAD_HARD_LIMIT:
        raise SnapshotTooLarge(
            f"{what} is {size} bytes as JSON: expected at most {PAYLOAD_HARD_LIMIT} bytes (2 MB, Temporal's payload "
            "limit; the snapshot travels in the workflow input). Next: take the snapshot of this mesh only, or remove "
            "the virtual nodes, routes and gateways of services this migration does not move, then try again"
        )
    if size > PAYLOAD_WARN_LIMIT:
        return (
            f"{what} is {size} bytes as JSON, above Temporal's {PAYLOAD_WARN_LIMIT}-byte warning threshold (512 KB): "
            "it is accepted (the limit is 2 MB), but every workflow history of this migration carries it"
        )
    return None


def embedded(snapshot: AppMeshSnapshot) -> Any:
    """The snapshot as it travels in a spec or a payload: its JSON, or, when large, that JSON
    compressed (zlib, base64) after EMBEDDED_PREFIX, which ``decode_embedded`` reads back."""
    document = snapshot.model_dump(mode="json")
    text = json.dumps(document, separators=(",", ":"))
    if len(text) <= EMBED_COMPRESSED_OVER:
        return document
    return EMBEDDED_PREFIX + base64.b64encode(zlib.compress(text.encode(), 9)).decode()


def decode_embedded(value: Any) -> Any:
    """A compressed snapshot's JSON; anything else as it is (a path, a snapshot's content, None)."""
    if not (isinstance(value, str) and value.startswith(EMBEDDED_PREFIX)):
        return value
    try:
        return json.loads(zlib.decompress(base64.b64decode(value[len(EMBEDDED_PREFIX) :], validate=True)))
    except (binascii.Error, zlib.error, ValueError) as err:
        raise ValueError(
            f"expected a compressed App Mesh snapshot (base64 of zlib JSON after {EMBEDDED_PREFIX!r}, as "
            f"meshshift start embeds it), got text that does not decode ({err}); embed the snapshot file again"
        ) from err


def embedded_or_path(value: Any) -> Any:
    return embedded(value) if isinstance(value, AppMeshSnapshot) else value


# A field holding a snapshot (or a path to one) that is read back from its compressed form and
# written in it when large, wherever it travels as JSON: the workflow input, activity inputs.
EmbeddedSnapshot = Annotated[
    AppMeshSnapshot, BeforeValidator(decode_embedded), PlainSerializer(embedded_or_path, when_used="json")
]
