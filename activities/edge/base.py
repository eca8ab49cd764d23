"""The one interface every edge traffic shifter implements (ALB, Route 53, CloudFront ...).

A shifter is the I/O side of one edge mechanism (``migration.edge``): it moves traffic between
blue and green at one edge resource. It writes weights in its mechanism's own units
(``ShifterWeights``), reads them back (``ShifterReading``), and verifies a reading against what
was written. Mechanisms with propagation (Route 53 INSYNC, CloudFront deployment) also wait until
the change has landed.

Adding a mechanism (e.g. VPC Lattice) takes:

- its domain module, ``migration/edge/<name>.py``: the spec model and an ``EdgeMechanism``
  (shifter id, weights and their limits, refused steps, plan warnings, propagation wait, target
  groups, blue resources), imported and added to ``_BUILT_IN`` in ``migration/edge/registry.py``
  (the spec's ``edge`` union follows, so ``make docs`` regenerates ``docs/spec-reference.md``);
- its I/O module, ``activities/edge/<name>.py``: a ``Shifter`` subclass whose ``mechanism`` is that
  object, imported and added to the built-in tuple in ``activities/edge/registry.py`` (which
  checks that every registered mechanism has exactly one shifter);
- optionally, the edge preflight: a read-only ``inspect()`` on the shifter returning the
  mechanism's ``facts_model``, and the mechanism's pure ``preflight()`` judging those facts (the
  plan fails on its errors, naming the spec field to change); the read actions join ``iam_grants``;
- if its AWS service is new to meshshift: a client in ``activities/aws.py`` and its rate limit (a
  ``RateLimits`` field in ``migration/spec.py``, so ``make docs`` and the stub extras in
  ``pyproject.toml`` as well);
- the IAM actions its shifter calls, in ``docs/iam-policy.json`` and ``tests/test_iam_policy.py``
  (then ``make docs`` to refresh ``migration/iam_catalog.py``), and its mechanism's ``iam_grants``:
  those actions on exactly the edge's resources, for ``meshshift iam-policy``;
- its simulation in ``sim/`` (moto support, or an extension where moto lacks the API) so that the
  demo and the activity tests can run it;
- its tests: spec validation, weights, and the shifter against the simulation.

A blue resource of a kind meshshift does not delete yet also needs a decommission activity and
its switch in ``decommission.delete``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from botocore.exceptions import ClientError
from temporalio.exceptions import ApplicationError

from meshshift.activities.aws import AwsClients, error_code, is_transient
from meshshift.activities.polling import Backoff
from meshshift.migration.contracts import AwsContext, ShifterReading, ShifterWeights
from meshshift.migration.edge.base import EdgeFacts, EdgeMechanism
from meshshift.migration.edge.registry import EdgeSpec

# Error types (ApplicationError.type) callers can match in retry policies and tests.
WEIGHTS_REFUSED = "EdgeWeightsRefused"  # the requested weights are invalid for the mechanism
READBACK_MISMATCH = "EdgeWeightMismatch"  # what AWS holds after the write is not what was written
EDGE_MISCONFIGURED = "EdgeMisconfigured"  # the edge resource is not in a shape meshshift can shift
NOT_IN_SYNC = "EdgeNotInSync"  # propagation did not finish in time (retryable: the write is idempotent)

F = TypeVar("F", bound=EdgeFacts)


@dataclass
class ShifterOptions:
    """How shifters wait for propagation; tests shorten these."""

    poll_interval: timedelta = timedelta(seconds=5)
    sync_timeout: timedelta = timedelta(minutes=10)
    # IfMatch races (CloudFront) are retried this many times within one activity attempt.
    max_etag_attempts: int = 5
    sleep: Callable[[float], None] = field(default=time.sleep)


def refuse(message: str, type: str = WEIGHTS_REFUSED) -> ApplicationError:
    """A permanent error: retrying the same input can never succeed."""
    return ApplicationError(message, type=type, non_retryable=True)


def percent_of(blue: float, green: float) -> float:
    """Green's share in percent for mechanisms where share = weight / sum of weights."""
    total = blue + green
    return 0.0 if total <= 0 else green / total * 100.0


