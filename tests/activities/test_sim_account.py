"""The simulated AWS behaves like an account: AWS's own side effects happen, and changes take time.

Each behaviour is stepped through on a ``ManualClock`` (the ``sim_clock`` fixture: realistic
timings at speed 1, time moved by the test), so every intermediate state is asserted, never a
duration: ECS runs a service's tasks and registers them in its target groups and in Cloud Map;
targets pass their health checks, fail them when the service is made to fail, and drain when
deregistered; deployments replace tasks; a deleted service drains; Route 53 changes are PENDING,
CloudFront distributions InProgress; throttling and latency; the profiles, the speed, the control
endpoints and the ``meshshift sim`` flags.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from typer.testing import CliRunner

from meshshift.sim.aws import account, ecs_tasks
from meshshift.sim.aws import settings as sim_settings
from meshshift.sim.aws.settings import ManualClock
from meshshift.workers.cli import app as cli

REGION = "us-east-1"
CLUSTER = "orders"


def client(service: str, **extra: Any) -> Any:
    return boto3.client(service, region_name=REGION, **extra)  # type: ignore[call-overload]


class Account:
    """A small pre-migration account: a VPC, an ALB whose listener forwards to ``checkout-blue``,
    a second group no listener uses, and an ECS cluster."""

    def __init__(self) -> None:
        ec2 = client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.3.0/24", AvailabilityZone="us-east-1a")["Subnet"][
            "SubnetId"
        ]
        self.sg = ec2.create_security_group(GroupName="orders", Description="orders", VpcId=vpc)["GroupId"]
        elbv2 = client("elbv2")
        lb = elbv2.create_load_balancer(Name="orders", Subnets=[self.subnet], SecurityGroups=[self.sg])
        self.lb = lb["LoadBalancers"][0]["LoadBalancerArn"]
        self.group = self._group(elbv2, vpc, "checkout-blue")
        self.idle_group = self._group(elbv2, vpc, "checkout-idle")
        self.listener = elbv2.create_listener(
            LoadBalancerArn=self.lb,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": self.group}],
        )["Listeners"][0]["ListenerArn"]
        client("ecs").create_cluster(clusterName=CLUSTER)
        client("ecs").register_task_definition(
            family="checkout",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "app", "image": "checkout:1", "portMappings": [{"containerPort": 9090, "name": "web"}]}
            ],
        )

    @staticmethod
    def _group(elbv2: Any, vpc: str, name: str) -> str:
        arn: str = elbv2.create_target_group(
            Name=name,
            Protocol="HTTP",
            Port=9090,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckIntervalSeconds=10,
            HealthyThresholdCount=3,
            UnhealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "60"}]
        )
        return arn

    def create_service(
        self,
        name: str = "checkout",
        count: int = 2,
        *,
        subnet: str | None = None,
        behind_group: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """The checkout task definition as a Fargate service, in the account's subnet (or ``subnet``)
        and, unless ``behind_group`` is False, behind the account's target group."""
        if behind_group:
            extra["loadBalancers"] = [{"targetGroupArn": self.group, "containerName": "app", "containerPort": 9090}]
        service: dict[str, Any] = client("ecs").create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition="checkout",
            desiredCount=count,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": [subnet or self.subnet], "securityGroups": [self.sg]}
            },
            **extra,
        )["service"]
        return service

    def service(self, name: str = "checkout") -> dict[str, Any]:
        found: dict[str, Any] = client("ecs").describe_services(cluster=CLUSTER, services=[name])["services"][0]
        return found

    def targets(self, group: str | None = None) -> dict[str, str]:
        answer = client("elbv2").describe_target_health(TargetGroupArn=group or self.group)
        return {
            f"{t['Target']['Id']}:{t['Target']['Port']}": t["TargetHealth"]["State"]
            for t in answer["TargetHealthDescriptions"]
        }

    def task_ips(self, name: str = "checkout") -> dict[str, str]:
        """Task IP -> last status, for the service's tasks (stopped ones included)."""
        ecs = client("ecs")
        arns = ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"]
        tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
        return {
            detail["value"]: task["lastStatus"]
            for task in tasks
            for attachment in task["attachments"]
            for detail in attachment["details"]
            if detail["name"] == "privateIPv4Address"
        }


