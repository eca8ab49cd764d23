"""A local HTTPS webhook receiver on 127.0.0.1 with a self-signed certificate made on the spot
(``cryptography``), for the notification tests. A test trusts it the way a worker trusts a private
CA: ``SSL_CERT_FILE`` names the certificate (the ``trusted_receiver`` fixture sets it)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# A secret in the path, as Slack's webhook URLs carry one: tests check it never leaks.
SECRET_PATH = "/services/T000/B000/s3cr3t-t0ken"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Receiver:
    url: str
    cert: Path
    received: list[dict[str, Any]] = field(default_factory=list)
    # Answers to give, in order (status, body, extra headers); then 200 "ok".
    answers: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    cert, key = self_signed(tmp_path)
    state = Receiver(url="", cert=cert)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(
                {"path": self.path, "content_type": self.headers["Content-Type"], "json": json.loads(body)}
            )
            status, text, headers = state.answers.pop(0) if state.answers else (200, "ok", {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"https://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def trusted_receiver(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    """The worker trusts the receiver's certificate (as it would a private CA, via SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(receiver.cert))
    return receiver