class Shifter(ABC):
    """Moves traffic between blue and green at one edge resource."""

    mechanism: ClassVar[EdgeMechanism[Any]]  # the domain mechanism this shifter is the I/O side of
    checks_deferred = False  # see write_only

    def __init__(
        self,
        edge: EdgeSpec,
        clients: AwsClients,
        aws: AwsContext,
        heartbeat: Callable[[str], None] = lambda _detail: None,
        options: ShifterOptions | None = None,
    ) -> None:
        if not self.mechanism.owns(edge):
            raise ValueError(f"{type(self).__name__} handles {self.mechanism.name} edges, got {edge.type}")
        self.edge = edge
        self.clients = clients
        self.aws = aws
        self.heartbeat = heartbeat
        self.options = options or ShifterOptions()

    @property
    def shifter_id(self) -> str:
        return self.mechanism.shifter_id(self.edge)

    def check_weights(self, weights: ShifterWeights) -> None:
        """Refuse weights that are not for this shifter or out of the mechanism's range (before
        anything is written: moto and botocore's Stubber do not check ranges, AWS does)."""
        if weights.shifter_id != self.shifter_id or weights.mechanism != self.mechanism.name:
            raise refuse(
                f"Weights for {weights.mechanism} shifter {weights.shifter_id!r} were sent to "
                f"{self.mechanism.name} shifter {self.shifter_id!r}. Next: recompute the plan from the spec."
            )
        self._check_range(weights)

    @abstractmethod
    def _check_range(self, weights: ShifterWeights) -> None: ...

    @abstractmethod
    def set_weights(self, weights: ShifterWeights) -> None:
        """Write the weights. Idempotent: writing the same weights twice leaves the same state."""

    @abstractmethod
    def read_weights(self) -> ShifterReading:
        """What AWS holds now, with green's effective share."""

    def inspect(self) -> EdgeFacts | None:
        """Read-only: the edge as it is today, in the mechanism's ``facts_model``, for the plan's
        preflight (``EdgeMechanism.preflight``). None for a mechanism that reads nothing first.

        A resource that does not exist is a fact (the preflight names the field to fix); an error
        that reading again cannot cure (AccessDenied) is recorded in the facts' ``unreadable``
        rather than raised, so that discovery still succeeds and the plan warns; transient errors
        are raised, retryable, like every other activity's."""
        return None

    def inspecting(self, action: str, read: Callable[[], F], unreadable: Callable[[str], F]) -> F:
        """``read()``, with a permanent AWS error turned into ``unreadable(reason)``."""
        try:
            return read()
        except ClientError as err:
            code = error_code(err)
            if is_transient(err):
                raise ApplicationError(f"{action}: transient AWS error {code}", type=code) from err
            message = err.response.get("Error", {}).get("Message", "")
            return unreadable(f"{action}: {code}{': ' + message if message else ''}")

    def wait_in_sync(self) -> None:
        """Block until the last write has propagated (no-op where changes land at once)."""
        return None

    def write_only(self) -> None:
        """The next ``set_weights`` is neither waited on nor read back: a verified write follows it
        (``SetEdgeWeightsInput.read_back`` false: a rollback's first write). A shifter may then
        leave out the reads that only check the edge's shape, which the verified write repeats,
        wherever a write made without them cannot move traffic anywhere it should not go."""
        self.checks_deferred = True

    def adopt_change(self, change_id: str) -> None:
        """A change already made towards the weights the next ``set_weights`` writes
        (``ShifterTarget.pending_change``): a shifter that finds them in place waits for that
        change instead of making one. Ignored where changes land at once."""
        return None

    def pending_change(self) -> str:
        """The change the last ``set_weights`` made and has not seen propagated ("" for none)."""
        return ""

    def read_back(self) -> ShifterReading:
        """What AWS holds after ``set_weights`` (and ``wait_in_sync``) on this shifter.

        Shifters override it to reuse the answers AWS gave during this very write (a write's own
        response, the propagation poll, the reads before it of resources the write does not touch)
        instead of asking again: a rollback is faster by every call it does not make. The default
        reads everything afresh."""
        return self.read_weights()

    def verify(self, expected: ShifterWeights, reading: ShifterReading) -> None:
        """Raise ``EdgeWeightMismatch`` (naming what was found) unless ``reading`` matches."""
        if not self.matches(expected, reading):
            raise refuse(
                f"{self.mechanism.name} shifter {self.shifter_id}: "
                f"wrote blue={expected.blue:g} green={expected.green:g}"
                f"{' promoted' if expected.promoted else ''}, read back blue={reading.blue:g} "
                f"green={reading.green:g}{' promoted' if reading.promoted else ''} "
                f"({reading.green_percent:g}% green){'; ' + reading.detail if reading.detail else ''}. "
                "Next: check whether something else (IaC, another deploy, a person) is changing this resource, "
                "then retry the step.",
                type=READBACK_MISMATCH,
            )

    def matches(self, expected: ShifterWeights, reading: ShifterReading) -> bool:
        return (
            round(expected.blue) == round(reading.blue)
            and round(expected.green) == round(reading.green)
            and expected.promoted == reading.promoted
        )

    def reading(self, blue: float, green: float, green_percent: float, **extra: Any) -> ShifterReading:
        return ShifterReading(
            shifter_id=self.shifter_id,
            mechanism=self.mechanism.name,
            blue=blue,
            green=green,
            green_percent=green_percent,
            **extra,
        )

    def poll_until(self, what: str, done: Callable[[], bool]) -> None:
        """Poll ``done`` (heartbeating) until true or ``sync_timeout``; the first polls come quickly,
        then back off to ``poll_interval`` (activities/polling.py)."""
        deadline = time.monotonic() + self.options.sync_timeout.total_seconds()
        waits = Backoff(self.options.poll_interval.total_seconds())
        polls = 0
        while not done():
            polls += 1
            self.heartbeat(f"{self.shifter_id}: waiting for {what} (poll {polls})")
            if time.monotonic() >= deadline:
                raise ApplicationError(
                    f"{self.mechanism.name} shifter {self.shifter_id}: {what} did not happen within "
                    f"{self.options.sync_timeout}. The write is idempotent; the step will be retried.",
                    type=NOT_IN_SYNC,
                )
            self.options.sleep(waits.next())
