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

from meshshift.activities.aws import aws_errors
from meshshift.activities.edge.base import EDGE_MISCONFIGURED, Shifter, percent_of, refuse
from meshshift.migration.contracts import ShifterReading, ShifterWeights
from meshshift.migration.edge.alb import ALB, MAX_WEIGHT, AlbEdge


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
