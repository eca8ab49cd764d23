"""``meshshift iam-policy``: the least-privilege policy of one migration, checked by real IAM tools.

- Every example spec (and a spec using every option) yields a policy that parliament finds
  nothing above LOW in, and no "Resource *" at all; cloudsplaining finds no infrastructure
  modification, resource exposure, privilege escalation, exfiltration or credentials exposure.
- Only the actions policy_sentry's IAM database says AWS allows on "*" alone are on "*", in the
  statement whose Sid says so; migration/iam_catalog.py is what policy_sentry says today.
- App A's write statements, read with policyuniverse and matched by IAM's wildcard rules, match
  none of app B's listener, rule, record, service or target-group ARNs.
- ``--discover`` reads blue from the simulated account and makes the policy exact; the real
  activities then stay inside it (the recorder's scoped check, tests/iam_check.py).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from cloudsplaining.command.scan_policy_file import scan_policy
from parliament import analyze_policy_string, enhance_finding
from policy_sentry.querying.actions import get_actions_that_support_wildcard_arns_only
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from meshshift.activities.aws import AwsClients
from meshshift.activities.decommission import DecommissionActivities
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.activities.provisioning import ProvisioningActivities
from meshshift.migration import iam_catalog
from meshshift.migration.contracts import (
    AwsContext,
    DeleteTargetGroupsInput,
    EnsureNamespaceInput,
    SetEdgeWeightsInput,
    ShifterTarget,
)
from meshshift.migration.edge import registry
from meshshift.migration.iam import STAR_ONLY_SID, IamPolicyError, arn_hints, build_policy, statements
from meshshift.migration.iam_model import ArnContext, IamCondition, IamContext, IamFacts, IamGrant, grant, iam_match
from meshshift.migration.loading import load_spec, validate_spec
from meshshift.migration.plan import weights_for
from meshshift.migration.spec import cluster_name
from meshshift.workers.cli import app
from meshshift.workers.iam_discovery import discover
from tests import iam_catalog_build, iam_check, iam_recorder
from tests.iam_scope import ReadStatement, condition_admits, generated_policy, read
from tests.unit.specdata import ACCOUNT, BLUE_TG, CLOUDFRONT_EDGE, GREEN_TG, LISTENER, RULE, shop
from tests.unit.toy_edge import ToyEdge, ToyMechanism, toy_spec

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
ARNS = ArnContext(region="us-east-1", account=ACCOUNT)


def everything() -> dict[str, Any]:
    """The brief's example with every option that widens the policy switched on."""
    data = shop()
    data["edge"][0].update(rule_arn=RULE, owned_by_meshshift=True)
    data["edge"][1].update(owned_by_meshshift=True)
    data["edge"].append({**CLOUDFRONT_EDGE, "promotion": "hold_at_cap"})
    data["blue"].update(mesh_owner="210987654321", retire=["stock-api"])
    data["async_workers"][0]["cluster"] = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/workers"
    data["decommission"].update(
        keep_green_on_rollback=False,
        delete={
            "blue_services": True,
            "target_groups": True,
            "records": True,
            "app_mesh": True,
            "blue_task_definitions": True,
        },
    )
    data["notifications"] = {
        "sns_topic_arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:shop-migrations",
        "webhook": {"url_secret_arn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:shop/webhook-AbCdEf"},
    }
    return data


def adopting() -> dict[str, Any]:
    data = shop()
    data["green"]["provision"] = "existing"
    data["decommission"]["delete"] = {"blue_services": False, "app_mesh": False}
    return data


