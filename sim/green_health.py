"""Local deep-health endpoints for the demo's green services.

One small HTTP server per green service on 127.0.0.1 (a free port each). ``GET /health`` answers the
way a real service's deep health check does: the overall status plus one entry per dependency,
``{"status": "ok", "service": "frontend-sc", "checks": {"user-api": "ok", "users-db": "ok"}}``,
with HTTP 503 when a check fails. A dependency that is another green service is checked for real,
over HTTP, against that service's ``/live`` endpoint; databases and caches are simulated (their
state can be changed with ``set_dependency`` to show a failing check).

The ``deep_health_check`` activity reads ``checks`` and judges every entry, so this is what green
must pass before any traffic moves.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
PROBE_TIMEOUT_SECONDS = 2.0


class _Handler(BaseHTTPRequestHandler):
    server: _HealthServer

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/live":
            self._send(200, {"status": "ok", "service": self.server.service})
            return
        if self.path.split("?", 1)[0] != "/health":
            self._send(404, {"error": f"no such path {self.path}; try /health or /live"})
            return
        checks = self.server.run_checks()
        healthy = all(state == "ok" for state in checks.values())
        self._send(
            200 if healthy else 503,
            {"status": "ok" if healthy else "failing", "service": self.server.service, "checks": checks},
        )

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo's terminal shows the migration, not access logs."""


class _HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: str, owner: GreenHealth) -> None:
        super().__init__((HOST, 0), _Handler)
        self.service = service
        self.owner = owner

    def run_checks(self) -> dict[str, str]:
        return self.owner.check(self.service)


class GreenHealth:
    """The running health servers; ``urls`` are the deep /health URLs, one per green service."""

    def __init__(self, dependencies: Mapping[str, tuple[str, ...]], suffix: str = "-sc") -> None:
        self._suffix = suffix
        self._dependencies = {f"{name}{suffix}": deps for name, deps in dependencies.items()}
        self._simulated: dict[str, str] = {}
        self._lock = threading.Lock()
        self._servers: dict[str, _HealthServer] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> GreenHealth:
        try:
            for service in self._dependencies:
                server = _HealthServer(service, self)
                thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"health-{service}", daemon=True
                )
                thread.start()
                # Registered once serving: stop() calls shutdown(), which waits for serve_forever.
                self._servers[service] = server
                self._threads.append(thread)
        except BaseException:
            self.stop()
            raise
        return self

    def url(self, service: str, path: str = "/health") -> str:
        port = self._servers[service].server_address[1]
        return f"http://{HOST}:{port}{path}"

    @property
    def urls(self) -> list[str]:
        return [self.url(service) for service in self._servers]

    def set_dependency(self, name: str, state: str) -> None:
        """Change a simulated dependency's state (``ok``, ``timeout``, ``down``...)."""
        with self._lock:
            self._simulated[name] = state

    def check(self, service: str) -> dict[str, str]:
        checks: dict[str, str] = {}
        for dependency in self._dependencies.get(service, ()):
            sibling = f"{dependency}{self._suffix}"
            if sibling in self._servers:
                checks[dependency] = self._probe(self.url(sibling, "/live"))
            else:
                with self._lock:
                    checks[dependency] = self._simulated.get(dependency, "ok")
        return checks

    @staticmethod
    def _probe(url: str) -> str:
        try:
            # Loopback URL built from our own server's address.
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as response:  # noqa: S310
                return "ok" if response.status == 200 else f"http {response.status}"
        except urllib.error.HTTPError as err:
            return f"http {err.code}"
        except OSError as err:
            return f"unreachable ({getattr(err, 'reason', err)})"

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
