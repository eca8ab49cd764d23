"""The `meshshift demo` console script as a user runs it: a busy port is one clear line, and Ctrl-C
or SIGTERM stops everything the demo started (the Temporal server child included)."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.foundation.procs import MESHSHIFT, meshshift_env, run_meshshift
from tests.netutil import free_ports


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_busy_port_names_the_flag_and_starts_nothing(tmp_path: Path) -> None:
    (ui_port,) = free_ports(1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_meshshift("demo", "--port", str(port), "--ui-port", str(ui_port), "--data-dir", str(tmp_path))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"meshshift demo: error: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_at_an_approval_gate_stops_everything(tmp_path: Path, signum: signal.Signals) -> None:
    port, ui_port = free_ports(2)
    # The simulated AWS at 100x: this test is about stop signals, and the gate comes sooner.
    args = [
        "demo",
        "--speed",
        "20",
        "--sim-speed",
        "100",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--data-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(
        [str(MESHSHIFT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=meshshift_env(),
    )
    seen: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if "waiting for approval of step 1%" in line:
                break
        else:
            raise AssertionError("the demo ended before its first gate:\n" + "".join(seen))
        output = "".join(seen)
        assert "meshshift approve shop --as alice --address" in output
        assert "temporal workflow signal --workflow-id mesh-migration-shop --name approve" in output
        process.send_signal(signum)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert "everything the demo started has been stopped" in err
    # The Temporal server and its Web UI were stopped, not left behind.
    assert port_is_free(port) and port_is_free(ui_port)
