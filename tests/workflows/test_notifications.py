"""Notifications from the workflow: which events send one, to every target of the spec, and that a
failed delivery is only audited (the migration carries on). The activity's delivery itself (SNS,
HTTPS webhook) is tested in tests/activities/test_notifications.py."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from meshshift.activities.aws import AwsClients
from meshshift.activities.notifications import NotificationActivities
from meshshift.migration import contracts as c
from meshshift.migration.contracts import NotificationKind as K
from meshshift.workers.keepalive import KeepaliveInterceptor
from meshshift.workers.worker import paired_worker
from meshshift.workflows.migration import MeshMigration
from meshshift.workflows.sandbox import workflow_runner
from tests.webhook_receiver import Receiver, receiver, trusted_receiver
from tests.workflows.fakes import FakeActivities
from tests.workflows.harness import finish, gate_open, make_spec, running_worker, send, start, wait_for, world_for
from tests.workflows.test_web_ui_details import activity_summaries

__all__ = ["receiver", "trusted_receiver"]  # fixtures

TOPIC = "arn:aws:sns:us-east-1:123456789012:shop-migrations"
NOTIFICATIONS = {"sns_topic_arn": TOPIC, "webhook": {"url_env": "MESHSHIFT_WEBHOOK_URL"}}


def kinds(sent: list[c.NotifyInput]) -> Counter[tuple[str, K]]:
    return Counter((n.target.type, n.notification.kind) for n in sent)


async def test_gates_refusals_and_completion_notify_every_target(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [5, 100], "approval": "required"}, notifications=NOTIFICATIONS)
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body, workflow_id="mesh-migration-shop")
        await wait_for(handle, gate_open(5), "gate 5")
        await send(handle, "approve", {"approver": "mallory", "step": 5})
        # An alarm bridge forwards OK transitions too: refused, but not worth a notification.
        await send(handle, "alarm", {"alarm_name": "shop-green-5xx", "state": "OK"})
        await send(handle, "approve", {"approver": "alice", "step": 5})
        await env_timeskipping.sleep(timedelta(minutes=11))
        await wait_for(handle, gate_open(100), "gate 100")
        await send(handle, "approve", {"approver": "bob"})
        report = await finish(handle)
        history = await handle.fetch_history()
    assert report.outcome == "completed"
    both = ("sns", "webhook")
    assert kinds(world.notifications) == Counter(
        {(t, k): n for t in both for k, n in ((K.GATE_OPENED, 2), (K.REFUSAL, 1), (K.COMPLETED, 1))}
    )
    gate = next(n.notification for n in world.notifications if n.notification.kind is K.GATE_OPENED)
    assert gate.title == "meshshift shop: approval needed for the step 5% green"
    assert "`meshshift approve shop --step 5 --as <approver>`" in gate.text
    assert "--name approve_update" in gate.text
    refusal = next(n.notification for n in world.notifications if n.notification.kind is K.REFUSAL)
    assert "'mallory' is not an approver" in refusal.text
    webhook = next(n.target for n in world.notifications if isinstance(n.target, c.WebhookTarget))
    assert webhook == c.WebhookTarget(url_env="MESHSHIFT_WEBHOOK_URL")

    # Deliveries run in tasks beside the lifecycle: the history replays deterministically.
    replayer = Replayer(
        workflows=[MeshMigration], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json("notifications", history.to_json()), raise_on_replay_failure=False
    )
    assert result.replay_failure is None


async def test_a_failed_notification_is_audited_and_the_rollback_goes_on(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [5, 100], "approval": "auto"}, notifications=NOTIFICATIONS)
    world = world_for(body)
    world.fail[c.SEND_NOTIFICATION.name] = ApplicationError("webhook answered HTTP 404", non_retryable=True)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        await wait_for(handle, lambda s: s.green_weight == 5, "green at 5%")
        await send(handle, "alarm", {"alarm_name": "shop-green-5xx", "state": "ALARM"})
        report = await finish(handle)
    assert report.outcome == "rolled_back"
    assert world.all_blue()
    failed = [e for e in report.events if e.kind == "notification_failed"]
    assert Counter(e.detail.split(" ")[0] for e in failed) == {"rollback_started": 2, "rollback_ended": 2}
    assert all("webhook answered HTTP 404" in e.detail for e in failed)
    assert any("to webhook (URL from $MESHSHIFT_WEBHOOK_URL)" in e.detail for e in failed)
    assert any(f"to {TOPIC}" in e.detail for e in failed)


async def test_without_notifications_nothing_is_sent(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [5, 100], "approval": "auto"})
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        report = await finish(handle)
        history = await handle.fetch_history()
    assert report.outcome == "completed"
    assert world.calls[c.SEND_NOTIFICATION.name] == 0
    # No patch marker either: a spec without notifications issues exactly the commands it did before.
    assert "notifications" not in history.to_json()


async def test_a_real_https_webhook_gets_the_messages_and_its_url_stays_out_of_the_history(
    env_timeskipping, task_queue, trusted_receiver: Receiver
) -> None:
    """The real activity, on a worker whose environment holds the URL; everything else faked."""
    env = "MESHSHIFT_WEBHOOK_URL"
    body = make_spec(
        ramp={"steps": [5, 100], "approval": "auto"},
        decommission={"after": "PT1H", "approval": "required"},
        notifications={"webhook": {"url_env": env}},
    )
    world = world_for(body)
    real = NotificationActivities(AwsClients(), environ={env: trusted_receiver.url})
    fakes = [a for a in FakeActivities(world).all() if a.__name__ != "send_notification"]
    with ThreadPoolExecutor(max_workers=4) as executor:
        worker = paired_worker(
            env_timeskipping.client,
            task_queue,
            workflows=[MeshMigration],
            activities=[*fakes, real.send_notification],
            activity_executor=executor,
            workflow_runner=workflow_runner(),
            interceptors=[KeepaliveInterceptor()],
        )
        async with worker:
            handle = await start(env_timeskipping, task_queue, body, workflow_id="mesh-migration-shop")
            await env_timeskipping.sleep(timedelta(hours=3))  # bakes, drain and the 1-hour soak
            await wait_for(handle, gate_open(100), "the decommission gate")
            await send(handle, "approve", {"approver": "bob"})
            report = await finish(handle)
            history = (await handle.fetch_history()).to_json()
            summaries = await activity_summaries(handle, env_timeskipping.client.data_converter.payload_converter)
    assert report.outcome == "completed"
    texts = [r["json"]["text"] for r in trusted_receiver.received]
    assert len(texts) == 2
    assert texts[0].startswith("*meshshift shop: approval needed for the decommission of blue*")
    assert "`meshshift approve shop --step 100 --as <approver>`" in texts[0]
    assert texts[1].startswith("*meshshift shop: migration completed*")
    assert "s3cr3t" not in history and trusted_receiver.url not in history
    assert {"notify webhook: gate opened", "notify webhook: completed"} <= set(summaries)
