"""Shared test harness. Fixtures live in plugin modules, one per area, so they stay small:

- ``tests.fixtures_temporal``: time-skipping and local dev-server environments, task queues;
- ``tests.fixtures_aws``: moto in-process and a ThreadedMotoServer with meshshift's extensions;
- ``tests.sns_signing``: the ``sns`` test signing authority for the alarm bridge's tests.
"""

pytest_plugins = ["tests.fixtures_temporal", "tests.fixtures_aws", "tests.sns_signing", "tests.iam_check"]
