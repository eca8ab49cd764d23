"""Connecting to Temporal: one settings model and one ``connect`` for the worker, the CLI client and
the alarm bridge.

Settings come, field by field and with the same precedence as the ``temporal`` CLI, from flags,
else the standard Temporal environment variables (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``), else Temporal's own environment configuration: the
profile named by ``TEMPORAL_PROFILE`` (default ``default``) in ``TEMPORAL_CONFIG_FILE`` or the
default ``temporal.toml``, read with ``temporalio.envconfig`` exactly as ``temporal config`` writes
it. So the same process connects to a dev server, a self-hosted cluster with mTLS, or Temporal
Cloud with an API key, and someone who already uses profiles configures nothing twice.
The API key is a ``SecretStr``: it is never logged, printed or shown in a repr.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile, DataSource
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from meshshift.migration.constants import DEFAULT_TASK_QUEUE

DEFAULT_ADDRESS = "127.0.0.1:7233"


class TemporalUnreachable(RuntimeError):
    """Temporal did not answer at the configured address; the message says what to do."""


class TemporalSettings(BaseSettings):
    """Where Temporal is and how to authenticate. Field values come from flags, else the environment."""

    # The prefix only guards field names against generic variables (ADDRESS, TLS); the real
    # variables are the aliases (TEMPORAL_*, MESHSHIFT_*).
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_prefix="MESHSHIFT_TEMPORAL_")

    address: str = Field(default=DEFAULT_ADDRESS, validation_alias="TEMPORAL_ADDRESS")
    namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    api_key: SecretStr | None = Field(default=None, validation_alias="TEMPORAL_API_KEY")
    tls_client_cert_path: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CLIENT_CERT_PATH")
    tls_client_key_path: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CLIENT_KEY_PATH")
    tls_server_ca_cert_path: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_SERVER_CA_CERT_PATH")
    tls_server_name: str | None = Field(default=None, validation_alias="TEMPORAL_TLS_SERVER_NAME")
    tls: bool | None = Field(default=None, validation_alias="TEMPORAL_TLS")
    # A profile may hold certificates inline instead of as paths; only the profile sets these.
    tls_client_cert_data: bytes | None = Field(default=None, exclude=True)
    tls_client_key_data: SecretStr | None = Field(default=None, exclude=True)
    tls_server_ca_cert_data: bytes | None = Field(default=None, exclude=True)
    # gRPC metadata from a profile's grpc_meta (e.g. a routing header of a proxy in front of the cluster).
    rpc_metadata: dict[str, str] = Field(default_factory=dict, exclude=True)
    task_queue: str = Field(default=DEFAULT_TASK_QUEUE, validation_alias="MESHSHIFT_TASK_QUEUE")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The `temporal` CLI's order: flags, then environment variables, then the profile.
        return init_settings, env_settings, TemporalProfileSource(settings_cls)

    def tls_config(self) -> TLSConfig | bool:
        """mTLS when cert and key are given; plain TLS for an API key (Temporal Cloud) or TEMPORAL_TLS."""
        cert = self._pem(self.tls_client_cert_path, self.tls_client_cert_data, "TEMPORAL_TLS_CLIENT_CERT_PATH")
        key_data = self.tls_client_key_data.get_secret_value().encode() if self.tls_client_key_data else None
        key = self._pem(self.tls_client_key_path, key_data, "TEMPORAL_TLS_CLIENT_KEY_PATH")
        if (cert is None) != (key is None):
            raise ValueError(
                "TLS needs both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH "
                f"(got cert={'set' if cert else 'unset'}, key={'set' if key else 'unset'})"
            )
        ca = self._pem(self.tls_server_ca_cert_path, self.tls_server_ca_cert_data, "TEMPORAL_TLS_SERVER_CA_CERT_PATH")
        if cert is not None and key is not None:
            if self.tls is False:
                raise ValueError(
                    "TLS is disabled (TEMPORAL_TLS=false or the profile's tls.disabled) but a client "
                    "certificate is configured; remove one of them"
                )
            return TLSConfig(
                client_cert=cert,
                client_private_key=key,
                server_root_ca_cert=ca,
                domain=self.tls_server_name,
            )
        if ca is not None or self.tls_server_name is not None:
            if self.tls is False:
                raise ValueError(
                    "TEMPORAL_TLS=false contradicts TEMPORAL_TLS_SERVER_CA_CERT_PATH / TEMPORAL_TLS_SERVER_NAME; "
                    "unset one of them"
                )
            return TLSConfig(server_root_ca_cert=ca, domain=self.tls_server_name)
        if self.tls is not None:
            return self.tls
        # An API key only makes sense over TLS (Temporal Cloud): never send it in clear text.
        return self.api_key is not None

    @staticmethod
    def _pem(path: Path | None, data: bytes | None, variable: str) -> bytes | None:
        # A path (flag, variable or profile) wins over inline data from the profile.
        return _read(path, variable) if path is not None else data

    def auth_kind(self) -> str:
        if self.api_key is not None:
            return "api key"
        if self.tls_client_cert_path is not None or self.tls_client_cert_data is not None:
            return "mTLS"
        return "none"

    def describe(self) -> str:
        """One line for logs and errors: where and how, never the secrets themselves."""
        return f"Temporal {self.address} namespace {self.namespace} (auth: {self.auth_kind()})"


class TemporalProfileSource(PydanticBaseSettingsSource):
    """The lowest layer of the settings: a Temporal environment-configuration profile.

    Environment overrides are left to the settings' own environment layer (above this one), so a
    variable always wins over the profile field by field, as with the ``temporal`` CLI.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        self._environ = os.environ if environ is None else environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ reads the whole profile at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return profile_values(load_profile(self._environ))