@pytest.fixture
def acct(aws_inprocess: None, sim_clock: ManualClock) -> Account:
    return Account()


def counts(service: dict[str, Any]) -> tuple[int, int, list[tuple[str, str]]]:
    deployments = [(d["status"], d["rolloutState"]) for d in service["deployments"]]
    return service["runningCount"], service["pendingCount"], deployments


# --- ECS <-> ELB ----------------------------------------------------------------------------------


def test_a_services_tasks_start_register_and_pass_their_health_checks(acct: Account, sim_clock: ManualClock) -> None:
    created = acct.create_service()
    assert counts(created) == (0, 2, [("PRIMARY", "IN_PROGRESS")])
    assert acct.targets() == {}  # nothing is registered before a task runs

    sim_clock.advance(39)  # Fargate: 40 s from creation to RUNNING
    assert counts(acct.service()) == (0, 2, [("PRIMARY", "IN_PROGRESS")])
    assert set(acct.task_ips().values()) == {"PENDING"}

    sim_clock.advance(1)
    ips = acct.task_ips()
    assert set(ips.values()) == {"RUNNING"} and len(ips) == 2
    # Registered by ECS: each task's own ENI address and the container port, checks not yet passed.
    assert acct.targets() == {f"{ip}:9090": "initial" for ip in ips}
    assert all(ip.startswith("10.40.3.") for ip in ips)
    assert counts(acct.service()) == (2, 0, [("PRIMARY", "IN_PROGRESS")])

    sim_clock.advance(29)  # HealthyThresholdCount 3 x HealthCheckIntervalSeconds 10
    assert set(acct.targets().values()) == {"initial"}
    sim_clock.advance(1)
    assert set(acct.targets().values()) == {"healthy"}
    assert counts(acct.service()) == (2, 0, [("PRIMARY", "IN_PROGRESS")])
    sim_clock.advance(15)  # then ECS reports the deployment complete
    assert counts(acct.service()) == (2, 0, [("PRIMARY", "COMPLETED")])


def test_scale_down_deregisters_and_drains_the_extra_tasks(acct: Account, sim_clock: ManualClock) -> None:
    acct.create_service(count=3)
    sim_clock.advance(120)
    assert list(acct.targets().values()) == ["healthy"] * 3
    client("ecs").update_service(cluster=CLUSTER, service="checkout", desiredCount=1)
    states = sorted(acct.targets().values())
    assert states == ["draining", "draining", "healthy"]
    assert acct.service()["runningCount"] == 1
    sim_clock.advance(59)  # deregistration_delay.timeout_seconds 60
    assert sorted(acct.targets().values()) == ["draining", "draining", "healthy"]
    sim_clock.advance(1)
    assert list(acct.targets().values()) == ["healthy"]
    sim_clock.advance(15)  # SIGTERM to STOPPED
    assert sorted(acct.task_ips().values()) == ["RUNNING", "STOPPED", "STOPPED"]


def test_a_new_deployment_replaces_the_tasks_once_the_new_ones_are_healthy(
    acct: Account, sim_clock: ManualClock
) -> None:
    acct.create_service()
    sim_clock.advance(120)
    old = set(acct.targets())
    client("ecs").update_service(cluster=CLUSTER, service="checkout", forceNewDeployment=True)
    assert counts(acct.service()) == (2, 2, [("PRIMARY", "IN_PROGRESS"), ("ACTIVE", "COMPLETED")])
    sim_clock.advance(40 + 30)  # new tasks running, then healthy: the old ones are deregistered
    targets = acct.targets()
    assert {t: targets[t] for t in old} == {t: "draining" for t in old}
    assert [s for t, s in targets.items() if t not in old] == ["healthy", "healthy"]
    sim_clock.advance(60 + 15)  # drained and stopped: the old deployment leaves the list
    assert set(acct.targets()).isdisjoint(old)
    assert counts(acct.service()) == (2, 0, [("PRIMARY", "IN_PROGRESS")])
    sim_clock.advance(15)
    assert counts(acct.service()) == (2, 0, [("PRIMARY", "COMPLETED")])


