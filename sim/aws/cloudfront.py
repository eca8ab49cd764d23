"""moto extensions for CloudFront continuous deployment.

moto 5.2.5 answers 404 for the continuous deployment policy operations, ``CopyDistribution`` and
``UpdateDistributionWithStagingConfig``. This module adds them to moto's CloudFront backend and
response class (extra URL paths + response methods), so they work under ``mock_aws``,
``ThreadedMotoServer`` and ``meshshift sim`` alike. Requests are parsed and responses serialized
by moto from botocore's service model, so the shapes are the real API's.

What is modelled, kept small but faithful to the API documentation:
- policies with ETags that change on every update; ``IfMatch`` is required and checked
  (``PreconditionFailed`` on a stale ETag, ``InvalidIfMatchVersion`` when missing);
- ``SingleWeight`` (weight 0..0.15, optional session stickiness 300..3600 s) and ``SingleHeader``
  (header starting with ``aws-cf-cd-``) traffic configs;
- staging distributions (``Staging=True``) made by ``CopyDistribution`` from a primary;
- promotion: the staging config is copied onto the primary, which keeps its own ``Aliases``,
  ``ContinuousDeploymentPolicyId`` and ``CallerReference``; ``IfMatch`` is
  ``"<primary ETag>, <staging ETag>"`` as on AWS;
- ``UpdateDistribution`` checks ``IfMatch`` against the current ETag and rotates it (moto's own
  implementation accepts any value and never changes the ETag);
- deployment takes time: a created, copied, updated or promoted distribution is ``InProgress`` for
  ``cloudfront_deploy`` seconds of the settings' clock (sim/aws/settings.py), then ``Deployed``
  (moto says Deployed at once). Updating a continuous deployment policy redeploys the primary
  distributions it is attached to, so they are ``InProgress`` again too.

Not modelled: traffic actually being split, StagingDistributionDnsNames being checked against real
domain names, quotas.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from meshshift.sim.aws import settings as sim_settings

_API = "{0}/2020-05-31"
_EXTRA_PATHS = (
    _API + "/continuous-deployment-policy$",
    _API + "/continuous-deployment-policy/(?P<Id>[^/]+)$",
    _API + "/continuous-deployment-policy/(?P<Id>[^/]+)/config$",
    _API + "/distribution/(?P<PrimaryDistributionId>[^/]+)/copy$",
    _API + "/distribution/(?P<Id>[^/]+)/promote-staging-config$",
)

MAX_STAGING_WEIGHT = 0.15
_STICKINESS_RANGE = (300, 3600)
_HEADER_PREFIX = "aws-cf-cd-"

_installed = False


def _error(code: str, message: str) -> Exception:
    from moto.cloudfront.exceptions import CloudFrontException

    return CloudFrontException(code, message)


def _new_etag() -> str:
    from moto.cloudfront.models import random_id

    return str(random_id())


# --- backend state (kept on moto's backend object, so /moto-api/reset clears it too) -----------


class _Policy:
    def __init__(self, policy_id: str, config: dict[str, Any]) -> None:
        self.id = policy_id
        self.config = config
        self.etag = _new_etag()
        self.last_modified = datetime.now(UTC)

    def as_shape(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "LastModifiedTime": self.last_modified,
            "ContinuousDeploymentPolicyConfig": self.config,
        }


def _policies(backend: Any) -> dict[str, _Policy]:
    store: dict[str, _Policy] = backend.__dict__.setdefault("meshshift_cd_policies", {})
    return store


def _validate_policy_config(config: dict[str, Any]) -> None:
    names = config.get("StagingDistributionDnsNames") or {}
    items = names.get("Items") or []
    if names.get("Quantity") != len(items):
        raise _error("InconsistentQuantities", "StagingDistributionDnsNames.Quantity does not match Items.")
    traffic = config.get("TrafficConfig") or {}
    kind = traffic.get("Type")
    if kind == "SingleWeight":
        single = traffic.get("SingleWeightConfig")
        if not single or "Weight" not in single:
            raise _error("InvalidArgument", "TrafficConfig.SingleWeightConfig is required for Type SingleWeight.")
        weight = float(single["Weight"])
        if not 0.0 <= weight <= MAX_STAGING_WEIGHT:
            raise _error(
                "InvalidArgument",
                f"SingleWeightConfig.Weight must be between 0 and {MAX_STAGING_WEIGHT}, got {weight}.",
            )
        sticky = single.get("SessionStickinessConfig")
        if sticky:
            for key in ("IdleTTL", "MaximumTTL"):
                value = int(sticky[key])
                if not _STICKINESS_RANGE[0] <= value <= _STICKINESS_RANGE[1]:
                    raise _error("InvalidArgument", f"SessionStickinessConfig.{key} must be 300..3600, got {value}.")
            if int(sticky["IdleTTL"]) > int(sticky["MaximumTTL"]):
                raise _error("InvalidArgument", "SessionStickinessConfig.IdleTTL must not exceed MaximumTTL.")
    elif kind == "SingleHeader":
        header = traffic.get("SingleHeaderConfig")
        if not header:
            raise _error("InvalidArgument", "TrafficConfig.SingleHeaderConfig is required for Type SingleHeader.")
        if not str(header["Header"]).lower().startswith(_HEADER_PREFIX):
            raise _error("InvalidArgument", f"SingleHeaderConfig.Header must start with {_HEADER_PREFIX}.")
    else:
        raise _error("InvalidArgument", f"TrafficConfig.Type must be SingleWeight or SingleHeader, got {kind}.")


def _check_if_match(if_match: str | None, etag: str) -> None:
    if not if_match:
        raise _error("InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
    if if_match.strip() != etag:
        raise _error("PreconditionFailed", "The precondition given in one or more of the request fields was false.")


def _distribution(backend: Any, distribution_id: str | None) -> Any:
    if distribution_id not in backend.distributions:
        raise _error("NoSuchDistribution", "The specified distribution does not exist.")
    return backend.distributions[distribution_id]


def _policy(backend: Any, policy_id: str | None) -> _Policy:
    policy = _policies(backend).get(policy_id or "")
    if policy is None:
        raise _error("NoSuchContinuousDeploymentPolicy", "The continuous deployment policy does not exist.")
    return policy


# --- response methods (added to moto's CloudFrontResponse; `self` is a CloudFrontResponse) -----


def _create_continuous_deployment_policy(self: Any) -> Any:
    from moto.cloudfront.models import random_id
    from moto.core.responses import ActionResult

    config = self._get_param("ContinuousDeploymentPolicyConfig", {})
    _validate_policy_config(config)
    policy = _Policy(str(random_id()), config)
    _policies(self.backend)[policy.id] = policy
    return ActionResult(
        {
            "ContinuousDeploymentPolicy": policy.as_shape(),
            "Location": f"https://cloudfront.amazonaws.com/2020-05-31/continuous-deployment-policy/{policy.id}",
            "ETag": policy.etag,
        }
    )


def _get_continuous_deployment_policy(self: Any) -> Any:
    from moto.core.responses import ActionResult

    policy = _policy(self.backend, self._get_param("Id"))
    return ActionResult({"ContinuousDeploymentPolicy": policy.as_shape(), "ETag": policy.etag})


def _get_continuous_deployment_policy_config(self: Any) -> Any:
    from moto.core.responses import ActionResult

    policy = _policy(self.backend, self._get_param("Id"))
    return ActionResult({"ContinuousDeploymentPolicyConfig": policy.config, "ETag": policy.etag})


def _update_continuous_deployment_policy(self: Any) -> Any:
    from moto.core.responses import ActionResult

    policy = _policy(self.backend, self._get_param("Id"))
    _check_if_match(self._get_param("IfMatch"), policy.etag)
    config = self._get_param("ContinuousDeploymentPolicyConfig", {})
    _validate_policy_config(config)
    policy.config = config
    policy.etag = _new_etag()
    policy.last_modified = datetime.now(UTC)
    for dist in self.backend.distributions.values():
        if getattr(dist.distribution_config, "ContinuousDeploymentPolicyId", None) == policy.id:
            dist.status = "InProgress"
    return ActionResult({"ContinuousDeploymentPolicy": policy.as_shape(), "ETag": policy.etag})


def _delete_continuous_deployment_policy(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    policy = _policy(self.backend, self._get_param("Id"))
    _check_if_match(self._get_param("IfMatch"), policy.etag)
    for dist in self.backend.distributions.values():
        if getattr(dist.distribution_config, "ContinuousDeploymentPolicyId", None) == policy.id:
            raise _error("ContinuousDeploymentPolicyInUse", f"Policy {policy.id} is attached to {dist.id}.")
    del _policies(self.backend)[policy.id]
    return EmptyResult()


def _list_continuous_deployment_policies(self: Any) -> Any:
    from moto.core.responses import ActionResult

    policies = list(_policies(self.backend).values())
    return ActionResult(
        {
            "ContinuousDeploymentPolicyList": {
                "MaxItems": 100,
                "Quantity": len(policies),
                "Items": [{"ContinuousDeploymentPolicy": p.as_shape()} for p in policies] or None,
            }
        }
    )


def _copy_distribution(self: Any) -> Any:
    from moto.cloudfront.models import random_id
    from moto.core.responses import ActionResult

    backend = self.backend
    primary = _distribution(backend, self._get_param("PrimaryDistributionId"))
    _check_if_match(self._get_param("IfMatch"), primary.etag)
    caller_reference = self._get_param("CallerReference")
    existing = backend._distribution_with_caller_reference(caller_reference)
    if existing is not None:
        raise _error("DistributionAlreadyExists", f"Already exists: {existing.distribution_id}")
    staging = copy.deepcopy(primary)
    staging.distribution_id = staging.id = str(random_id())
    staging.arn = primary.arn.rsplit("/", 1)[0] + "/" + staging.id
    staging.domain_name = f"{random_id(uppercase=False)}.cloudfront.net"
    staging.etag = _new_etag()
    staging.status = "InProgress"
    config = staging.distribution_config
    config.caller_reference = config.CallerReference = caller_reference
    config.Staging = str(self._get_param("Staging", "false")).lower() == "true"
    config.ContinuousDeploymentPolicyId = ""
    config.Aliases = {"Quantity": 0}  # a staging distribution cannot have alternate domain names
    if self._get_param("Enabled") is not None:
        config.Enabled = self._get_param("Enabled")
    backend.distributions[staging.id] = staging
    return ActionResult({"Distribution": staging, "Location": staging.location, "ETag": staging.etag})


def _update_distribution_with_staging_config(self: Any) -> Any:
    from moto.core.responses import ActionResult

    backend = self.backend
    primary = _distribution(backend, self._get_param("Id"))
    staging = _distribution(backend, self._get_param("StagingDistributionId"))
    if not getattr(staging.distribution_config, "Staging", False):
        raise _error("InvalidArgument", f"Distribution {staging.id} is not a staging distribution.")
    if_match = self._get_param("IfMatch") or ""
    parts = [p.strip() for p in if_match.split(",")]
    if len(parts) != 2 or not all(parts):
        raise _error("InvalidIfMatchVersion", "If-Match must be '<primary ETag>, <staging ETag>'.")
    _check_if_match(parts[0], primary.etag)
    _check_if_match(parts[1], staging.etag)
    kept = primary.distribution_config
    promoted = copy.deepcopy(staging.distribution_config)
    promoted.Aliases = kept.Aliases
    promoted.ContinuousDeploymentPolicyId = getattr(kept, "ContinuousDeploymentPolicyId", "")
    promoted.caller_reference = promoted.CallerReference = kept.caller_reference
    promoted.Staging = False
    primary.distribution_config = promoted
    primary.etag = _new_etag()
    primary.status = "InProgress"
    return ActionResult({"Distribution": primary, "ETag": primary.etag})


def _checked_update_distribution(original: Any) -> Any:
    def update_distribution(self: Any, dist_config: dict[str, Any], _id: str, if_match: Any) -> Any:
        dist = _distribution(self, _id)
        _check_if_match(str(if_match) if if_match else None, dist.etag)
        policy_id = (dist_config or {}).get("ContinuousDeploymentPolicyId")
        if policy_id:
            _policy(self, policy_id)
        original(self, dist_config, _id, if_match)
        dist.etag = _new_etag()
        dist.status = "InProgress"
        return dist, dist.location, dist.etag

    return update_distribution


def _status(self: Any) -> str:
    deployed_at = self.__dict__.get("_meshshift_deployed_at")
    if deployed_at is not None and sim_settings.current().now() < deployed_at:
        return "InProgress"
    return "Deployed"


def _set_status(self: Any, value: str) -> None:
    if value == "InProgress":
        settings = sim_settings.current()
        self.__dict__["_meshshift_deployed_at"] = settings.now() + settings.scaled(settings.cloudfront_deploy)
    else:
        self.__dict__["_meshshift_deployed_at"] = None


def _deploying_create(original: Any) -> Any:
    def create_distribution_with_tags(self: Any, distribution_config: dict[str, Any], tags: Any) -> Any:
        dist, location, etag = original(self, distribution_config, tags)
        dist.status = "InProgress"
        return dist, location, etag

    return create_distribution_with_tags


_RESPONSE_METHODS = {
    "create_continuous_deployment_policy": _create_continuous_deployment_policy,
    "get_continuous_deployment_policy": _get_continuous_deployment_policy,
    "get_continuous_deployment_policy_config": _get_continuous_deployment_policy_config,
    "update_continuous_deployment_policy": _update_continuous_deployment_policy,
    "delete_continuous_deployment_policy": _delete_continuous_deployment_policy,
    "list_continuous_deployment_policies": _list_continuous_deployment_policies,
    "copy_distribution": _copy_distribution,
    "update_distribution_with_staging_config": _update_distribution_with_staging_config,
}


def install() -> None:
    """Register the extra paths and methods on moto's CloudFront classes. Idempotent."""
    global _installed
    if _installed:
        return
    from moto.cloudfront import urls
    from moto.cloudfront.models import CloudFrontBackend, Distribution
    from moto.cloudfront.responses import CloudFrontResponse

    for path in _EXTRA_PATHS:
        urls.url_paths.setdefault(path, CloudFrontResponse.dispatch)
    for name, method in _RESPONSE_METHODS.items():
        setattr(CloudFrontResponse, name, method)
    CloudFrontBackend.update_distribution = _checked_update_distribution(  # type: ignore[method-assign]
        CloudFrontBackend.update_distribution
    )
    CloudFrontBackend.create_distribution_with_tags = _deploying_create(  # type: ignore[method-assign]
        CloudFrontBackend.create_distribution_with_tags
    )
    # moto's ManagedState turns a distribution Deployed on the next read; this follows the clock.
    Distribution.status = property(_status, _set_status)  # type: ignore[assignment]
    _installed = True
