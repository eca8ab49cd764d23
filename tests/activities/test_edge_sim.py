"""The simulated AWS server (`meshshift sim` / meshshift.sim.aws.serve) and its CloudFront extension."""

from __future__ import annotations

import socket

import boto3
import pytest
from typer.testing import CliRunner

from meshshift.sim.aws import serve
from meshshift.workers.cli import app


def test_busy_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError):
            serve(port)
        result = CliRunner().invoke(app, ["sim", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "--port" in result.output


def test_served_cloudfront_policy_etags(aws_server_env: str) -> None:
    cf = boto3.client("cloudfront")
    config = {
        "StagingDistributionDnsNames": {"Quantity": 1, "Items": ["d111.cloudfront.net"]},
        "Enabled": False,
        "TrafficConfig": {"Type": "SingleHeader", "SingleHeaderConfig": {"Header": "aws-cf-cd-green", "Value": "1"}},
    }
    created = cf.create_continuous_deployment_policy(ContinuousDeploymentPolicyConfig=config)
    policy_id = created["ContinuousDeploymentPolicy"]["Id"]

    updated = cf.update_continuous_deployment_policy(
        Id=policy_id, IfMatch=created["ETag"], ContinuousDeploymentPolicyConfig={**config, "Enabled": True}
    )

    assert updated["ETag"] != created["ETag"]
    with pytest.raises(cf.exceptions.PreconditionFailed):
        cf.update_continuous_deployment_policy(
            Id=policy_id, IfMatch=created["ETag"], ContinuousDeploymentPolicyConfig=config
        )
    with pytest.raises(cf.exceptions.InvalidArgument):
        bad = {**config, "TrafficConfig": {"Type": "SingleWeight", "SingleWeightConfig": {"Weight": 0.5}}}
        cf.update_continuous_deployment_policy(
            Id=policy_id, IfMatch=updated["ETag"], ContinuousDeploymentPolicyConfig=bad
        )
    listed = cf.list_continuous_deployment_policies()["ContinuousDeploymentPolicyList"]
    assert listed["Quantity"] == 1
