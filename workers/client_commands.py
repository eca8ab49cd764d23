"""Commands of this area (placeholders until the area lands)."""

from __future__ import annotations

import typer

from workers.commands_placeholder import placeholder


def register(app: typer.Typer) -> None:
    placeholder(app, "plan", "Dry run - discovery, translation and the ramp plan; changes nothing.")
    placeholder(app, "start", "Validate a spec and start its migration.")
    placeholder(app, "status", "Show a migration's phase, weights, open gate and last events.")
    placeholder(app, "watch", "Follow a migration live until it ends.")
    placeholder(app, "approve", "Approve the open ramp gate.")
    placeholder(app, "reject", "Reject the migration (rolls back).")
    placeholder(app, "rollback", "Roll the migration back to 100% blue.")
    placeholder(app, "pause", "Pause the migration; weights are held.")
    placeholder(app, "resume", "Resume a paused migration.")
    placeholder(app, "list", "List migrations by app and phase.")
    placeholder(app, "history", "Show a migration's audit trail.")