FACTS = IamFacts(
    task_definition_families={"frontend": "frontend-td", "user-api": "user-api", "order-worker": "orders"},
    role_arns=[f"arn:aws:iam::{ACCOUNT}:role/shop-task", f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"],
    cloud_map_service_arns=[f"arn:aws:servicediscovery:us-east-1:{ACCOUNT}:service/srv-abc"],
    cloud_map_namespace_arns=[f"arn:aws:servicediscovery:us-east-1:{ACCOUNT}:namespace/ns-green"],
    green_namespace_exists=True,
    forwarders={BLUE_TG: [LISTENER, RULE]},
)
SPECS: dict[str, dict[str, Any]] = {
    **{path.name: load_spec(path).model_dump(mode="json") for path in EXAMPLES},
    "everything": everything(),
    "adopting": adopting(),
}
CASES = [(name, facts) for name in SPECS for facts in (None, FACTS)]
IDS = [f"{name}-{'discovered' if facts else 'spec-only'}" for name, facts in CASES]


def policy(name: str, facts: IamFacts | None = None) -> dict[str, Any]:
    return generated_policy(SPECS[name], facts)


# --- what AWS allows on "*" -------------------------------------------------------------------------


def test_the_catalog_is_what_policy_sentry_says_today() -> None:
    assert iam_catalog_build.catalog() == iam_catalog.ACTIONS, "stale migration/iam_catalog.py: run `make docs`"
    assert set(iam_catalog.ACTIONS) == set(iam_catalog_build.reference_actions())


def star_only_by_policy_sentry(actions: set[str]) -> set[str]:
    out: set[str] = set()
    for prefix in {a.split(":")[0] for a in actions}:
        out |= {a.lower() for a in get_actions_that_support_wildcard_arns_only(prefix)}
    return {a for a in actions if a.lower() in out}


@pytest.mark.parametrize(("name", "facts"), CASES, ids=IDS)
def test_only_what_aws_allows_on_star_alone_is_on_star(name: str, facts: IamFacts | None) -> None:
    document = policy(name, facts)
    granted = {a for s in document["Statement"] for a in s["Action"]}
    star = [s for s in document["Statement"] if "*" in s["Resource"]]
    assert [s["Sid"] for s in star] == [STAR_ONLY_SID] and star[0]["Resource"] == ["*"]
    assert set(star[0]["Action"]) == star_only_by_policy_sentry(granted)
    assert "Condition" not in star[0]


# --- parliament and cloudsplaining ------------------------------------------------------------------

ABOVE_LOW = {"MEDIUM", "HIGH", "CRITICAL"}


def parliament_findings(document: dict[str, Any]) -> tuple[list[Any], set[tuple[str, str]]]:
    """Findings above LOW, and the RESOURCE_MISMATCH items waived because parliament is wrong.

    Parliament's RESOURCE_MISMATCH asks for a resource of *every* resource type an action lists
    (duo-labs/parliament#48; the fix, #208, was never merged): an app listener is not enough for
    ModifyListener, it wants a net listener too. And its database (1.6.4) predates AWS's scoping
    of servicediscovery:GetOperation to namespaces. An item is waived only when policy_sentry's
    newer database says the statement has a resource of one of the action's types and that the
    format parliament asks for is one more such type, or "*" for an action AWS now scopes.
    """
    findings = [enhance_finding(f) for f in analyze_policy_string(json.dumps(document, indent=2)).findings]
    waived: set[tuple[str, str]] = set()
    above: list[Any] = []
    for finding in findings:
        if finding.issue == "RESOURCE_MISMATCH":
            kept = [item for item in finding.detail if not _parliament_is_wrong(document, item, waived)]
            if not kept:
                continue
            finding.detail = kept
        if finding.severity in ABOVE_LOW or finding.issue == "RESOURCE_STAR":
            above.append((finding.issue, finding.severity, finding.detail))
    return above, waived


def _parliament_is_wrong(document: dict[str, Any], item: dict[str, str], waived: set[tuple[str, str]]) -> bool:
    action, wanted = item["action"], item["required_format"]
    facts = iam_catalog.ACTIONS[action]
    globs = [t.arn_format.replace("${Partition}", "*") for t in facts.resource_types]
    for statement in document["Statement"]:
        if action not in statement["Action"]:
            continue
        has_own_type = any(
            iam_match(_glob(t.arn_format), arn) for t in facts.resource_types for arn in statement["Resource"]
        )
        another_type = (wanted == "*" and not facts.star_only) or any(_same_shape(wanted, g) for g in globs)
        if not (has_own_type and another_type):
            return False
    waived.add((action, wanted))
    return True


def _glob(arn_format: str) -> str:
    return re.sub(r"\$\{\w+\}", "*", arn_format)


def _same_shape(parliament_format: str, arn_format: str) -> bool:
    return iam_match(_glob(arn_format), parliament_format) or iam_match(parliament_format, _glob(arn_format))


KNOWN_WAIVERS = {
    ("servicediscovery:GetOperation", "*"),
    # parliament's copy of the reference lists no resource type for ListInstances; AWS's lists "service".
    ("servicediscovery:ListInstances", "*"),
    ("elasticloadbalancing:ModifyListener", "arn:*:elasticloadbalancing:*:*:listener/net/*/*/*"),
    ("elasticloadbalancing:ModifyRule", "arn:*:elasticloadbalancing:*:*:listener-rule/net/*/*/*/*"),
}


@pytest.mark.parametrize(("name", "facts"), CASES, ids=IDS)
def test_parliament_finds_nothing_above_low(name: str, facts: IamFacts | None) -> None:
    above, waived = parliament_findings(policy(name, facts))
    assert above == []
    assert waived <= KNOWN_WAIVERS


def test_parliament_does_flag_the_broad_reference_policy() -> None:
    above, _ = parliament_findings(json.loads((REPO / "docs" / "iam-policy.json").read_text()))
    assert {issue for issue, _, _ in above} == {"RESOURCE_STAR"}


CLOUDSPLAINING_RISKS = (
    "InfrastructureModification",
    "ResourceExposure",
    "PrivilegeEscalation",
    "DataExfiltration",
    "CredentialsExposure",
)


@pytest.mark.parametrize(("name", "facts"), CASES, ids=IDS)
def test_cloudsplaining_finds_no_unscoped_risk(name: str, facts: IamFacts | None) -> None:
    results = scan_policy(policy(name, facts), {})
    assert {risk: results[risk]["findings"] for risk in CLOUDSPLAINING_RISKS} == {
        risk: [] for risk in CLOUDSPLAINING_RISKS
    }


def test_cloudsplaining_does_flag_the_broad_reference_policy() -> None:
    results = scan_policy(json.loads((REPO / "docs" / "iam-policy.json").read_text()), {})
    assert "elasticloadbalancing:ModifyListener" in results["InfrastructureModification"]["findings"]


@pytest.mark.parametrize(("name", "facts"), CASES, ids=IDS)
def test_every_write_aws_lets_you_scope_is_scoped(name: str, facts: IamFacts | None) -> None:
    for statement in read(policy(name, facts)):
        unscoped = any(r == "*" for r in statement.resources)
        for action in statement.actions:
            facts_of = next(f for a, f in iam_catalog.ACTIONS.items() if a.lower() == action)
            assert not unscoped or facts_of.star_only, f"{statement.sid}: {action} on '*'"


# --- app A does not reach app B --------------------------------------------------------------------

B_ACCOUNT_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}"


