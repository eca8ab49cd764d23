"""SNS HTTP(S) notification verification for the alarm bridge.

Nothing in a notification is trusted until its signature verifies against a certificate fetched
from a URL that matches AWS's host rule. See the brief, "SNS alarm messages and their signatures".
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

AWS_CERT_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
MAX_BODY_BYTES = 256 * 1024  # SNS messages are at most 256 KiB; the envelope adds little.
DEFAULT_MAX_AGE = timedelta(hours=1)
MAX_CLOCK_SKEW = timedelta(minutes=5)

# The keys signed for each message type, in the order SNS signs them.
_SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


class Refused(Exception):
    """A request the bridge will not act on. ``status`` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class SnsEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    Type: str
    MessageId: str
    TopicArn: str
    Message: str
    Timestamp: str
    SignatureVersion: str
    Signature: str
    SigningCertURL: str = Field(alias="SigningCertURL")
    Subject: str | None = None
    SubscribeURL: str | None = None
    Token: str | None = None


class CloudWatchAlarm(BaseModel):
    """The fields of a CloudWatch alarm state change that the bridge uses."""

    model_config = ConfigDict(extra="ignore")

    AlarmName: str
    NewStateValue: str
    NewStateReason: str | None = None
    Region: str | None = None
    AlarmArn: str | None = None
    StateChangeTime: str | None = None


def string_to_sign(envelope: SnsEnvelope) -> bytes:
    keys = _SIGNED_KEYS.get(envelope.Type)
    if keys is None:
        raise Refused(f"unsupported SNS message Type {envelope.Type!r}")
    fields = envelope.model_dump(by_alias=True)
    out = []
    for key in keys:
        value = fields.get(key)
        if value is None:
            if key == "Subject":  # only signed when present
                continue
            raise Refused(f"SNS {envelope.Type} is missing {key}")
        out.append(f"{key}\n{value}\n")
    return "".join(out).encode()


CertFetcher = Callable[[str], bytes]


def https_fetcher(context: ssl.SSLContext | None = None, timeout: float = 5.0) -> CertFetcher:
    def fetch(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:  # noqa: S310 (https only, checked)
            data: bytes = resp.read(64 * 1024)
            return data

    return fetch


class SnsVerifier:
    """Verifies SNS messages: certificate URL rule, signature (v1 SHA1, v2 SHA256), topic, age.

    ``test_cert_url_prefix`` lets the test suite serve its own signing certificate on loopback.
    It is a constructor argument only: no flag or environment variable reaches it, so production
    always applies AWS's host rule.
    """

    def __init__(
        self,
        allowed_topics: set[str],
        fetcher: CertFetcher | None = None,
        max_age: timedelta = DEFAULT_MAX_AGE,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        test_cert_url_prefix: str | None = None,
    ) -> None:
        self._topics = set(allowed_topics)
        self._fetch = fetcher or https_fetcher()
        self._max_age = max_age
        self._now = now
        self._test_prefix = test_cert_url_prefix
        self._certs: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def check_cert_url(self, url: str) -> None:
        if self._test_prefix and url.startswith(self._test_prefix) and url.endswith(".pem"):
            return
        parsed = urlparse(url)
        if parsed.scheme != "https":
            raise Refused(f"SigningCertURL must be https, got {parsed.scheme!r}", 403)
        if not AWS_CERT_HOST.match(parsed.hostname or ""):
            raise Refused(f"SigningCertURL host {parsed.hostname!r} is not an SNS host", 403)
        if not parsed.path.endswith(".pem"):
            raise Refused("SigningCertURL path must end in .pem", 403)

    def _certificate(self, url: str) -> x509.Certificate:
        with self._lock:
            cached = self._certs.get(url)
        if cached is not None:
            return cached
        try:
            cert = x509.load_pem_x509_certificate(self._fetch(url))
        except Exception as err:
            raise Refused(f"could not load the signing certificate: {type(err).__name__}", 403) from err
        with self._lock:
            self._certs[url] = cert
        return cert

    def parse(self, body: bytes) -> SnsEnvelope:
        if len(body) > MAX_BODY_BYTES:
            raise Refused(f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}", 413)
        try:
            return SnsEnvelope.model_validate_json(body)
        except ValidationError as err:
            missing = ", ".join(str(e["loc"][0]) for e in err.errors() if e.get("loc"))
            raise Refused(f"not an SNS message (bad or missing: {missing or 'JSON'})") from err

    def verify(self, body: bytes) -> SnsEnvelope:
        envelope = self.parse(body)
        if envelope.TopicArn not in self._topics:
            raise Refused(f"topic {envelope.TopicArn!r} is not in the allow-list", 403)
        self._check_age(envelope.Timestamp)
        self.check_cert_url(envelope.SigningCertURL)
        if envelope.SignatureVersion == "1":
            algorithm: hashes.HashAlgorithm = hashes.SHA1()  # noqa: S303 (SNS SignatureVersion 1 is SHA1)
        elif envelope.SignatureVersion == "2":
            algorithm = hashes.SHA256()
        else:
            raise Refused(f"unsupported SignatureVersion {envelope.SignatureVersion!r}", 403)
        public_key = self._certificate(envelope.SigningCertURL).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise Refused("signing certificate is not RSA", 403)
        try:
            signature = base64.b64decode(envelope.Signature, validate=True)
            public_key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), algorithm)
        except (InvalidSignature, ValueError) as err:
            raise Refused("signature does not verify", 403) from err
        return envelope

    def _check_age(self, timestamp: str) -> None:
        try:
            sent = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError as err:
            raise Refused(f"Timestamp {timestamp!r} is not ISO 8601") from err
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=UTC)
        age = self._now() - sent
        if age > self._max_age or age < -MAX_CLOCK_SKEW:
            raise Refused(f"stale message: Timestamp {timestamp} is outside the accepted window", 403)


def parse_alarm(envelope: SnsEnvelope) -> CloudWatchAlarm:
    try:
        return CloudWatchAlarm.model_validate(json.loads(envelope.Message))
    except (ValueError, ValidationError) as err:
        raise Refused("Message is not a CloudWatch alarm state change") from err


def check_subscribe_url(url: str | None) -> str:
    """Only confirm subscriptions against SNS itself (never fetch an attacker's URL)."""
    if not url:
        raise Refused("SubscriptionConfirmation without SubscribeURL")
    parsed = urlparse(url)
    if parsed.scheme != "https" or not AWS_CERT_HOST.match(parsed.hostname or ""):
        raise Refused(f"SubscribeURL host {parsed.hostname!r} is not an SNS host", 403)
    return url
