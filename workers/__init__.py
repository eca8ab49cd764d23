"""Process wiring and entry points: the CLI, the worker, the embedded server, the alarm bridge."""
