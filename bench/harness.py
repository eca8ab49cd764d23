"""The processes a benchmark runs against: the simulated AWS, the Temporal dev server and the
meshshift worker, each in its own process so that the worker's CPU and memory are its own.

All three bind 127.0.0.1 on free ports; all state lives in a temporary directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from meshshift.sim.demo_world import aws_environment, sim_environment
from meshshift.workers.embedded_server import EmbeddedServer

READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, done: Any, process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready within {timeout:.0f}s")
        time.sleep(0.05)


class SimulatedAws:
    """``meshshift sim`` in a subprocess (moto + extensions), so moto's CPU does not share our GIL.

    On the instant profile: AWS's side effects still happen (tasks start and register, targets
    drain) but at once, so that a benchmark measures meshshift, not AWS's propagation times.
    """

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = (workdir / "sim.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "meshshift.workers.cli", "sim", "--port", str(self.port), "--profile", "instant"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        _wait("the simulated AWS", self._answers, self.process)

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1):
            return True
        return False

    def reset(self) -> None:
        """An empty account: moto's list operations then stay fast from one benchmark to the next."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@dataclass
class ProcessSample:
    """Peak RSS and CPU seconds of a process over a window (sampled every ``interval``)."""

    peak_rss: int = 0
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    wall_start: float = 0.0
    wall_end: float = 0.0

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_end - self.cpu_start

    @property
    def cpu_cores(self) -> float:
        """Average cores used over the window (1.0 = one core fully busy)."""
        wall = self.wall_end - self.wall_start
        return self.cpu_seconds / wall if wall > 0 else 0.0


class ProcessSampler:
    """Samples a process's RSS in a thread; ``window()`` measures CPU and peak RSS over a block."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._lock = threading.Lock()
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                rss = self._process.memory_info().rss
                with self._lock:
                    self._peak = max(self._peak, rss)
            self._stop.wait(self._interval)

    def _cpu(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    @contextlib.contextmanager
    def window(self) -> Iterator[ProcessSample]:
        sample = ProcessSample(cpu_start=self._cpu(), wall_start=time.monotonic())
        with self._lock:
            self._peak = self._process.memory_info().rss
        try:
            yield sample
        finally:
            sample.cpu_end = self._cpu()
            sample.wall_end = time.monotonic()
            with self._lock:
                sample.peak_rss = max(self._peak, self._process.memory_info().rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class WorkerProcess:
    """``bench.worker``: the real meshshift worker plus call counting and optional AWS latency."""

    def __init__(
        self,
        workdir: Path,
        address: str,
        endpoint: str,
        aws_latency_ms: float,
        priority_lane: bool = True,
        serve: str = "all",
        task_queue: str | None = None,
    ) -> None:
        self.task_queue = task_queue or f"bench-{uuid.uuid4().hex[:8]}"
        name = f"{self.task_queue}-{serve}"
        self._stats = workdir / f"{name}.stats.json"
        ready = workdir / f"{name}.ready"
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        env = {**os.environ, **sim_environment(endpoint)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.worker",
                "--address",
                address,
                "--task-queue",
                self.task_queue,
                "--stats",
                str(self._stats),
                "--ready",
                str(ready),
                "--aws-latency-ms",
                str(aws_latency_ms),
                "--serve",
                serve,
                *([] if priority_lane else ["--no-priority-lane"]),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        _wait("the bench worker", ready.exists, self.process)
        self.sampler = ProcessSampler(self.process.pid)

    def calls(self) -> dict[str, int]:
        """AWS calls made so far, per ``service.Operation`` (at most 0.1 s stale)."""
        for _ in range(20):
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                counts: dict[str, int] = json.loads(self._stats.read_text())["calls"]
                return counts
            time.sleep(0.05)
        return {}

    def writes(self) -> dict[str, list[float]]:
        """When AWS answered the worker's latest writes to each edge resource (bench.worker.WriteClock;
        at most 0.1 s stale)."""
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            answered: dict[str, list[float]] = json.loads(self._stats.read_text()).get("writes", {})
            return answered
        return {}

    def fresh_calls(self) -> dict[str, int]:
        """Counts written after this call began (waits for the worker's next write)."""
        time.sleep(0.25)
        return self.calls()

    def stop(self) -> None:
        self.sampler.stop()
        self.process.terminate()
        try:
            self.process.wait(40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@dataclass
class Harness:
    """The dev server and the simulated AWS for a whole bench run; a fresh worker per benchmark."""

    aws_latency_ms: float = 0.0
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="meshshift-bench-")))
    server: EmbeddedServer | None = None
    sim: SimulatedAws | None = None
    client: Client | None = None
    sim_sampler: ProcessSampler | None = None
    server_sampler: ProcessSampler | None = None
    _env: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    async def start(self) -> None:
        self.sim = SimulatedAws(self.workdir)
        self._env.enter_context(aws_environment(self.sim.endpoint))
        self.server = EmbeddedServer(port=free_port(), ui_port=None, data_dir=self.workdir / "temporal")
        self.server.start()
        self.client = await Client.connect(
            self.server.address, namespace="default", data_converter=pydantic_data_converter
        )
        assert self.server.pid is not None
        self.sim_sampler = ProcessSampler(self.sim.process.pid, interval=0.25)
        self.server_sampler = ProcessSampler(self.server.pid, interval=0.25)

    @contextlib.contextmanager
    def others(self) -> Iterator[dict[str, ProcessSample]]:
        """CPU and peak RSS of the simulated AWS and the Temporal dev server over a block."""
        assert self.sim_sampler is not None and self.server_sampler is not None
        with self.sim_sampler.window() as sim, self.server_sampler.window() as server:
            yield {"simulated_aws": sim, "temporal_dev_server": server}

    def worker(self, *, priority_lane: bool = True, serve: str = "all", task_queue: str | None = None) -> WorkerProcess:
        """A worker process; ``serve`` and ``task_queue`` make one of a split pair (WorkerRole)."""
        assert self.server is not None and self.sim is not None
        return WorkerProcess(
            self.workdir,
            self.server.address,
            self.sim.endpoint,
            self.aws_latency_ms,
            priority_lane=priority_lane,
            serve=serve,
            task_queue=task_queue,
        )

    def stop(self) -> None:
        for sampler in (self.sim_sampler, self.server_sampler):
            if sampler is not None:
                sampler.stop()
        if self.server is not None:
            self.server.stop()
        if self.sim is not None:
            self.sim.stop()
        self._env.close()