def cart(zone: str = "Z9CART", record: str = "api.cart.example.com") -> dict[str, Any]:
    """Another application in the same account, region and cluster as the shop."""
    data = everything()
    data.update(name="cart", alarms=["cart-green-5xx"], async_workers=[])
    data["blue"] = {"cluster": "shop", "services": ["cart-api", "cart-web"], "mesh": "cart-mesh"}
    data["green"] = {"cluster": "shop", "namespace": "cart.local", "service_suffix": "-sc"}
    data["edge"] = [
        {
            "type": "alb",
            "listener_arn": f"{B_ACCOUNT_ARN}:listener/app/cart/0123456789abcdef/fedcba9876543210",
            "rule_arn": f"{B_ACCOUNT_ARN}:listener-rule/app/cart/0123456789abcdef/fedcba9876543210/00aa11bb22cc33dd",
            "blue_target_group_arn": f"{B_ACCOUNT_ARN}:targetgroup/cart-blue/1111222233334444",
            "green_target_group_arn": f"{B_ACCOUNT_ARN}:targetgroup/cart-green/5555666677778888",
            "owned_by_meshshift": True,
        },
        {
            "type": "route53",
            "hosted_zone_id": zone,
            "record_name": record,
            "blue": {"set_identifier": "blue", "value": "blue.cart.example.com"},
            "green": {"set_identifier": "green", "value": "green.cart.example.com"},
            "owned_by_meshshift": True,
        },
    ]
    return data