def test_a_deleted_service_drains_then_is_inactive(acct: Account, sim_clock: ManualClock) -> None:
    acct.create_service()
    sim_clock.advance(120)
    client("ecs").update_service(cluster=CLUSTER, service="checkout", desiredCount=0)
    client("ecs").delete_service(cluster=CLUSTER, service="checkout")
    assert acct.service()["status"] == "DRAINING"
    assert set(acct.targets().values()) == {"draining"}
    sim_clock.advance(60 + 15)
    assert acct.service()["status"] == "INACTIVE" and acct.targets() == {}


def test_a_failing_service_turns_its_targets_unhealthy_and_back(acct: Account, sim_clock: ManualClock) -> None:
    acct.create_service()
    sim_clock.advance(120)
    account.set_service_failing(CLUSTER, "checkout", True)
    sim_clock.advance(19)  # UnhealthyThresholdCount 2 x 10 s
    assert set(acct.targets().values()) == {"healthy"}
    sim_clock.advance(1)
    assert set(acct.targets().values()) == {"unhealthy"}
    account.set_service_failing(CLUSTER, "checkout", False)
    sim_clock.advance(30)
    assert set(acct.targets().values()) == {"healthy"}


def test_ip_targets_nothing_runs_behind_time_out(acct: Account, sim_clock: ManualClock) -> None:
    client("elbv2").register_targets(TargetGroupArn=acct.group, Targets=[{"Id": "10.40.3.200", "Port": 9090}])
    assert acct.targets() == {"10.40.3.200:9090": "initial"}
    sim_clock.advance(20)
    answer = client("elbv2").describe_target_health(TargetGroupArn=acct.group)["TargetHealthDescriptions"]
    assert answer[0]["TargetHealth"] == {
        "State": "unhealthy",
        "Reason": "Target.Timeout",
        "Description": "Request timed out",
    }


def test_a_group_no_listener_uses_is_refused_by_ecs_and_its_targets_are_unused(acct: Account) -> None:
    ecs = client("ecs")
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="does not have an associated load balancer"):
        ecs.create_service(
            cluster=CLUSTER,
            serviceName="idle",
            taskDefinition="checkout",
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [acct.subnet], "securityGroups": [acct.sg]}},
            loadBalancers=[{"targetGroupArn": acct.idle_group, "containerName": "app", "containerPort": 9090}],
        )
    client("elbv2").register_targets(TargetGroupArn=acct.idle_group, Targets=[{"Id": "10.40.3.201", "Port": 9090}])
    assert acct.targets(acct.idle_group) == {"10.40.3.201:9090": "unused"}


# --- Service Connect and Cloud Map -------------------------------------------------------------------


def test_service_connect_tasks_register_in_the_namespace_and_leave_when_they_stop(
    acct: Account, sim_clock: ManualClock
) -> None:
    sd = client("servicediscovery")
    operation = sd.create_http_namespace(Name="orders.local")["OperationId"]
    namespace = sd.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
    arn = sd.get_namespace(Id=namespace)["Namespace"]["Arn"]
    acct.create_service(
        serviceConnectConfiguration={
            "enabled": True,
            "namespace": arn,
            "services": [{"portName": "web", "discoveryName": "checkout", "clientAliases": [{"port": 80}]}],
        }
    )
    sim_clock.advance(40)
    (service,) = [s for s in sd.list_services()["Services"] if s["Name"] == "checkout"]
    instances = sd.list_instances(ServiceId=service["Id"])["Instances"]
    addresses = {(i["Attributes"]["AWS_INSTANCE_IPV4"], i["Attributes"]["AWS_INSTANCE_PORT"]) for i in instances}
    assert addresses == {(ip, "9090") for ip in acct.task_ips()}
    assert {i["Attributes"]["ECS_SERVICE_NAME"] for i in instances} == {"checkout"}
    client("ecs").update_service(cluster=CLUSTER, service="checkout", desiredCount=0)
    assert sd.list_instances(ServiceId=service["Id"])["Instances"] == []


