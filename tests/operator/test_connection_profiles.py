"""Temporal's environment configuration (temporal.toml profiles) with the `temporal` CLI's precedence:
flags, then environment variables, then the profile, then meshshift's defaults. The worker, the CLI
and the alarm bridge all build their connection from TemporalSettings, so each level is tested
there, and end to end through the real console script against a dev server."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from meshshift.workers.client_commands import settings_from
from meshshift.workers.connection import TemporalSettings
from meshshift.workers.worker import WorkerSettings
from tests.foundation.procs import MESHSHIFT, meshshift_env

PROFILES = """
[profile.default]
address = "profile-default.example:7233"
namespace = "from-default-profile"

[profile.prod]
address = "prod.example:7233"
namespace = "from-prod-profile"
api_key = "profile-secret-key"
grpc_meta = { "x-route" = "blue" }
[profile.prod.tls]
server_name = "prod.example"
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No TEMPORAL_* variable and a HOME without a temporal.toml: only what a test sets applies."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_") or name == "MESHSHIFT_TASK_QUEUE":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return monkeypatch


@pytest.fixture
def profile_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "temporal.toml"
    path.write_text(PROFILES)
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(path))
    return path


def test_defaults_apply_without_flags_variables_or_profile(clean_env: pytest.MonkeyPatch) -> None:
    settings = TemporalSettings()
    assert (settings.address, settings.namespace, settings.api_key) == ("127.0.0.1:7233", "default", None)


def test_the_default_profile_applies_when_nothing_else_is_set(profile_file: Path) -> None:
    settings = TemporalSettings()
    assert (settings.address, settings.namespace) == ("profile-default.example:7233", "from-default-profile")


def test_temporal_profile_selects_the_profile(profile_file: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_PROFILE", "prod")
    settings = TemporalSettings()
    assert settings.address == "prod.example:7233"
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "profile-secret-key"
    assert settings.rpc_metadata == {"x-route": "blue"}
    tls = settings.tls_config()
    assert isinstance(tls, TLSConfig) and tls.domain == "prod.example"
    # The profile's key is as secret as the variable's.
    assert "profile-secret-key" not in repr(settings) and "profile-secret-key" not in settings.describe()


def test_a_variable_wins_over_the_profile_field_by_field(profile_file: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_PROFILE", "prod")
    clean_env.setenv("TEMPORAL_ADDRESS", "env.example:7233")
    settings = TemporalSettings()
    assert settings.address == "env.example:7233"
    assert settings.namespace == "from-prod-profile"  # not set in the environment: the profile's


def test_a_flag_wins_over_the_variable_and_the_profile(profile_file: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_PROFILE", "prod")
    clean_env.setenv("TEMPORAL_ADDRESS", "env.example:7233")
    clean_env.setenv("TEMPORAL_NAMESPACE", "from-env")
    cli = settings_from("flag.example:7233", None, None)
    assert (cli.address, cli.namespace) == ("flag.example:7233", "from-env")
    worker = WorkerSettings.model_validate({"namespace": "from-flag"})
    assert (worker.address, worker.namespace) == ("env.example:7233", "from-flag")


def test_inline_certificates_and_disabled_tls_from_a_profile(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mtls.toml"
    path.write_text(
        '[profile.default]\naddress = "mtls.example:7233"\n[profile.default.tls]\n'
        'client_cert_data = "CERT"\nclient_key_data = "KEY"\nserver_ca_cert_data = "CA"\n'
        '[profile.plain]\naddress = "plain.example:7233"\n[profile.plain.tls]\ndisabled = true\n'
    )
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(path))
    tls = TemporalSettings().tls_config()
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (b"CERT", b"KEY", b"CA")
    assert TemporalSettings().auth_kind() == "mTLS"
    clean_env.setenv("TEMPORAL_PROFILE", "plain")
    assert TemporalSettings().tls_config() is False


def test_an_unknown_profile_or_missing_file_is_a_clear_error(
    profile_file: Path, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("TEMPORAL_PROFILE", "staging")
    with pytest.raises(ValueError, match=r"Temporal profile 'staging'.*temporal config list"):
        TemporalSettings()
    clean_env.delenv("TEMPORAL_PROFILE")
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match=r"TEMPORAL_CONFIG_FILE=.*missing.toml: no such file"):
        TemporalSettings()


async def test_the_cli_connects_through_a_profile_alone(env_local: WorkflowEnvironment, tmp_path: Path) -> None:
    """`meshshift list` with no flag and no TEMPORAL_ADDRESS: the profile names the dev server."""
    address = env_local.client.service_client.config.target_host
    config = tmp_path / "temporal.toml"
    config.write_text(f'[profile.local]\naddress = "{address}"\nnamespace = "default"\n')
    env = {k: v for k, v in meshshift_env().items() if not k.startswith("TEMPORAL_")}
    env.update(TEMPORAL_CONFIG_FILE=str(config), TEMPORAL_PROFILE="local", HOME=str(tmp_path))
    done = await asyncio.to_thread(
        subprocess.run, [str(MESHSHIFT), "list"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    env["TEMPORAL_PROFILE"] = "missing"
    refused = await asyncio.to_thread(
        subprocess.run, [str(MESHSHIFT), "list"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert refused.returncode != 0 and "Temporal profile 'missing'" in refused.stderr
    assert "Traceback" not in refused.stderr