def arns_of(data: dict[str, Any]) -> dict[str, list[str]]:
    """The app's listener/rule, target-group and service ARNs, and its records as (zone ARN, name)."""
    spec = validate_spec(data)
    alb = [e for e in data["edge"] if e["type"] == "alb"]
    suffix = spec.green.service_suffix
    names = [("shop", s) for s in spec.blue.services]
    names += [("shop", s + suffix) for s in spec.blue.services if s not in spec.blue.retire]
    for w in spec.async_workers:
        cluster = cluster_name(w.cluster or "shop")
        names += [(cluster, w.blue_service), (cluster, w.green_service)]
    return {
        "listener": [arn for e in alb for arn in (e["listener_arn"], e.get("rule_arn")) if arn],
        "target group": [arn for e in alb for arn in (e["blue_target_group_arn"], e["green_target_group_arn"])],
        "service": [f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/{c}/{n}" for c, n in names],
        "record": [
            f"arn:aws:route53:::hostedzone/{e['hosted_zone_id']}|{e['record_name']}"
            for e in data["edge"]
            if e["type"] == "route53"
        ],
    }


def reaches(statement: ReadStatement, kind: str, arn: str) -> bool:
    """A write action of the statement may act on ``arn``. The ones AWS allows only on "*"
    (DeregisterTaskDefinition, CreateHttpNamespace) name no listener, record, service or group."""
    scoped_writes = [
        a for a, f in iam_catalog.ACTIONS.items() if a.lower() in statement.actions and f.modifies and not f.star_only
    ]
    if not scoped_writes:
        return False
    if kind != "record":
        return statement.covers(arn)
    zone, name = arn.split("|")
    return statement.covers(zone) and condition_admits(
        statement, "route53:ChangeResourceRecordSetsNormalizedRecordNames", name
    )


@pytest.mark.parametrize(
    "other",
    [cart(), cart(zone="Z0123456789", record="cart.shop.example.com")],
    ids=["own-hosted-zone", "shared-hosted-zone"],
)
@pytest.mark.parametrize("facts", [None, FACTS], ids=["spec-only", "discovered"])
def test_app_a_writes_reach_nothing_of_app_b(other: dict[str, Any], facts: IamFacts | None) -> None:
    for a, b in ((everything(), other), (other, everything())):
        writes = [s for s in read(generated_policy(a, facts)) if s.modifies]
        assert writes
        for kind, arns in arns_of(b).items():
            for arn in arns:
                hit = [s.sid for s in writes if reaches(s, kind, arn)]
                assert not hit, f"{validate_spec(a).name}'s {hit} reach {validate_spec(b).name}'s {kind} {arn}"
        # The check can see a hit: some of A's own resources of each kind are written.
        own = arns_of(a)
        assert all(any(reaches(s, kind, arn) for s in writes for arn in own[kind]) for kind in own)


def test_iam_wildcards() -> None:
    assert iam_match("arn:aws:ecs:*:*:service/shop/*", "arn:aws:ecs:us-east-1:1:service/shop/a/b")
    assert iam_match("task-definition/*-sc:*", "task-definition/frontend-sc:12")
    assert not iam_match("task-definition/*-sc:*", "task-definition/frontend:12")
    assert iam_match("alarm:shop-?", "alarm:shop-1") and not iam_match("alarm:shop-?", "alarm:shop-12")
    assert not iam_match("service/shop/api", "service/shop/API")


# --- mechanisms bring their own IAM; the builder checks every grant -------------------------------


class GatedToy(ToyMechanism):
    def iam_grants(self, edge: ToyEdge, context: IamContext) -> list[IamGrant]:
        rule = (
            f"{B_ACCOUNT_ARN}:listener-rule/app/toy/0123456789abcdef/0123456789abcdef/{edge.gateway.replace('-', '')}"
        )
        return [grant("ToyGatewaySplit", ["elasticloadbalancing:ModifyRule"], [rule])]


def test_a_new_mechanism_brings_its_own_grants() -> None:
    with registry.registered(GatedToy()):
        document = generated_policy(toy_spec(gateway="gw1"))
    (toy,) = [s for s in document["Statement"] if s["Sid"] == "ToyGatewaySplit"]
    assert toy["Resource"] == [f"{B_ACCOUNT_ARN}:listener-rule/app/toy/0123456789abcdef/0123456789abcdef/gw1"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (grant("X", ["ecs:UpdateService"], [f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/shop"]), "none of its resources"),
        (grant("X", ["ecs:DescribeTaskDefinition"], ["arn:aws:ecs:us-east-1:1:task-definition/a:1"]), "only on"),
        (grant("X", ["ecs:UpdateService"], ["*"]), "so not on Resource"),
        (grant("X", ["ecs:RunTask"], ["*"]), "not in migration/iam_catalog.py"),
    ],
)
def test_the_builder_refuses_a_grant_aws_would_not_honour(bad: IamGrant, message: str) -> None:
    with pytest.raises(IamPolicyError, match=message):
        statements([bad])


def test_a_condition_key_aws_does_not_document_for_the_action_is_refused() -> None:
    bad = grant(
        "X",
        ["ecs:RegisterTaskDefinition"],
        [f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/a:*"],
        IamCondition("ArnEquals", "ecs:cluster", ("x",)),
    )
    with pytest.raises(IamPolicyError, match="no condition key ecs:cluster"):
        statements([bad])


def test_the_session_check_reports_a_call_outside_the_generated_policy() -> None:
    document = policy("shop.yaml")
    calls = [
        iam_recorder.Call("elasticloadbalancing:ModifyListener", (LISTENER,), "shop"),
        iam_recorder.Call("elasticloadbalancing:ModifyListener", (LISTENER.replace("/shop/", "/cart/"),), "shop"),
        iam_recorder.Call("ecs:UpdateService", (BLUE_TG,), None),
    ]
    problems = iam_check.resource_problems(calls, {"shop": document})
    assert len(problems) == 2
    assert "listener/app/cart/" in problems[0] and "outside the generated policy of shop" in problems[0]
    assert "not a resource type AWS documents" in problems[1]


# --- the command ------------------------------------------------------------------------------------

runner = CliRunner()


def test_the_command_prints_the_policy_of_the_example() -> None:
    result = runner.invoke(app, ["iam-policy", str(REPO / "examples" / "shop.yaml")])
    assert result.exit_code == 0, result.output
    start = result.stdout.index("{")
    assert json.loads(result.stdout[start : result.stdout.rindex("}") + 1]) == policy("shop.yaml")
    as_json = runner.invoke(app, ["iam-policy", str(REPO / "examples" / "shop.yaml"), "--json"])
    out = json.loads(as_json.stdout)
    assert out["policy"] == policy("shop.yaml") and out["account"] == ACCOUNT and out["region"] == "us-east-1"
    assert out["notes"] and out["size"] < 6144 and out["discovered"] is False


def test_without_an_account_the_command_asks_for_one(tmp_path: Path) -> None:
    data = shop()
    data["edge"] = [data["edge"][1]]  # Route 53 ids name no account
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    refused = runner.invoke(app, ["iam-policy", str(path)])
    assert refused.exit_code == 2 and "--account" in refused.output and "--discover" in refused.output
    given = runner.invoke(app, ["iam-policy", str(path), "--account", ACCOUNT, "--json"])
    assert given.exit_code == 0 and json.loads(given.stdout)["account"] == ACCOUNT


def test_an_invalid_spec_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**shop(), "name": "Not A Name"}))
    assert runner.invoke(app, ["iam-policy", str(path)]).exit_code == 1


# --- --discover against the simulated account, and the activities inside the result ------------------


def seed_blue_for_discovery() -> dict[str, Any]:
    """One blue service (own family, task and execution roles, a Cloud Map registration) behind an
    ALB listener, green's namespace already there; returns the spec naming it."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    lb = elbv2.create_load_balancer(Name="shop", Subnets=[subnet])["LoadBalancers"][0]["LoadBalancerArn"]

    def group(name: str) -> str:
        made = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")
        return str(made["TargetGroups"][0]["TargetGroupArn"])

    blue_tg, green_tg = group("shop-blue"), group("shop-green")
    forward = {"TargetGroups": [{"TargetGroupArn": blue_tg, "Weight": 100}, {"TargetGroupArn": green_tg, "Weight": 0}]}
    listener = elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "ForwardConfig": forward}]
    )["Listeners"][0]["ListenerArn"]
    sd = boto3.client("servicediscovery", region_name="us-east-1")
    for name in ("shop.local", "blue.local"):
        sd.create_http_namespace(Name=name)
    blue_ns = next(n["Id"] for n in sd.list_namespaces()["Namespaces"] if n["Name"] == "blue.local")
    registry_arn = sd.create_service(Name="frontend", NamespaceId=blue_ns)["Service"]["Arn"]
    ecs = boto3.client("ecs", region_name="us-east-1")
    ecs.create_cluster(clusterName="shop")
    definition = ecs.register_task_definition(
        family="frontend-td",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/shop-frontend",
        executionRoleArn="ecsTaskExecutionRole",
        containerDefinitions=[{"name": "app", "image": "frontend:1", "memory": 256}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="shop",
        serviceName="frontend",
        taskDefinition=definition,
        desiredCount=1,
        serviceRegistries=[{"registryArn": registry_arn}],
    )
    data = shop()
    data.update(alarms=[], async_workers=[])
    data["blue"] = {"cluster": "shop", "services": ["frontend"]}
    data["edge"] = [
        {
            "type": "alb",
            "listener_arn": listener,
            "blue_target_group_arn": blue_tg,
            "green_target_group_arn": green_tg,
            "owned_by_meshshift": True,
        }
    ]
    data["decommission"]["delete"] = {"target_groups": True}
    return data


def test_discovery_makes_the_policy_exact_and_the_activities_stay_inside_it(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    data = seed_blue_for_discovery()
    spec = validate_spec(data)
    arns, facts = discover(spec, arn_hints(spec), boto3.session.Session(region_name="us-east-1"))
    assert arns == ArnContext(region="us-east-1", account=ACCOUNT)
    assert facts.task_definition_families == {"frontend": "frontend-td"}
    assert facts.role_arns == [
        f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
        f"arn:aws:iam::{ACCOUNT}:role/shop-frontend",
    ]
    assert facts.green_namespace_exists and len(facts.cloud_map_namespace_arns or []) == 2
    assert facts.cloud_map_service_arns and facts.forwarders == {
        data["edge"][0]["blue_target_group_arn"]: [data["edge"][0]["listener_arn"]]
    }
    built = build_policy(spec, arns, facts)
    assert built.notes == []
    document = built.document()
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["EcsRegisterGreenTaskDefinitions"]["Resource"] == [
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/frontend-td-sc:*"
    ]
    assert by_sid["PassBlueTaskRolesToEcsTasks"]["Resource"] == facts.role_arns
    assert "servicediscovery:CreateHttpNamespace" not in by_sid[STAR_ONLY_SID]["Action"]
    # The real activities, on this spec's resources, inside the generated policy (session-end check).
    env, ctx = ActivityEnvironment(), AwsContext(region="us-east-1")
    edge = spec.edge[0]
    with iam_recorder.scoped("the discovered shop", document):
        env.run(ProvisioningActivities(aws_clients).ensure_namespace, EnsureNamespaceInput(aws=ctx, name="shop.local"))
        edges = EdgeActivities(aws_clients)
        for percent in (10, 100):
            target = ShifterTarget(edge=edge, weights=weights_for(edge, percent))
            env.run(edges.set_edge_weights, SetEdgeWeightsInput(aws=ctx, targets=[target]))
        env.run(
            DecommissionActivities(aws_clients, poll_interval=0.01).delete_target_groups,
            DeleteTargetGroupsInput(aws=ctx, target_group_arns=[data["edge"][0]["blue_target_group_arn"]]),
        )
    recorded = {c.action for c in iam_recorder.calls() if c.policy == "the discovered shop"}
    assert {"elasticloadbalancing:ModifyListener", "elasticloadbalancing:DeleteTargetGroup"} <= recorded
    problems = iam_check.resource_problems(iam_recorder.calls(), iam_recorder.scopes())
    assert [p for p in problems if "the discovered shop" in p] == []


def test_the_example_policy_is_stable() -> None:
    """Guards against an accidental widening: the shop's statements, as docs/security.md shows them."""
    document = policy("shop.yaml")
    assert [s["Sid"] for s in document["Statement"]] == [
        "EcsBlueServices",
        "EcsGreenServices",
        "EcsRegisterGreenTaskDefinitions",
        "EcsTagGreenOnCreate",
        "PassBlueTaskRolesToEcsTasks",
        "EcsServiceLinkedRoleOnFirstService",
        "CloudMapFollowNamespaceCreation",
        "CloudMapReadNamespaces",
        "CloudMapReadBlueRegistrations",
        "AppMeshReadBlueMesh",
        "AppMeshReadBlueMeshChildren",
        "AppMeshDeleteBlueMeshChildren",
        "AppMeshDeleteBlueMesh",
        "CloudWatchReadSpecAlarms",
        "AlbShiftWeightsOnListener",
        "Route53ReadRecords",
        "Route53WeightedRecords",
        "Route53WaitForChange",
        STAR_ONLY_SID,
    ]
    assert copy.deepcopy(document) == build_policy(load_spec(REPO / "examples" / "shop.yaml"), ARNS).document()
    assert GREEN_TG not in json.dumps(document)  # green's target group is only health-checked ("*" only)
