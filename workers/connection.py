"""Connecting to Temporal: one settings model and one ``connect`` for the worker, the CLI client and
the alarm bridge.

Settings come from flags, else the standard Temporal environment variables (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``), so the same process connects to
a dev server, a self-hosted cluster with mTLS, or Temporal Cloud with an API key, unchanged.
The API key is a ``SecretStr``: it is never logged, printed or shown in a repr.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
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
    task_queue: str = Field(default=DEFAULT_TASK_QUEUE, validation_alias="MESHSHIFT_TASK_QUEUE")

    def tls_config(self) -> TLSConfig | bool:
        """mTLS when cert and key are given; plain TLS for an API key (Temporal Cloud) or TEMPORAL_TLS."""
        cert, key = self.tls_client_cert_path, self.tls_client_key_path
        if (cert is None) != (key is None):
            raise ValueError(
                "TLS needs both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH "
                f"(got cert={'set' if cert else 'unset'}, key={'set' if key else 'unset'})"
            )
        ca = (
            _read(self.tls_server_ca_cert_path, "TEMPORAL_TLS_SERVER_CA_CERT_PATH")
            if self.tls_server_ca_cert_path is not None
            else None
        )
        if cert is not None and key is not None:
            return TLSConfig(
                client_cert=_read(cert, "TEMPORAL_TLS_CLIENT_CERT_PATH"),
                client_private_key=_read(key, "TEMPORAL_TLS_CLIENT_KEY_PATH"),
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

    def auth_kind(self) -> str:
        if self.api_key is not None:
            return "api key"
        if self.tls_client_cert_path is not None:
            return "mTLS"
        return "none"

    def describe(self) -> str:
        """One line for logs and errors: where and how, never the secrets themselves."""
        return f"Temporal {self.address} namespace {self.namespace} (auth: {self.auth_kind()})"


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
            interceptors=interceptors,
            runtime=runtime,
        )
    except RuntimeError as exc:
        # The core SDK reports transport failures as RuntimeError("Failed client connect: ...").
        detail = _short_reason(str(exc))
        if settings.api_key is not None:
            detail = detail.replace(settings.api_key.get_secret_value(), "***")
        raise TemporalUnreachable(unreachable_message(settings, detail)) from None
