"""The figures of the latest reliability run, gathered into tests/.artifacts/reliability.json.

Each test records its own section (runs, kills, restarts, faults, inputs, violations...);
``python -m tests.reliability.report`` renders docs/reliability.md from the file.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts"
FIGURES = ARTIFACTS / "reliability.json"
_lock = threading.Lock()


def chaos_runs(default: int = 10) -> int:
    """``MESHSHIFT_CHAOS_RUNS`` scales every long form (make chaos sets 100)."""
    try:
        return max(1, int(os.environ.get("MESHSHIFT_CHAOS_RUNS", str(default))))
    except ValueError:
        return default


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Test outputs (figures, histories of failed runs): never committed.\n*\n")
    return ARTIFACTS / name


def record(section: str, **values: Any) -> None:
    """Replace ``section`` in the figures file with ``values`` (plus when it was recorded)."""
    # The file lock, because pytest-xdist runs tests in several processes that all record here.
    with _lock, artifact(FIGURES.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = artifact(FIGURES.name)
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        values["recorded_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        values["chaos_runs_setting"] = chaos_runs()
        data[section] = values
        path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