# --- Route 53 and CloudFront ----------------------------------------------------------------------


def test_route53_changes_are_pending_then_insync(aws_inprocess: None, sim_clock: ManualClock) -> None:
    r53 = client("route53")
    zone = r53.create_hosted_zone(Name="orders.example.com", CallerReference="orders")["HostedZone"]["Id"]
    record = {"Name": "api.orders.example.com", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "10.0.0.1"}]}
    first = r53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]}
    )["ChangeInfo"]
    assert first["Status"] == "PENDING"
    sim_clock.advance(30)
    second = r53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]}
    )["ChangeInfo"]
    assert second["Id"] != first["Id"]
    sim_clock.advance(15)  # 45 s after the first
    assert r53.get_change(Id=first["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    assert r53.get_change(Id=second["Id"])["ChangeInfo"]["Status"] == "PENDING"
    sim_clock.advance(30)
    assert r53.get_change(Id=second["Id"])["ChangeInfo"]["Status"] == "INSYNC"


def test_cloudfront_deploys_take_minutes_and_a_policy_change_redeploys_the_primary(
    aws_inprocess: None, sim_clock: ManualClock
) -> None:
    from tests.activities.test_edge_cloudfront import make_distributions

    edge = make_distributions(weight=0.0)
    cf = client("cloudfront")
    assert cf.get_distribution(Id=edge.distribution_id)["Distribution"]["Status"] == "InProgress"
    sim_clock.advance(240)
    assert cf.get_distribution(Id=edge.distribution_id)["Distribution"]["Status"] == "Deployed"
    policy = cf.get_continuous_deployment_policy_config(Id=edge.continuous_deployment_policy_id)
    config = policy["ContinuousDeploymentPolicyConfig"]
    config["TrafficConfig"]["SingleWeightConfig"]["Weight"] = 0.05
    cf.update_continuous_deployment_policy(
        Id=edge.continuous_deployment_policy_id, IfMatch=policy["ETag"], ContinuousDeploymentPolicyConfig=config
    )
    assert cf.get_distribution(Id=edge.distribution_id)["Distribution"]["Status"] == "InProgress"
    sim_clock.advance(240)
    assert cf.get_distribution(Id=edge.distribution_id)["Distribution"]["Status"] == "Deployed"


# --- calls: throttling and latency ------------------------------------------------------------------


def test_throttling_mode_answers_each_services_own_error_above_its_rate(
    aws_inprocess: None, sim_clock: ManualClock
) -> None:
    sim_settings.configure(sim_settings.current().with_overrides(throttle=True))
    no_retries = Config(retries={"mode": "standard", "max_attempts": 1})
    ecs = client("ecs", config=no_retries)
    codes: list[str] = []
    for _ in range(60):  # ECS: 20 per second, bursts of 50; the clock does not move
        try:
            ecs.list_clusters()
            codes.append("ok")
        except ecs.exceptions.ClientError as err:
            codes.append(err.response["Error"]["Code"])
    assert codes == ["ok"] * 50 + ["ThrottlingException"] * 10
    route53 = client("route53", config=no_retries)
    with pytest.raises(route53.exceptions.ClientError) as caught:
        for _ in range(10):  # Route 53: five per second per account
            route53.list_hosted_zones()
    assert caught.value.response["Error"]["Code"] == "Throttling"
    sim_clock.advance(1)  # the buckets refill
    ecs.list_clusters()


def test_every_call_waits_the_latency(
    aws_inprocess: None, sim_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(account.time, "sleep", pauses.append)
    sim_settings.configure(sim_settings.current().with_overrides(latency=(0.020, 0.060), speed=2.0))
    client("ecs").list_clusters()
    client("elbv2").describe_load_balancers()
    assert len(pauses) == 2 and all(0.010 <= p <= 0.030 for p in pauses)  # 20-60 ms at twice the speed


# --- profiles, speed, control ----------------------------------------------------------------------


def test_the_instant_profile_still_does_everything_at_once(aws_inprocess: None, sim_clock: ManualClock) -> None:
    sim_settings.configure(sim_settings.profile("instant").with_overrides(clock=sim_clock))
    acct = Account()
    assert counts(acct.create_service()) == (2, 0, [("PRIMARY", "COMPLETED")])
    assert set(acct.targets().values()) == {"healthy"} and len(acct.targets()) == 2
    client("ecs").update_service(cluster=CLUSTER, service="checkout", desiredCount=0)
    assert acct.targets() == {}


def test_speed_divides_every_duration(aws_inprocess: None, sim_clock: ManualClock) -> None:
    sim_settings.configure(sim_settings.profile("realistic", speed=10, latency=(0, 0)).with_overrides(clock=sim_clock))
    acct = Account()
    acct.create_service()
    sim_clock.advance(3.9)
    assert acct.service()["runningCount"] == 0
    sim_clock.advance(0.1)  # 40 s / 10
    assert acct.service()["runningCount"] == 2
    sim_clock.advance(3.0)  # 3 x 10 s / 10
    assert set(acct.targets().values()) == {"healthy"}


def test_settings_read_from_json_and_refused_when_unknown() -> None:
    settings = sim_settings.from_mapping({"profile": "instant", "speed": 4, "route53_insync": 8})
    assert (settings.profile, settings.speed, settings.route53_insync, settings.ecs_task_start) == (
        "instant",
        4,
        8,
        0.0,
    )
    with pytest.raises(ValueError, match="unknown simulation knob"):
        sim_settings.from_mapping({"route53": 1})
    with pytest.raises(ValueError, match="profile"):
        sim_settings.profile("fast")


@pytest.mark.integration
def test_the_served_simulation_is_configured_and_driven_over_http(aws_server_env: str) -> None:
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"{aws_server_env}{path}", method="POST", data=json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=10) as answer:  # local test server only
            result: dict[str, Any] = json.loads(answer.read())
            return result

    answer = post("/moto-api/meshshift/settings", {"profile": "instant"})
    assert answer["profile"] == "instant" and answer["route53_insync"] == 0
    acct = Account()
    acct.create_service()
    post("/moto-api/meshshift/service-health", {"cluster": CLUSTER, "service": "checkout", "failing": True})
    assert set(acct.targets().values()) == {"unhealthy"}
    with pytest.raises(urllib.error.HTTPError) as caught:
        post("/moto-api/meshshift/settings", {"speed": -1})
    assert caught.value.code == 400


def test_every_knob_is_a_flag_of_meshshift_sim() -> None:
    result = CliRunner().invoke(cli, ["sim", "--help"], env={"COLUMNS": "200"})
    for flag in (
        "--profile",
        "--speed",
        "--latency-ms",
        "--route53-insync",
        "--cloudfront-deploy",
        "--ecs-task-start",
        "--ecs-task-stop",
        "--ecs-steady",
        "--health-check",
        "--deregistration-delay",
        "--throttle",
    ):
        assert flag in result.output, flag
    refused = CliRunner().invoke(cli, ["sim", "--profile", "fast"])
    assert refused.exit_code == 2 and "instant, realistic" in refused.output


def test_tasks_spread_over_the_services_subnets_and_fail_only_when_all_are_full(
    acct: Account, sim_clock: ManualClock
) -> None:
    """ECS places a task in any of the service's subnets with a free address; a /28 has 10 for tasks
    (16, less the network, broadcast and AWS's three reserved)."""
    ec2 = client("ec2")
    vpc = ec2.describe_subnets(SubnetIds=[acct.subnet])["Subnets"][0]["VpcId"]
    small = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.40.9.0/28", "us-east-1a"), ("10.40.9.16/28", "us-east-1b"))
    ]

    def create(name: str, count: int) -> None:
        client("ecs").create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition="checkout",
            desiredCount=count,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": small, "securityGroups": [acct.sg]}},
        )

    create("wide", 14)
    sim_clock.advance(40)
    ips = acct.task_ips("wide")
    assert len(ips) == 14 and set(ips.values()) == {"RUNNING"}
    assert {ip.rsplit(".", 1)[0] + (".0" if int(ip.rsplit(".", 1)[1]) < 16 else ".16") for ip in ips} == {
        "10.40.9.0",
        "10.40.9.16",
    }

    create("overflow", 8)
    sim_clock.advance(40)
    overflow = acct.service("overflow")
    assert overflow["runningCount"] == 6  # the 20 addresses are taken
    assert f"no free IP address left in subnet(s) {small[0]}, {small[1]}" in overflow["events"][0]["message"]


