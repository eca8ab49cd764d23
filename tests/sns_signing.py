"""A test certificate authority that signs SNS messages exactly as SNS does, and serves its
signing certificate over HTTPS on loopback, so the alarm bridge's verification runs for real;
plus the ``sns`` fixture and a bridge wired to it, shared by the bridge's tests."""

from __future__ import annotations

import base64
import http.server
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from meshshift.workers.alarm_bridge import AlarmBridge, AlarmNotice
from meshshift.workers.sns import SnsEnvelope, SnsVerifier, https_fetcher, string_to_sign


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class SnsTestAuthority:
    signing_key: rsa.RSAPrivateKey
    cert_url: str
    cert_url_prefix: str
    client_context: ssl.SSLContext
    topic_arn: str = "arn:aws:sns:us-east-1:123456789012:shop-alarms"

    def sign(self, fields: dict[str, Any], version: str = "2", key: rsa.RSAPrivateKey | None = None) -> bytes:
        envelope = {
            "MessageId": "00000000-0000-0000-0000-000000000001",
            "TopicArn": self.topic_arn,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "SignatureVersion": version,
            "SigningCertURL": self.cert_url,
            "Signature": "",
            **fields,
        }
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        to_sign = string_to_sign(SnsEnvelope.model_validate(envelope))
        signature = (key or self.signing_key).sign(to_sign, padding.PKCS1v15(), algorithm)
        envelope["Signature"] = base64.b64encode(signature).decode()
        return json.dumps(envelope).encode()

    def alarm(self, alarm_name: str, state: str = "ALARM", **extra: Any) -> bytes:
        message = json.dumps(
            {
                "AlarmName": alarm_name,
                "NewStateValue": state,
                "NewStateReason": "Threshold Crossed",
                "Region": "us-east-1",
            }
        )
        return self.sign({"Type": "Notification", "Message": message, "Subject": f"ALARM: {alarm_name}", **extra})


@contextmanager
def serve_test_sns() -> Iterator[SnsTestAuthority]:
    """Create a CA, a signing cert and a TLS server cert; serve the signing cert on https://127.0.0.1."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = _cert("meshshift test CA", ca_key, "meshshift test CA", ca_key, ca=True)
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_cert = _cert("sns test signer", signing_key, "meshshift test CA", ca_key, ca=False)
    tls_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tls_cert = _cert("localhost", tls_key, "meshshift test CA", ca_key, ca=False)
    pem = signing_cert.public_bytes(serialization.Encoding.PEM)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pem if self.path.endswith(".pem") else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file, ca_file = Path(tmp, "tls.pem"), Path(tmp, "tls.key"), Path(tmp, "ca.pem")
        cert_file.write_bytes(tls_cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            tls_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert_file, key_file)
        server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        client_ctx = ssl.create_default_context(cafile=str(ca_file))
        prefix = f"https://127.0.0.1:{server.server_address[1]}/"
        try:
            yield SnsTestAuthority(signing_key, prefix + "SimpleNotificationService-test.pem", prefix, client_ctx)
        finally:
            server.shutdown()
            server.server_close()


class RecordingRouter:
    """Routes every alarm to one migration and remembers what it was given."""

    def __init__(self) -> None:
        self.notices: list[AlarmNotice] = []

    async def route(self, notice: AlarmNotice) -> list[str]:
        self.notices.append(notice)
        return ["mesh-migration-shop"]


@pytest.fixture(scope="module")
def sns() -> Iterator[SnsTestAuthority]:
    with serve_test_sns() as authority:
        yield authority


def make_bridge(sns: SnsTestAuthority, router: RecordingRouter, confirmed: list[str] | None = None) -> AlarmBridge:
    """A bridge that trusts only the test authority's topic and certificate."""
    verifier = SnsVerifier(
        allowed_topics={sns.topic_arn},
        fetcher=https_fetcher(sns.client_context),
        test_cert_url_prefix=sns.cert_url_prefix,
    )
    return AlarmBridge(verifier, router, confirm=(confirmed.append if confirmed is not None else lambda _: None))
