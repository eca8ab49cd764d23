"""A listener's constructs: timeouts translated; TLS, mTLS, pools, outlier detection, health checks reported."""

from __future__ import annotations

from meshshift.migration.contracts import AppMeshListener
from meshshift.migration.translate import translate_service
from meshshift.migration.translate_listeners import (
    connection_pool_item,
    health_check_item,
    listener_items,
    mtls_item,
    outlier_detection_item,
    port_timeout,
    tls_item,
)
from meshshift.migration.translate_taskdef import ServedPort
from tests.unit.meshdata import blue_task_definition, inventory

RESOURCE = "virtual node a-vn, listener 8080/http"


def listener(**extra: object) -> AppMeshListener:
    return AppMeshListener.model_validate({"port": 8080, "protocol": "http", **extra})


def test_tls_modes() -> None:
    assert tls_item("a", RESOURCE, listener()) is None
    assert tls_item("a", RESOURCE, listener(tls_mode="DISABLED")) is None
    strict = tls_item("a", RESOURCE, listener(tls_mode="STRICT", tls_certificate="acm"))
    assert strict is not None and strict.app_mesh_construct == "TLS"
    assert "STRICT: accepts TLS only, certificate from an ACM certificate" in strict.detail
    assert "awsPcaAuthorityArn" in strict.next_step
    permissive = tls_item("a", RESOURCE, listener(tls_mode="PERMISSIVE"))
    assert permissive is not None and "accepts TLS and plain text" in permissive.detail


def test_file_and_sds_certificates_are_named_as_unused() -> None:
    for source, words in (("file", "a certificate file"), ("sds", "SDS (for example SPIRE)")):
        item = tls_item("a", RESOURCE, listener(tls_mode="STRICT", tls_certificate=source))
        assert item is not None and words in item.detail and "this certificate is not used" in item.detail


def test_listener_validation_is_mtls_and_reported_explicitly() -> None:
    assert mtls_item("a", RESOURCE, listener(tls_mode="STRICT")) is None
    item = mtls_item("a", RESOURCE, listener(tls_mode="STRICT", tls_validation="sds"))
    assert item is not None and item.app_mesh_construct == "mTLS"
    assert "client certificates" in item.detail and "Service Connect has no mTLS" in item.detail
    assert "security groups" in item.next_step


def test_connection_pool_outlier_detection_and_health_check() -> None:
    assert connection_pool_item("a", RESOURCE, listener()) is None
    pool = connection_pool_item("a", RESOURCE, listener(connection_pool={"maxConnections": 100}))
    assert pool is not None and "(maxConnections 100)" in pool.detail
    legacy = connection_pool_item("a", RESOURCE, listener(has_connection_pool=True))
    assert legacy is not None and "connection pool limits have no" in legacy.detail
    outlier = outlier_detection_item("a", RESOURCE, listener(outlier_detection={"maxServerErrors": 5}))
    assert outlier is not None and "maxServerErrors 5" in outlier.detail
    check = health_check_item("a", RESOURCE, listener(health_check="http /ping every 5000 ms"))
    assert check is not None and "http /ping" in check.detail and "healthCheck" in check.next_step
    assert health_check_item("a", RESOURCE, listener()) is None


def test_every_construct_of_a_listener_at_once() -> None:
    everything = listener(
        tls_mode="STRICT",
        tls_certificate="file",
        tls_validation="file",
        connection_pool={"maxRequests": 10},
        outlier_detection={"maxServerErrors": 3},
        health_check="http /ping",
    )
    items = listener_items("a", "virtual node a-vn", everything)
    assert [i.app_mesh_construct for i in items] == [
        "TLS",
        "mTLS",
        "connection pool",
        "outlier detection",
        "health check",
    ]
    assert {i.resource for i in items} == {RESOURCE}


def test_timeouts_take_the_longest_and_never_set_per_request_on_tcp() -> None:
    http = ServedPort(port=8080, listener=listener(timeout_seconds=15, idle_timeout_seconds=60), app_protocol="http")
    timeout = port_timeout(http, 30, 120)
    assert timeout is not None and (timeout.perRequestTimeoutSeconds, timeout.idleTimeoutSeconds) == (30, 120)
    tcp = ServedPort(port=7000, listener=AppMeshListener(port=7000, protocol="tcp", idle_timeout_seconds=60))
    timeout = port_timeout(tcp, 30)
    assert timeout is not None and (timeout.perRequestTimeoutSeconds, timeout.idleTimeoutSeconds) == (None, 60)
    assert port_timeout(ServedPort(port=1), None) is None


def test_translate_service_reports_the_listener_constructs_under_the_service() -> None:
    mesh = inventory(listeners=[listener(tls_mode="STRICT", tls_validation="acm")])
    out = translate_service(blue_task_definition(), service_name="user-api", family_suffix="-sc", appmesh=mesh)
    mtls = [u for u in out.untranslatable if u.app_mesh_construct == "mTLS"]
    assert [(u.service, u.resource) for u in mtls] == [("user-api", "virtual node user-api-vn, listener 8080/http")]
    assert out.services[0].tls is None  # meshshift never invents a Private CA