# --- what the scheduler looks at on each call -------------------------------------------------------


def _scale_up(acct: Account) -> None:
    client("ecs").update_service(cluster=CLUSTER, service="checkout", desiredCount=3)


def _new_deployment(acct: Account) -> None:
    client("ecs").update_service(cluster=CLUSTER, service="checkout", forceNewDeployment=True)


def _stop_a_task(acct: Account) -> None:
    ecs = client("ecs")
    arn = ecs.list_tasks(cluster=CLUSTER, serviceName="checkout")["taskArns"][0]
    ecs.stop_task(cluster=CLUSTER, task=arn, reason="test")


def _scale_up_inside_moto(acct: Account) -> None:
    # As CloudFormation would: moto's own update_service, not the ECS API the extensions wrap.
    from moto.ecs.models import ecs_backends

    ecs_backends[account.DEFAULT_ACCOUNT][REGION].update_service(
        {"cluster": CLUSTER, "service": "checkout", "desired_count": 3}
    )


def _delete(acct: Account) -> None:
    client("ecs").update_service(cluster=CLUSTER, service="checkout", desiredCount=0)
    client("ecs").delete_service(cluster=CLUSTER, service="checkout")


@pytest.mark.parametrize(
    ("change", "running_after", "status_after"),
    [
        (_scale_up, 3, "ACTIVE"),
        (_new_deployment, 2, "ACTIVE"),
        (_stop_a_task, 2, "ACTIVE"),
        (_scale_up_inside_moto, 3, "ACTIVE"),
        (_delete, 0, "INACTIVE"),
    ],
    ids=["scale-up", "new-deployment", "stop-task", "scale-up-inside-moto", "delete"],
)
def test_a_settled_service_is_brought_up_to_date_again_after_a_change(
    acct: Account, sim_clock: ManualClock, change: Any, running_after: int, status_after: str
) -> None:
    """Only services that may not have settled are scheduled on each call: a settled one must come
    back into that set with every change, or its new tasks would stay PROVISIONING for ever."""
    acct.create_service()
    acct.create_service("bystander", 1, behind_group=False)
    assert ecs_tasks.unsettled(account.DEFAULT_ACCOUNT, REGION) == [f"{CLUSTER}:checkout", f"{CLUSTER}:bystander"]
    sim_clock.advance(120)
    assert counts(acct.service()) == (2, 0, [("PRIMARY", "COMPLETED")])
    assert ecs_tasks.unsettled(account.DEFAULT_ACCOUNT, REGION) == []

    change(acct)
    assert ecs_tasks.unsettled(account.DEFAULT_ACCOUNT, REGION) == [f"{CLUSTER}:checkout"]
    # ECS acts as time passes; the simulation acts on the calls made meanwhile, one per step here.
    for step in (0, 40, 30, 60, 15, 15):  # placed, running, healthy, drained, stopped, steady
        sim_clock.advance(step)
        service = acct.service()
    assert service["status"] == status_after
    assert sorted(acct.task_ips().values()).count("RUNNING") == running_after
    if status_after == "ACTIVE":
        assert counts(service) == (running_after, 0, [("PRIMARY", "COMPLETED")])
        assert list(acct.targets().values()) == ["healthy"] * running_after
    assert ecs_tasks.unsettled(account.DEFAULT_ACCOUNT, REGION) == []
    assert acct.service("bystander")["runningCount"] == 1


