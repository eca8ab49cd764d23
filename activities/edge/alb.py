"""ALB weighted target groups: the listener's default action (``modify_listener``) or a rule
(``modify_rule``).

Both calls replace the whole action list, so the shifter rewrites only the forward action's
blue/green weights and keeps everything else as read: other actions (authentication, ...), other
target groups in the forward (with their weights), and ``TargetGroupStickinessConfig`` (sticky
sessions delay the shift by up to their duration, which the drain phase accounts for). A plain
single-target forward (``TargetGroupArn`` without ``ForwardConfig``) is accepted as the starting
point: it means 100% to that target group.
"""

from __future__ import annotations

import copy
from typing import Any

from botocore.exceptions import ClientError

from meshshift.activities.aws import aws_errors, error_code
from meshshift.activities.edge.base import EDGE_MISCONFIGURED, Shifter, percent_of, refuse
from meshshift.migration.contracts import ShifterReading, ShifterWeights
from meshshift.migration.edge.alb import (
    ALB,
    MAX_WEIGHT,
    AlbActionFacts,
    AlbEdge,
    AlbFacts,
    AlbTargetGroupFacts,
    AlbWeightedTargetGroup,
)

# Condition fields and the config key that holds their values (botocore's ELBv2 model).
_CONDITION_CONFIGS = {
    "path-pattern": "PathPatternConfig",
    "host-header": "HostHeaderConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "source-ip": "SourceIpConfig",
}


def describe_condition(condition: dict[str, Any]) -> str:
    """``path-pattern /api/* or /v2/*``: one condition of a rule, its values or-ed as ALB does."""
    name = str(condition.get("Field", "?"))
    if name == "http-header":
        config = condition.get("HttpHeaderConfig") or {}
        values = [f"{config.get('HttpHeaderName', '?')}={v}" for v in config.get("Values") or []]
    elif name == "query-string":
        pairs = (condition.get("QueryStringConfig") or {}).get("Values") or []
        values = [f"{p.get('Key') or ''}={p.get('Value', '')}" for p in pairs]
    else:
        values = list((condition.get(_CONDITION_CONFIGS.get(name, "")) or {}).get("Values") or [])
        values = values or list(condition.get("Values") or [])
    return f"{name} {' or '.join(values)}"


def action_facts(actions: list[dict[str, Any]], rule: dict[str, Any] | None = None) -> AlbActionFacts:
    forwards = [
        AlbWeightedTargetGroup(target_group_arn=arn, weight=weight)
        for action in actions
        if action.get("Type") == "forward"
        for arn, weight in AlbShifter._target_weights(action).items()
    ]
    return AlbActionFacts(
        rule_arn=rule["RuleArn"] if rule else None,
        priority=str(rule.get("Priority", "default")) if rule else "default",
        conditions=[describe_condition(c) for c in (rule or {}).get("Conditions") or []],
        action_types=[str(a.get("Type")) for a in actions],
        forwards=forwards,
    )


