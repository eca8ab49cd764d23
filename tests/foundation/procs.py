"""Run the real `meshshift` console script as a child process, the way a user does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MESHSHIFT = Path(sys.executable).parent / "meshshift"


def meshshift_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MESHSHIFT_TEMPORAL_BIN", None)
    # Wide enough that rich never wraps or truncates a command name in --help.
    env["COLUMNS"] = "200"
    env.update(overrides)
    return env


def run_meshshift(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MESHSHIFT), *args],
        capture_output=True,
        text=True,
        env=env or meshshift_env(),
        timeout=timeout,
        check=False,
    )


@dataclass
class ServerProcess:
    """`meshshift server` in the background; `ready()` blocks until it prints its Web UI line."""

    port: int
    ui_port: int
    data_dir: Path
    process: subprocess.Popen[str] = field(init=False)
    banner: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.process = subprocess.Popen(
            [
                str(MESHSHIFT),
                "server",
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--data-dir",
                str(self.data_dir),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=meshshift_env(),
        )

    def ready(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.banner.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                return
        raise AssertionError(f"meshshift server exited before it was ready: {self.stop_output()}")

    def terminate(self, timeout: float = 60) -> tuple[int, str]:
        """SIGTERM, as a service manager would send; returns the exit code and stderr."""
        self.process.send_signal(signal.SIGTERM)
        _out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, err

    def stop_output(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        _out, err = self.process.communicate(timeout=60)
        return err

    def kill_if_running(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=60)