def test_a_failing_service_is_scheduled_until_it_has_settled_again(acct: Account, sim_clock: ManualClock) -> None:
    acct.create_service()
    sim_clock.advance(120)
    assert counts(acct.service()) == (2, 0, [("PRIMARY", "COMPLETED")])
    assert ecs_tasks.unsettled(account.DEFAULT_ACCOUNT, REGION) == []
    account.set_service_failing(CLUSTER, "checkout", True)
    assert ecs_tasks.unsettled(account.DEFAULT_ACCOUNT, REGION) == [f"{CLUSTER}:checkout"]
    client("ecs").update_service(cluster=CLUSTER, service="checkout", forceNewDeployment=True)
    # The new tasks never pass their health checks, so the old ones stay and the rollout never ends.
    sim_clock.advance(40)
    assert counts(acct.service()) == (4, 0, [("PRIMARY", "IN_PROGRESS"), ("ACTIVE", "COMPLETED")])
    sim_clock.advance(600)
    assert counts(acct.service()) == (4, 0, [("PRIMARY", "IN_PROGRESS"), ("ACTIVE", "COMPLETED")])
    assert ecs_tasks.unsettled(account.DEFAULT_ACCOUNT, REGION) == [f"{CLUSTER}:checkout"]
    account.set_service_failing(CLUSTER, "checkout", False)
    for step in (30, 60, 15, 15):  # healthy, old ones drained, stopped, steady
        sim_clock.advance(step)
        service = acct.service()
    assert counts(service) == (2, 0, [("PRIMARY", "COMPLETED")])
    assert ecs_tasks.unsettled(account.DEFAULT_ACCOUNT, REGION) == []


