"""Shared test harness. Fixtures live in plugin modules, one per area, so they stay small:

- ``tests.fixtures_temporal``: time-skipping and local dev-server environments, task queues;
- ``tests.fixtures_aws``: moto in-process and a ThreadedMotoServer with meshshift's extensions.
"""

pytest_plugins = ["tests.fixtures_temporal", "tests.fixtures_aws", "tests.iam_check"]
