"""The simulated AWS: moto plus meshshift's extensions for what moto lacks or models unrealistically.

The extensions make it behave like an account: AWS's own side effects happen (ECS runs a
service's tasks and registers them in its target groups and in Cloud Map, targets drain), changes
take time (Route 53 INSYNC, CloudFront Deployed, ECS deployments, health checks), calls take time
and a busy account is throttled. How much time is set by sim/aws/settings.py (profiles ``instant``
and ``realistic``, a speed factor, one knob per behaviour); docs/simulation.md has the table.

This is a test and demo double. The activity code that runs against it is the code that runs
against real AWS; only the endpoint differs (``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from meshshift.sim.aws import account, appmesh, cloudfront, cloudwatch, ecs, elbv2, route53
from meshshift.sim.aws.settings import SimSettings, configure

_installed = False
_install_lock = threading.Lock()


def install_extensions() -> None:
    """Register the extensions on moto's backends and response classes. Idempotent."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for area in (account, ecs, elbv2, route53, appmesh, cloudfront, cloudwatch):
            area.install()
        _installed = True


class SimulatedAwsServer:
    """A running simulated AWS endpoint (moto's ThreadedMotoServer with the extensions)."""

    def __init__(self, server: Any, host: str, port: int) -> None:
        self._server = server
        self.host = host
        self.port = port

    @property
    def endpoint(self) -> str:
        """The value for ``AWS_ENDPOINT_URL``."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.stop()


def serve(
    port: int, host: str = "127.0.0.1", log_requests: bool = False, settings: SimSettings | None = None
) -> SimulatedAwsServer:
    """Start the simulated AWS on ``host:port`` in a background thread and return it running.

    ``settings`` (the profile, speed and knobs) apply to the whole process, as moto's state does;
    None keeps the current ones (``realistic`` at speed 1 unless configured).

    ``port=0`` picks a free port. Raises ``OSError`` if the port cannot be bound (moto's own
    ThreadedMotoServer would wait forever in that case, because its ready event is never set).
    Raises ``ModuleNotFoundError`` if moto is not installed (``pip install meshshift[sim]``).
    """
    from moto.server import ThreadedMotoServer

    # werkzeug logs one line per request at INFO; keep tests and the demo quiet unless asked.
    logging.getLogger("werkzeug").setLevel(logging.INFO if log_requests else logging.WARNING)

    install_extensions()
    if settings is not None:
        configure(settings)

    class _Server(ThreadedMotoServer):
        bind_error: OSError | None = None

        def _server_entry(self) -> None:
            try:
                super()._server_entry()
            except (OSError, SystemExit) as err:
                # werkzeug reports a busy port by printing and calling sys.exit(1).
                if self._server_ready_event.is_set():
                    raise
                self.bind_error = err if isinstance(err, OSError) else OSError(f"cannot bind {host}:{port}")
                self._server_ready_event.set()

    server = _Server(ip_address=host, port=port, verbose=False)
    server.start()
    if server.bind_error is not None:
        raise server.bind_error
    bound_host, bound_port = server.get_host_and_port()
    return SimulatedAwsServer(server, bound_host, bound_port)
