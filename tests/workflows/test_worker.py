"""Worker wiring: every activity registered under its contract name, settings from flags and env."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.migration import contracts
from meshshift.workers.worker import (
    DEFAULT_MAX_CONCURRENT_COMPENSATIONS,
    WorkerRole,
    WorkerSettings,
    activity_methods,
    activity_objects,
    build_worker,
)

ACTIVITY_NAMES = {definition.name for definition in contracts.ACTIVITIES}


def test_every_contract_activity_is_registered() -> None:
    methods = activity_methods(activity_objects(None, AwsClients()))  # type: ignore[arg-type]
    names = [m.__temporal_activity_definition.name for m in methods]
    assert sorted(names) == sorted(ACTIVITY_NAMES)  # each definition implemented exactly once


def test_every_activity_definition_is_listed_in_activities() -> None:
    defined = {v for k, v in vars(contracts).items() if isinstance(v, contracts.ActivityDef)}
    assert defined == set(contracts.ACTIVITIES)
    assert len({d.name for d in defined}) == len(defined), "activity names are unique"


async def test_build_worker_requires_the_pydantic_converter(env_timeskipping: WorkflowEnvironment) -> None:
    worker = build_worker(env_timeskipping.client, "tq-build", AwsClients(), 4)
    # Both queues, or a rollback (scheduled on the second) would wait for a worker forever.
    assert worker.task_queues == ("tq-build", "tq-build-compensation")
    assert worker.compensation.config()["max_concurrent_activities"] == DEFAULT_MAX_CONCURRENT_COMPENSATIONS
    assert worker.compensation.config()["workflows"] == []
    plain = await type(env_timeskipping.client).connect(
        env_timeskipping.client.service_client.config.target_host, namespace="default"
    )
    with pytest.raises(ValueError, match="pydantic_data_converter"):
        build_worker(plain, "tq-build", AwsClients(), 4)


def test_settings_from_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "prod")
    monkeypatch.setenv("TEMPORAL_API_KEY", "s3cret-key")
    monkeypatch.setenv("MESHSHIFT_TASK_QUEUE", "mq")
    monkeypatch.setenv("ADDRESS", "not-this-one")
    settings = WorkerSettings()
    assert (settings.address, settings.namespace, settings.task_queue) == ("temporal.example:7233", "prod", "mq")
    assert settings.tls_config() is True  # an API key implies TLS
    assert "s3cret" not in settings.describe() and "s3cret" not in repr(settings)
    monkeypatch.setenv("MESHSHIFT_MAX_CONCURRENT_COMPENSATIONS", "4")
    assert WorkerSettings().max_concurrent_compensations == 4
    assert "task queue mq (max 50 concurrent activities) and task queue mq-compensation" in WorkerSettings().describe()
    monkeypatch.setenv("MESHSHIFT_WORKER_SERVE", "compensation")
    assert WorkerSettings().serve is WorkerRole.COMPENSATION
    assert "task queue mq-compensation (max 4 concurrent compensations) only" in WorkerSettings().describe()
    with pytest.raises(ValueError, match="'all', 'migrations' or 'compensation'"):
        WorkerSettings(serve="rollbacks")
    flagged = WorkerSettings(address="127.0.0.1:9999", max_concurrent_activities=3)
    assert flagged.address == "127.0.0.1:9999" and flagged.max_concurrent_activities == 3


def test_half_configured_mtls_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("cert")
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(cert))
    with pytest.raises(ValueError, match="TEMPORAL_TLS_CLIENT_KEY_PATH"):
        WorkerSettings().tls_config()


def test_worker_versioning_needs_both_deployment_name_and_build_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHSHIFT_DEPLOYMENT_NAME", raising=False)
    monkeypatch.delenv("MESHSHIFT_BUILD_ID", raising=False)
    assert WorkerSettings().deployment() is None  # neither: unversioned, as before
    monkeypatch.setenv("MESHSHIFT_DEPLOYMENT_NAME", "meshshift")
    with pytest.raises(ValueError, match="--build-id / MESHSHIFT_BUILD_ID is not set"):
        WorkerSettings()
    config = WorkerSettings(build_id="b7").deployment()  # the flag completes the variable
    assert config is not None and config.use_worker_versioning
    assert (config.version.deployment_name, config.version.build_id) == ("meshshift", "b7")
    assert "version meshshift.b7" in WorkerSettings(build_id="b7").describe()