def load_profile(environ: Mapping[str, str]) -> ClientConfigProfile:
    """The profile ``TEMPORAL_PROFILE`` names (or ``default``) from ``TEMPORAL_CONFIG_FILE`` (or the
    default file); an empty profile when there is no file and no profile was asked for."""
    locate = {
        k: environ[k] for k in ("TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE", "HOME", "XDG_CONFIG_HOME") if k in environ
    }
    config_file = environ.get("TEMPORAL_CONFIG_FILE", "").strip()
    if config_file and not Path(config_file).is_file():
        raise ValueError(
            f"TEMPORAL_CONFIG_FILE={config_file}: no such file; point it at your temporal.toml or unset it"
        )
    try:
        # Only the variables that locate the profile are passed: the rest of the environment is the
        # layer above and must not be applied twice.
        return ClientConfigProfile.load(override_env_vars=locate)
    except Exception as exc:  # the SDK's bridge raises its own ConfigError for a missing profile
        profile = environ.get("TEMPORAL_PROFILE", "default")
        raise ValueError(
            f"Temporal profile {profile!r}: {exc}; check TEMPORAL_PROFILE and the profile file "
            "(`temporal config list` shows the profiles)"
        ) from None


def profile_values(profile: ClientConfigProfile) -> dict[str, Any]:
    """A profile as settings field values; unset fields are left out so the defaults apply."""
    values: dict[str, Any] = {}
    if profile.address:
        values["address"] = profile.address
    if profile.namespace:
        values["namespace"] = profile.namespace
    if profile.api_key:
        values["api_key"] = profile.api_key
    if profile.grpc_meta:
        values["rpc_metadata"] = dict(profile.grpc_meta)
    tls = profile.tls
    if tls is not None:
        if tls.disabled is not None:
            values["tls"] = not tls.disabled
        if tls.server_name:
            values["tls_server_name"] = tls.server_name
        for source, path_field, data_field in (
            (tls.client_cert, "tls_client_cert_path", "tls_client_cert_data"),
            (tls.client_private_key, "tls_client_key_path", "tls_client_key_data"),
            (tls.server_root_ca_cert, "tls_server_ca_cert_path", "tls_server_ca_cert_data"),
        ):
            _put_source(values, source, path_field, data_field)
    return values


def _put_source(values: dict[str, Any], source: DataSource | None, path_field: str, data_field: str) -> None:
    if isinstance(source, Path):
        values[path_field] = source
    elif isinstance(source, str):
        values[data_field] = source if data_field.endswith("key_data") else source.encode()
    elif isinstance(source, bytes):
        values[data_field] = source.decode() if data_field.endswith("key_data") else source


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path}: {exc.strerror or exc}") from None


def _short_reason(text: str) -> str:
    """The core SDK's transport errors are nested debug reprs; keep what a person can act on."""
    lowered = text.lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("dns error", "the host name does not resolve"),
        ("timed out", "timed out"),
        ("certificate", "TLS certificate problem"),
        ("unauthenticated", "authentication refused"),
        ("permission denied", "permission denied"),
    ):
        if needle in lowered:
            return reason
    first = text.splitlines()[0] if text else "no answer"
    return first if len(first) <= 200 else first[:197] + "..."


def unreachable_message(settings: TemporalSettings, detail: str = "") -> str:
    why = f" ({detail})" if detail else ""
    return (
        f"cannot reach Temporal at {settings.address}{why}: start `meshshift server` "
        "or set TEMPORAL_ADDRESS (or --address) to your cluster"
    )


async def connect(
    settings: TemporalSettings,
    *,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
) -> Client:
    """A client with the pydantic data converter (every payload in meshshift is a pydantic model).

    Raises ``ValueError`` for unusable TLS settings and ``TemporalUnreachable`` when nothing answers;
    neither message contains the API key.
    """
    tls = settings.tls_config()
    try:
        return await Client.connect(
            settings.address,
            namespace=settings.namespace,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            tls=tls,
            data_converter=pydantic_data_converter,
            rpc_metadata=settings.rpc_metadata,
            interceptors=interceptors,
            runtime=runtime,
        )
    except RuntimeError as exc:
        # The core SDK reports transport failures as RuntimeError("Failed client connect: ...").
        detail = _short_reason(str(exc))
        if settings.api_key is not None:
            detail = detail.replace(settings.api_key.get_secret_value(), "***")
        raise TemporalUnreachable(unreachable_message(settings, detail)) from None
