"""moto extensions for App Mesh: virtual services, and a switch that makes the whole API "gone".

moto 5.2.5 has meshes, virtual nodes, routers, routes, virtual gateways and gateway routes, but
answers every *VirtualService operation with 404. We add create/describe/update/list/delete
virtual service following botocore's ``appmesh`` 2019-01-25 shapes, registered as extra URL paths
and methods on moto's response class, so they work under ``mock_aws`` and in server mode.

App Mesh reached end of support on 2026-09-30; after that its API may stop answering. Setting
``MESHSHIFT_SIM_APPMESH_UNAVAILABLE`` (read on every request, so a running simulation can be
switched) makes every App Mesh call fail the way a retired API would:

- ``1``, ``404`` or ``gone``: HTTP 404 ``Not yet implemented``-style answer with no error code;
- ``403`` or ``denied``: ``AccessDeniedException`` (the API refusing callers after end of support).

The activities never read this variable: they only see the API's answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import moto.appmesh.urls as appmesh_urls
from moto.appmesh.exceptions import MeshError
from moto.appmesh.models import AppMeshBackend
from moto.appmesh.responses import AppMeshResponse

UNAVAILABLE_ENV = "MESHSHIFT_SIM_APPMESH_UNAVAILABLE"

_PATHS = {
    "{0}/v20190125/meshes/(?P<meshName>[^/]+)/virtualServices$": AppMeshResponse.dispatch,
    "{0}/v20190125/meshes/(?P<meshName>[^/]+)/virtualServices/(?P<virtualServiceName>[^/]+)$": AppMeshResponse.dispatch,
}


class VirtualServiceNotFoundError(MeshError):
    code = 404

    def __init__(self, mesh_name: str, name: str) -> None:
        super().__init__("NotFoundException", f"There is no virtual service named {name} in the mesh {mesh_name}.")


class VirtualServiceNameTakenError(MeshError):
    code = 409

    def __init__(self, mesh_name: str, name: str) -> None:
        super().__init__(
            "ConflictException", f"There is already a virtual service named {name} in the mesh {mesh_name}."
        )


class ProviderNotFoundError(MeshError):
    code = 404

    def __init__(self, mesh_name: str, kind: str, name: str) -> None:
        super().__init__(
            "NotFoundException", f"The {kind} {name} named as provider does not exist in the mesh {mesh_name}."
        )


@dataclass
class VirtualService:
    mesh_name: str
    name: str
    arn: str
    mesh_owner: str
    resource_owner: str
    spec: dict[str, Any]
    client_token: str | None = None
    created_at: float = field(default_factory=lambda: datetime.now(UTC).timestamp())
    last_updated_at: float = field(default_factory=lambda: datetime.now(UTC).timestamp())
    uid: str = field(default_factory=lambda: uuid4().hex)
    version: int = 1
    status: str = "ACTIVE"

    def metadata(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.last_updated_at,
            "meshOwner": self.mesh_owner,
            "resourceOwner": self.resource_owner,
            "uid": self.uid,
            "version": self.version,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "meshName": self.mesh_name,
            "virtualServiceName": self.name,
            "metadata": self.metadata(),
            "spec": self.spec,
            "status": {"status": self.status},
        }

    def ref(self) -> dict[str, Any]:
        meta = self.metadata()
        meta.pop("uid")
        return {"meshName": self.mesh_name, "virtualServiceName": self.name, **meta}


def _services(backend: AppMeshBackend, mesh_name: str) -> dict[str, VirtualService]:
    """Virtual services per mesh, kept on the backend so a moto reset clears them."""
    store: dict[str, dict[str, VirtualService]] | None = getattr(backend, "_meshshift_virtual_services", None)
    if store is None:
        store = {}
        backend._meshshift_virtual_services = store  # type: ignore[attr-defined]
    # A mesh deleted and recreated must not inherit the old mesh's services.
    for stale in [name for name in store if name not in backend.meshes]:
        del store[stale]
    return store.setdefault(mesh_name, {})


def _check_provider(backend: AppMeshBackend, mesh_name: str, spec: dict[str, Any]) -> None:
    provider = spec.get("provider") or {}
    mesh = backend.meshes[mesh_name]
    node = (provider.get("virtualNode") or {}).get("virtualNodeName")
    if node is not None and node not in mesh.virtual_nodes:
        raise ProviderNotFoundError(mesh_name, "virtual node", node)
    router = (provider.get("virtualRouter") or {}).get("virtualRouterName")
    if router is not None and router not in mesh.virtual_routers:
        raise ProviderNotFoundError(mesh_name, "virtual router", router)


def _body(self: AppMeshResponse) -> dict[str, Any]:
    return json.loads(self.body) if self.body else {}


def create_virtual_service(self: AppMeshResponse) -> str:
    backend = self.appmesh_backend
    params = _body(self)
    mesh_name = self._get_param("meshName")
    backend._validate_mesh(mesh_name=mesh_name, mesh_owner=self._get_param("meshOwner"))
    name = params["virtualServiceName"]
    spec = params.get("spec") or {}
    services = _services(backend, mesh_name)
    existing = services.get(name)
    if existing is not None:
        # App Mesh's clientToken: the same request repeated returns the same resource.
        if params.get("clientToken") and existing.client_token == params.get("clientToken"):
            return json.dumps(existing.to_dict())
        raise VirtualServiceNameTakenError(mesh_name, name)
    _check_provider(backend, mesh_name, spec)
    mesh = backend.meshes[mesh_name]
    service = VirtualService(
        mesh_name=mesh_name,
        name=name,
        arn=f"arn:{backend.partition}:appmesh:{backend.region_name}:{backend.account_id}:mesh/{mesh_name}/virtualService/{name}",
        mesh_owner=mesh.metadata.mesh_owner,
        resource_owner=mesh.metadata.resource_owner,
        spec=spec,
        client_token=params.get("clientToken"),
    )
    services[name] = service
    return json.dumps(service.to_dict())


def _get(self: AppMeshResponse) -> VirtualService:
    backend = self.appmesh_backend
    mesh_name = self._get_param("meshName")
    backend._validate_mesh(mesh_name=mesh_name, mesh_owner=self._get_param("meshOwner"))
    name = self._get_param("virtualServiceName")
    service = _services(backend, mesh_name).get(name)
    if service is None:
        raise VirtualServiceNotFoundError(mesh_name, name)
    return service


def describe_virtual_service(self: AppMeshResponse) -> str:
    return json.dumps(_get(self).to_dict())


def update_virtual_service(self: AppMeshResponse) -> str:
    service = _get(self)
    spec = _body(self).get("spec") or {}
    _check_provider(self.appmesh_backend, service.mesh_name, spec)
    service.spec = spec
    service.version += 1
    service.last_updated_at = datetime.now(UTC).timestamp()
    return json.dumps(service.to_dict())


def delete_virtual_service(self: AppMeshResponse) -> str:
    service = _get(self)
    del _services(self.appmesh_backend, service.mesh_name)[service.name]
    service.status = "DELETED"
    return json.dumps(service.to_dict())


def list_virtual_services(self: AppMeshResponse) -> str:
    backend = self.appmesh_backend
    mesh_name = self._get_param("meshName")
    backend._validate_mesh(mesh_name=mesh_name, mesh_owner=self._get_param("meshOwner"))
    refs = [s.ref() for s in sorted(_services(backend, mesh_name).values(), key=lambda s: s.name)]
    limit = self._get_int_param("limit") or 100
    start = int(self._get_param("nextToken") or 0)
    page = refs[start : start + limit]
    next_token = str(start + limit) if start + limit < len(refs) else None
    return json.dumps({"virtualServices": page, "nextToken": next_token})


def _unavailable_answer() -> tuple[int, dict[str, str], str] | None:
    mode = os.environ.get(UNAVAILABLE_ENV, "").strip().lower()
    if mode in ("", "0", "false", "no"):
        return None
    if mode in ("403", "denied"):
        body = {"message": "App Mesh has reached end of support; this API no longer accepts requests."}
        return 403, {"x-amzn-ErrorType": "AccessDeniedException", "Content-Type": "application/json"}, json.dumps(body)
    return 404, {"Content-Type": "application/json"}, json.dumps({"message": "Not yet implemented"})


def _wrap_call_action(original: Callable[..., Any]) -> Callable[..., Any]:
    def call_action(self: AppMeshResponse) -> Any:
        answer = _unavailable_answer()
        if answer is not None:
            return answer
        return original(self)

    return call_action


def install() -> None:
    cls = AppMeshResponse
    if getattr(cls, "_meshshift_patched", False):
        return
    appmesh_urls.url_paths.update(_PATHS)
    # moto picks response methods by operation name (create_virtual_service, ...).
    for method in (
        create_virtual_service,
        describe_virtual_service,
        update_virtual_service,
        delete_virtual_service,
        list_virtual_services,
    ):
        setattr(cls, method.__name__, method)
    setattr(cls, "call_action", _wrap_call_action(cls.call_action))  # noqa: B010
    setattr(cls, "_meshshift_patched", True)  # noqa: B010