def test_addresses_held_by_other_enis_are_given_to_tasks_once_freed(acct: Account, sim_clock: ManualClock) -> None:
    """Placement keeps an index of the addresses ENIs hold: ENIs created and deleted through EC2 and
    the ENIs of stopped tasks must move it, or a task would get a taken address or never a freed one."""
    ec2 = client("ec2")
    vpc = ec2.describe_subnets(SubnetIds=[acct.subnet])["Subnets"][0]["VpcId"]
    small = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.9.0/28", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    # A /28 has 10 addresses for tasks here, .5 to .14; other ENIs hold all but .14.
    held = {
        f"10.40.9.{n}": ec2.create_network_interface(SubnetId=small, PrivateIpAddress=f"10.40.9.{n}")[
            "NetworkInterface"
        ]["NetworkInterfaceId"]
        for n in range(5, 14)
    }
    acct.create_service("tight", 2, subnet=small, behind_group=False)
    sim_clock.advance(40)
    assert acct.task_ips("tight") == {"10.40.9.14": "RUNNING"}
    assert "no free IP address left in subnet(s)" in acct.service("tight")["events"][0]["message"]

    ec2.delete_network_interface(NetworkInterfaceId=held["10.40.9.7"])
    acct.service("tight")  # ECS places the task on its next pass (here: the next ECS call)
    sim_clock.advance(40)
    assert acct.task_ips("tight") == {"10.40.9.14": "RUNNING", "10.40.9.7": "RUNNING"}

    # A stopped task's ENI is deleted: its address goes to the next task.
    client("ecs").update_service(cluster=CLUSTER, service="tight", desiredCount=1)
    sim_clock.advance(15)  # SIGTERM to STOPPED (no target to drain)
    stopped = [ip for ip, status in acct.task_ips("tight").items() if status == "STOPPED"]
    assert len(stopped) == 1
    client("ecs").update_service(cluster=CLUSTER, service="tight", desiredCount=2)
    sim_clock.advance(40)
    running = sorted(ip for ip, status in acct.task_ips("tight").items() if status == "RUNNING")
    assert running == ["10.40.9.14", "10.40.9.7"]
