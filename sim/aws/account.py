"""What every call to the simulated account goes through: latency, throttling, and AWS's own work.

One wrapper around moto's ``BaseResponse.call_action`` (the method every service's request reaches,
under ``mock_aws``, ``ThreadedMotoServer`` and ``moto_server`` alike) does, in order:

1. waits the per-call latency (``latency``, uniformly drawn, scaled by speed);
2. in throttling mode, answers the service's own throttling error once the account's token bucket
   for that service is empty (``THROTTLE_RATES``; the error codes are the ones the client-side
   fault injector uses, sim/faults.py, so both look the same to botocore);
3. for ECS, ELB and Cloud Map, brings the region's ECS services up to the clock's now (tasks
   started, registered, drained, stopped: sim/aws/ecs_tasks.py) before moto answers.

The calls that touch that shared state (ECS, ELB, Cloud Map, EC2, Route 53, CloudFront) run one at
a time: moto's models are not thread-safe, and the scheduler changes several services' state at once.

Control endpoints (moto's ``/moto-api/`` space, also reachable in-process through the functions
below) let a demo or test change the knobs and make a service fail:

- ``GET|POST /moto-api/meshshift/settings``: read, or change with a JSON object of knobs
  (``{"profile": "realistic", "speed": 20}``);
- ``POST /moto-api/meshshift/service-health``: ``{"cluster": ..., "service": ..., "failing": true,
  "region": "us-east-1"}``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from meshshift.sim.aws import ecs_tasks
from meshshift.sim.aws import settings as sim_settings
from meshshift.sim.faults import THROTTLE_CODES

DEFAULT_ACCOUNT = "123456789012"

_RECONCILED = frozenset({"ecs", "elbv2", "servicediscovery"})
_SERIALIZED = _RECONCILED | {"ec2", "route53", "cloudfront"}
# moto's service name -> botocore's service id, the key of the fault injector's error table.
_SERVICE_IDS = {
    "ecs": "ecs",
    "elbv2": "elastic-load-balancing-v2",
    "route53": "route-53",
    "cloudfront": "cloudfront",
    "cloudwatch": "cloudwatch",
    "appmesh": "app-mesh",
    "servicediscovery": "servicediscovery",
}

_lock = threading.RLock()
_random = random.Random()
_random_lock = threading.Lock()


class _Bucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


_buckets: dict[tuple[str, str], _Bucket] = {}
_buckets_lock = threading.Lock()
throttled: dict[str, int] = {}  # service -> calls answered with a throttling error (for tests and the demo)


def _reset_buckets(_settings: sim_settings.SimSettings) -> None:
    with _buckets_lock:
        _buckets.clear()


def _allowed(account: str, service: str, settings: sim_settings.SimSettings) -> bool:
    rate = sim_settings.THROTTLE_RATES.get(service)
    if rate is None:
        return True
    now = settings.now()
    with _buckets_lock:
        bucket = _buckets.get((account, service))
        if bucket is None:
            bucket = _buckets[(account, service)] = _Bucket(rate[0] * settings.speed, rate[1], now)
        if bucket.take(now):
            return True
        throttled[service] = throttled.get(service, 0) + 1
        return False


def _throttling_error(service: str) -> Exception:
    from moto.core.exceptions import ServiceException

    # Defined here, not in moto: moto looks an exception's shape up in the service named by the
    # exception's module, and these codes are the calling service's own.
    class Throttled(ServiceException):
        pass

    code = THROTTLE_CODES.get(_SERVICE_IDS.get(service, service), "Throttling")
    return Throttled(code, "Rate exceeded")


def _wait_latency(settings: sim_settings.SimSettings) -> None:
    low, high = settings.latency
    if high <= 0:
        return
    with _random_lock:
        pause = _random.uniform(low, high)
    time.sleep(settings.scaled(pause))


def _wrap_call_action(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call_action(self: Any) -> Any:
        settings = sim_settings.current()
        service = str(getattr(self, "service_name", "") or "")
        _wait_latency(settings)
        account = str(getattr(self, "current_account", DEFAULT_ACCOUNT))
        if settings.throttle and not _allowed(account, service, settings):
            from moto.core.responses import ActionResult

            return self.serialized(ActionResult(_throttling_error(service)))
        if service not in _SERIALIZED:
            return original(self)
        with _lock:
            if service in _RECONCILED:
                ecs_tasks.reconcile(account, str(self.region))
            return original(self)

    return call_action


# --- control --------------------------------------------------------------------------------------


def set_service_failing(
    cluster: str, service: str, failing: bool, region: str = "us-east-1", account: str = DEFAULT_ACCOUNT
) -> None:
    """Make a service's application fail (or recover): its targets turn unhealthy (healthy)."""
    with _lock:
        ecs_tasks.set_failing(account, region, cluster, service, failing)


def _body(request: Any) -> Any:
    """The JSON object posted, whatever Content-Type the client sent (curl -d sends a form type,
    which the server parses as a form whose only key is the JSON text)."""
    raw = request.get_data() or b""
    if not raw and getattr(request, "form", None):
        raw = next(iter(request.form.keys())).encode()
    return json.loads(raw or b"{}")


def _json_answer(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def _settings_endpoint(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    if request.method == "POST":
        try:
            values = _body(request)
            if not isinstance(values, dict):
                raise ValueError("expected a JSON object of knobs")
            sim_settings.configure(sim_settings.from_mapping(values))
        except (ValueError, TypeError) as err:
            return _json_answer(400, {"error": str(err)})
    return _json_answer(200, sim_settings.current().describe())


def _service_health_endpoint(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    if request.method != "POST":
        return _json_answer(405, {"error": "POST a JSON object: cluster, service, failing, region"})
    try:
        body = _body(request)
        set_service_failing(
            str(body["cluster"]),
            str(body["service"]),
            bool(body["failing"]),
            region=str(body.get("region", "us-east-1")),
            account=str(body.get("account", DEFAULT_ACCOUNT)),
        )
    except (KeyError, ValueError, TypeError) as err:
        return _json_answer(400, {"error": f"{type(err).__name__}: {err}"})
    except Exception as err:  # moto's ServiceNotFoundException and friends: the caller named a wrong service
        return _json_answer(404, {"error": f"{type(err).__name__}: {err}"})
    return _json_answer(200, {"status": "ok"})


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.core.responses import BaseResponse
    from moto.moto_api._internal import urls

    BaseResponse.call_action = _wrap_call_action(BaseResponse.call_action)  # type: ignore[method-assign, assignment]
    urls.url_paths["{0}/moto-api/meshshift/settings"] = _settings_endpoint
    urls.url_paths["{0}/moto-api/meshshift/service-health"] = _service_health_endpoint
    sim_settings.on_change(_reset_buckets)
    _installed = True