class AlbShifter(Shifter):
    mechanism = ALB
    edge: AlbEdge
    # The forward's actions as AWS last answered them in this activity: the read before the write
    # when nothing had to change, else the modify call's own response (which returns the listener's
    # or rule's new actions), so the read-back costs no call.
    _answered: list[dict[str, Any]] | None = None

    def _check_range(self, weights: ShifterWeights) -> None:
        for side, value in (("blue", weights.blue), ("green", weights.green)):
            if value != int(value) or not 0 <= value <= MAX_WEIGHT:
                raise refuse(
                    f"ALB shifter {self.shifter_id}: {side} weight must be an integer 0-{MAX_WEIGHT}, got {value:g}."
                )
        if weights.blue == 0 and weights.green == 0:
            raise refuse(f"ALB shifter {self.shifter_id}: blue and green weights are both 0 (no traffic anywhere).")

    # --- AWS reads and writes ---------------------------------------------------------------

    def _where(self) -> str:
        if self.edge.rule_arn:
            return f"rule {self.edge.rule_arn}"
        return f"listener {self.edge.listener_arn} default action"

    def _read_actions(self) -> list[dict[str, Any]]:
        elbv2 = self.clients.elbv2(self.aws)
        if self.edge.rule_arn:
            with aws_errors(f"Reading ALB {self._where()}"):
                rules = elbv2.describe_rules(RuleArns=[self.edge.rule_arn])["Rules"]
            return [dict(a) for a in rules[0].get("Actions", [])] if rules else []
        with aws_errors(f"Reading ALB {self._where()}"):
            listeners = elbv2.describe_listeners(ListenerArns=[self.edge.listener_arn])["Listeners"]
        return [dict(a) for a in listeners[0].get("DefaultActions", [])] if listeners else []

    def _forward(self, actions: list[dict[str, Any]]) -> dict[str, Any]:
        forwards = [a for a in actions if a.get("Type") == "forward"]
        if len(forwards) != 1:
            kinds = ", ".join(str(a.get("Type")) for a in actions) or "none"
            raise refuse(
                f"ALB {self._where()}: expected exactly one forward action, found actions: {kinds}. "
                "Next: point the edge at a listener or rule that forwards to the blue target group.",
                type=EDGE_MISCONFIGURED,
            )
        return forwards[0]

    @staticmethod
    def _target_weights(forward: dict[str, Any]) -> dict[str, int]:
        groups = (forward.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
        if forward.get("TargetGroupArn"):
            return {forward["TargetGroupArn"]: 1}  # single-target forward: all traffic to it
        return {}

    def set_weights(self, weights: ShifterWeights) -> None:
        self.check_weights(weights)
        actions = self._read_actions()
        forward = self._forward(actions)
        current = self._target_weights(forward)
        wanted = {
            self.edge.blue_target_group_arn: int(weights.blue),
            self.edge.green_target_group_arn: int(weights.green),
        }
        if all(current.get(arn) == w for arn, w in wanted.items()) and forward.get("ForwardConfig"):
            self._answered = actions
            return  # already there; a repeat writes nothing
        groups = [{"TargetGroupArn": arn, "Weight": w} for arn, w in wanted.items()]
        # Other target groups keep their presence and weight: meshshift only owns blue and green.
        groups += [{"TargetGroupArn": arn, "Weight": w} for arn, w in current.items() if arn not in wanted]
        new_forward = {k: copy.deepcopy(v) for k, v in forward.items() if k != "TargetGroupArn"}
        forward_config = dict(new_forward.get("ForwardConfig") or {})
        forward_config["TargetGroups"] = groups
        new_forward["ForwardConfig"] = forward_config
        new_actions = [new_forward if a is forward else a for a in actions]
        elbv2 = self.clients.elbv2(self.aws)
        with aws_errors(f"Setting weights on ALB {self._where()}"):
            if self.edge.rule_arn:
                rules = elbv2.modify_rule(RuleArn=self.edge.rule_arn, Actions=new_actions)["Rules"]  # type: ignore[arg-type]
                answered = [dict(a) for a in rules[0].get("Actions", [])] if rules else None
            else:
                listeners = elbv2.modify_listener(
                    ListenerArn=self.edge.listener_arn,
                    DefaultActions=new_actions,  # type: ignore[arg-type]
                )["Listeners"]
                answered = [dict(a) for a in listeners[0].get("DefaultActions", [])] if listeners else None
        self._answered = answered

    def read_back(self) -> ShifterReading:
        if self._answered is None:
            return self.read_weights()
        return self._reading(self._answered)

    def inspect(self) -> AlbFacts:
        return self.inspecting(
            f"Reading ALB listener {self.edge.listener_arn}, its rules and target groups",
            self._inspect,
            lambda reason: AlbFacts(shifter_id=self.shifter_id, unreadable=reason),
        )

    def _inspect(self) -> AlbFacts:
        elbv2 = self.clients.elbv2(self.aws)
        try:
            listeners = elbv2.describe_listeners(ListenerArns=[self.edge.listener_arn])["Listeners"]
        except ClientError as err:
            if error_code(err) != "ListenerNotFound":
                raise
            listeners = []
        if not listeners:
            return AlbFacts(shifter_id=self.shifter_id, listener_found=False)
        rules: list[AlbActionFacts] = []
        kwargs: dict[str, Any] = {"ListenerArn": self.edge.listener_arn}
        while True:
            page = elbv2.describe_rules(**kwargs)
            rules += [
                action_facts([dict(a) for a in r.get("Actions") or []], dict(r))
                for r in page["Rules"]
                if not r.get("IsDefault")
            ]
            if not page.get("NextMarker"):
                break
            kwargs["Marker"] = page["NextMarker"]
        self.heartbeat(f"{self.shifter_id}: read {len(rules)} listener rules")
        return AlbFacts(
            shifter_id=self.shifter_id,
            default_action=action_facts([dict(a) for a in listeners[0].get("DefaultActions", [])]),
            rules=rules,
            target_groups=[
                self._target_group(arn) for arn in (self.edge.blue_target_group_arn, self.edge.green_target_group_arn)
            ],
        )

    def _target_group(self, arn: str) -> AlbTargetGroupFacts:
        elbv2 = self.clients.elbv2(self.aws)
        try:
            groups = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
        except ClientError as err:
            if error_code(err) != "TargetGroupNotFound":
                raise
            groups = []
        if not groups:
            return AlbTargetGroupFacts(target_group_arn=arn, found=False)
        group = groups[0]
        return AlbTargetGroupFacts(
            target_group_arn=arn,
            found=True,
            port=group.get("Port"),
            protocol=group.get("Protocol"),
            health_check_protocol=group.get("HealthCheckProtocol"),
            health_check_port=group.get("HealthCheckPort"),
            health_check_path=group.get("HealthCheckPath"),
        )

    def read_weights(self) -> ShifterReading:
        return self._reading(self._read_actions())

    def _reading(self, actions: list[dict[str, Any]]) -> ShifterReading:
        forward = self._forward(actions)
        current = self._target_weights(forward)
        blue = current.get(self.edge.blue_target_group_arn, 0)
        green = current.get(self.edge.green_target_group_arn, 0)
        others = sorted(set(current) - {self.edge.blue_target_group_arn, self.edge.green_target_group_arn})
        detail = []
        if others:
            detail.append(f"other target groups in the forward: {', '.join(others)}")
        sticky = (forward.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig") or {}
        if sticky.get("Enabled"):
            detail.append(f"target group stickiness {sticky.get('DurationSeconds')} s delays the shift")
        if not forward.get("ForwardConfig") and forward.get("TargetGroupArn"):
            detail.append("single-target forward")
        return self.reading(blue, green, percent_of(blue, green), detail="; ".join(detail))
