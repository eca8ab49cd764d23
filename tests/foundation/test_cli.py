"""The console script's surface: every registered command is listed, errors are one line."""

from __future__ import annotations

import typer.main

from meshshift.workers.cli import app
from tests.foundation.procs import run_meshshift

# Commands a user can rely on from the first version; later issues fill them in.
CONTRACT_COMMANDS = {"server", "worker", "demo", "start", "status", "approve", "reject", "rollback", "pause", "resume"}


def test_help_lists_every_registered_command() -> None:
    registered = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert registered >= CONTRACT_COMMANDS

    result = run_meshshift("--help")

    assert result.returncode == 0, result.stderr
    listed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 1}
    assert registered <= listed, f"missing from --help: {sorted(registered - listed)}"


def test_server_help_shows_loopback_defaults() -> None:
    result = run_meshshift("server", "--help")

    assert result.returncode == 0, result.stderr
    for expected in ("--port", "--ui-port", "--data-dir", "7233", "8233"):
        assert expected in result.stdout
