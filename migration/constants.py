"""Names that users and scripts depend on (the public contract). Side-effect free."""

from __future__ import annotations

from datetime import timedelta

WORKFLOW_TYPE = "MeshMigration"
DEFAULT_TASK_QUEUE = "mesh-migration"
TASK_QUEUE_ENV = "MESHSHIFT_TASK_QUEUE"
WORKFLOW_ID_PREFIX = "mesh-migration-"

# Signal names from the contract. Each has an update twin (same payload) so that clients get
# an immediate accept/refuse answer; the signals keep working alone for the Web UI and tctl.
SIGNAL_APPROVE = "approve"
SIGNAL_REJECT = "reject"
SIGNAL_ALARM = "alarm"
SIGNAL_ROLLBACK = "rollback"
SIGNAL_PAUSE = "pause"
SIGNAL_RESUME = "resume"

UPDATE_APPROVE = "approve_update"
UPDATE_REJECT = "reject_update"
UPDATE_ROLLBACK = "rollback_update"
UPDATE_PAUSE = "pause_update"
UPDATE_RESUME = "resume_update"

QUERY_STATUS = "status"
# A page of the plan's green services: the status query carries only the first ones. Named to
# sort after `status`: the Web UI's Queries tab opens on the first query by name.
QUERY_PLAN_SERVICES = "status_plan_services"

# A continue-as-new state too large for one payload waits for the next run in child workflows of
# this type, one per part (migration/state_parts.py): the next run reads each part with the query and
# then releases the holder with the signal.
STATE_PART_WORKFLOW_TYPE = "MeshMigrationStatePart"
QUERY_STATE_PART = "state_part"
SIGNAL_RELEASE_STATE_PART = "release"

# Search attributes upserted by the workflow so the Web UI and `temporal workflow list` can filter.
SA_APP = "MeshshiftApp"
SA_PHASE = "MeshshiftPhase"
SA_GREEN_WEIGHT = "MeshshiftGreenWeight"

# Temporal task priority of a rollback's activities (1 is the highest; the server's default is 3):
# the task queue hands them out before ramp work, and the worker's AWS rate limiter lets them take
# the tokens it reserves (activities/aws.py).
COMPENSATION_PRIORITY_KEY = 1

# A rollback's activities run on a task queue of their own, served by every meshshift worker beside
# its main queue with activity slots of their own: ramp activities waiting for AWS tokens can hold
# every slot of the main queue, and task priority orders only tasks still queued on the server.
COMPENSATION_QUEUE_SUFFIX = "-compensation"


def compensation_task_queue(task_queue: str) -> str:
    """The task queue of a rollback's activities, derived from the workflow's own task queue."""
    return f"{task_queue}{COMPENSATION_QUEUE_SUFFIX}"


def workflow_id(spec_name: str) -> str:
    """One running migration per application: the id is derived from the spec's name."""
    return f"{WORKFLOW_ID_PREFIX}{spec_name}"


def app_name_from_workflow_id(wf_id: str) -> str:
    return wf_id.removeprefix(WORKFLOW_ID_PREFIX)


# The migration's workflow task timeout (Temporal's default is 10 s). A worker that restarts, or
# that lost the run from its cache, replays the run's history in one workflow task: about 16 s for
# the first run of a 5,000-service migration (planning to the first gate). With 10 s that task would
# time out on every attempt. Temporal allows up to 120 s.
WORKFLOW_TASK_TIMEOUT = timedelta(minutes=1)
