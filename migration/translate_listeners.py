"""A virtual node's (or gateway's) listeners: what becomes Service Connect settings, what is reported.

| listener construct          | green                                                                   |
|-----------------------------|-------------------------------------------------------------------------|
| port and protocol           | a named port mapping with ``appProtocol`` (translate_taskdef)           |
| per-request and idle timeout| ``timeout`` of the port's Service Connect entry                         |
| TLS (STRICT / PERMISSIVE)   | reported: Service Connect TLS needs an AWS Private CA meshshift lacks   |
| validation (client certs)   | reported: mutual TLS has no Service Connect equivalent                  |
| connection pool             | reported: no equivalent                                                 |
| outlier detection           | reported: Service Connect's own is fixed                                |
| active health check         | reported: Service Connect does not probe; use ECS and ALB health checks |
"""

from __future__ import annotations

from meshshift.migration.contracts import AppMeshListener, ServiceConnectTimeout, UntranslatableItem
from meshshift.migration.translate_taskdef import ServedPort

TLS_NEXT_STEP = (
    "give green Service Connect TLS from an AWS Private CA (services[].tls.issuerCertificateAuthority."
    "awsPcaAuthorityArn and roleArn): create green with your infrastructure code and use green.provision: "
    "existing; without it traffic between green services is plain text"
)
MTLS_NEXT_STEP = (
    "replace certificate-based authorization before the ramp: security groups between green services, "
    "IAM-signed (SigV4) requests or an application-level check"
)
_CERTIFICATE_SOURCES = {
    "acm": "an ACM certificate",
    "file": "a certificate file in the Envoy container",
    "sds": "SDS (for example SPIRE)",
}


def certificate_source(kind: str | None) -> str:
    return _CERTIFICATE_SOURCES.get((kind or "").lower(), kind or "an unknown source")


def listener_items(service: str | None, owner: str, listener: AppMeshListener) -> list[UntranslatableItem]:
    """Everything on one listener that green does not get. ``owner`` names the node or gateway."""
    resource = f"{owner}, listener {listener.port}/{listener.protocol}"
    found = [
        tls_item(service, resource, listener),
        mtls_item(service, resource, listener),
        connection_pool_item(service, resource, listener),
        outlier_detection_item(service, resource, listener),
        health_check_item(service, resource, listener),
    ]
    return [item for item in found if item is not None]


def tls_item(service: str | None, resource: str, listener: AppMeshListener) -> UntranslatableItem | None:
    mode = (listener.tls_mode or "").upper()
    if mode not in ("STRICT", "PERMISSIVE"):
        return None
    accepts = "accepts TLS and plain text" if mode == "PERMISSIVE" else "accepts TLS only"
    source = f", certificate from {certificate_source(listener.tls_certificate)}" if listener.tls_certificate else ""
    own_certs = (
        "; Service Connect issues its own certificates from the Private CA, so this certificate is not used"
        if (listener.tls_certificate or "").lower() in ("file", "sds")
        else ""
    )
    return UntranslatableItem(
        service=service,
        app_mesh_construct="TLS",
        resource=resource,
        detail=f"the listener terminates TLS ({mode}: {accepts}{source}); green's Service Connect entry gets no "
        f"tls block{own_certs}",
        next_step=TLS_NEXT_STEP,
    )


def mtls_item(service: str | None, resource: str, listener: AppMeshListener) -> UntranslatableItem | None:
    if not listener.tls_validation:
        return None
    return UntranslatableItem(
        service=service,
        app_mesh_construct="mTLS",
        resource=resource,
        detail=f"listener validation checks client certificates (mutual TLS, trust from "
        f"{certificate_source(listener.tls_validation)}): Service Connect has no mTLS and accepts any caller "
        "in the namespace",
        next_step=MTLS_NEXT_STEP,
    )


def connection_pool_item(service: str | None, resource: str, listener: AppMeshListener) -> UntranslatableItem | None:
    if not (listener.has_connection_pool or listener.connection_pool):
        return None
    limits = _settings(listener.connection_pool)
    return UntranslatableItem(
        service=service,
        app_mesh_construct="connection pool",
        resource=resource,
        detail=f"connection pool limits{limits} have no Service Connect equivalent; green's proxy does not cap "
        "connections or pending requests",
        next_step="if the limits protected the service, cap concurrency in the application or scale it "
        "(ECS service auto scaling) before the ramp",
    )


def outlier_detection_item(service: str | None, resource: str, listener: AppMeshListener) -> UntranslatableItem | None:
    if not (listener.has_outlier_detection or listener.outlier_detection):
        return None
    settings = _settings(listener.outlier_detection)
    return UntranslatableItem(
        service=service,
        app_mesh_construct="outlier detection",
        resource=resource,
        detail=f"outlier detection{settings} cannot be tuned: Service Connect's proxy ejects failing tasks with "
        "its own fixed settings",
        next_step="check that the fixed behaviour suits the service, and watch green's 5xx during the first steps",
    )


def health_check_item(service: str | None, resource: str, listener: AppMeshListener) -> UntranslatableItem | None:
    if not listener.health_check:
        return None
    return UntranslatableItem(
        service=service,
        app_mesh_construct="health check",
        resource=resource,
        detail=f"Envoy's active health check ({listener.health_check}) is not carried over: Service Connect does "
        "not probe tasks",
        next_step="give the application container an ECS healthCheck (and its target group a health check) on "
        "the same path, so unhealthy green tasks are replaced",
    )


def _settings(values: dict[str, int]) -> str:
    return f" ({', '.join(f'{k} {v}' for k, v in sorted(values.items()))})" if values else ""


def port_timeout(
    port: ServedPort, route_per_request: int | None, route_idle: int | None = None
) -> ServiceConnectTimeout | None:
    """The Service Connect ``timeout`` of one port: the longer of the listener's and the routes'."""
    listener = port.listener
    per_request = max(filter(None, [route_per_request, listener.timeout_seconds if listener else None]), default=None)
    idle = max(filter(None, [route_idle, listener.idle_timeout_seconds if listener else None]), default=None)
    # Service Connect refuses a per-request timeout on TCP ports (no appProtocol).
    if port.app_protocol is None:
        per_request = None
    if per_request is None and idle is None:
        return None
    return ServiceConnectTimeout(perRequestTimeoutSeconds=per_request, idleTimeoutSeconds=idle)
