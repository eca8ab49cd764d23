"""Safety invariants under random operation: a hypothesis state machine throws approvals (from
allowed and forbidden people), rejections, alarms, pauses, resumes, rollbacks, worker restarts,
transient AWS faults and the passage of time at one migration (fake AWS world, a real dev server
in real time, every duration cut to seconds; the time-skipping test server refuses to cancel an
activity it has just completed, ACTIVITY_UNKNOWN, and would wedge sequences that the real server
runs fine), and checks after every step and at the end:

1. green gets no traffic before its validation passed;
2. no mechanism ever holds all-zero weights;
3. blue is never deleted before the drain verified zero traffic and the soak ended;
4. after a rollback every mechanism reads 100% blue;
5. the audit trail has an entry for every change made in AWS (checked once the migration is
   over, when nothing is in flight).

The state machine runs in a thread (hypothesis drives it synchronously); every Temporal call is
handed to the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, ClassVar, TypeVar
from uuid import uuid4

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from meshshift.migration import contracts as c
from meshshift.migration.state import MigrationInput, MigrationStatus, Phase, RunOptions
from meshshift.workers.keepalive import KeepaliveInterceptor
from meshshift.workers.worker import MeshshiftWorker, paired_worker
from meshshift.workflows.migration import MeshMigration
from meshshift.workflows.sandbox import workflow_runner
from tests.reliability import figures
from tests.workflows.fakes import FakeActivities, FakeWorld
from tests.workflows.harness import fast_spec, start, status, world_for

T = TypeVar("T")

SPEC = fast_spec(
    ramp={"steps": [10, 50, 100], "approval": "required", "approval_timeout": "PT20S"},
    decommission={"after": "PT2S", "approval": "required"},
    approvers=["alice", "bob", "carol"],
    requested_by="carol",
)
# A worker stopped mid-call can leave its activity task "started" on the server (the task was
# handed out while the worker shut down); a 3 s heartbeat timeout retries it within seconds.
START = MigrationInput.envelope(SPEC, options=RunOptions(activity_heartbeat_timeout=timedelta(seconds=3))).model_dump(
    mode="json"
)
BLUE = {*SPEC["blue"]["services"], *(w["blue_service"] for w in SPEC["async_workers"])}
# Most frequently called first: hypothesis's first (simplest) examples pick the first entry.
FAULTABLE = [
    c.POLL_ALARMS.name,
    c.READ_EDGE_WEIGHTS.name,
    c.SET_EDGE_WEIGHTS.name,
    c.COLLECT_METRICS.name,
    c.SCALE_SERVICE.name,
    c.PROVISION_GREEN_SERVICE.name,
    c.DELETE_ECS_SERVICES.name,
]
MUTATING = [c.SET_EDGE_WEIGHTS.name, c.SCALE_SERVICE.name, c.PROVISION_GREEN_SERVICE.name, c.DELETE_ECS_SERVICES.name]
TOTALS: Counter[str] = Counter()


def counted(rule_function: Callable[..., None]) -> Callable[..., None]:
    """Counts how often each operation ran, for the published figures."""

    @functools.wraps(rule_function)
    def wrapper(self: Any, **kwargs: Any) -> None:
        TOTALS[f"op:{rule_function.__name__}"] += 1
        rule_function(self, **kwargs)

    return wrapper


class Faults:
    """Transient AWS errors: the next ``n`` calls of an activity fail before changing anything."""

    def __init__(self, world: FakeWorld) -> None:
        self.pending: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        for name in FAULTABLE:
            world.hooks[name] = self._hook(name)

    def _hook(self, name: str) -> Any:
        def hook(_world: FakeWorld) -> None:
            if self.pending[name] > 0:
                self.pending[name] -= 1
                self.injected[name] += 1
                raise ApplicationError(f"injected transient fault in {name}", type="Throttling")

        return hook


class MigrationMachine(RuleBasedStateMachine):
    env: ClassVar[WorkflowEnvironment]
    loop: ClassVar[asyncio.AbstractEventLoop]

    def __init__(self) -> None:
        super().__init__()
        self.world = world_for(SPEC)
        self.faults = Faults(self.world)
        self.queue = f"invariants-{uuid4()}"
        self.worker: MeshshiftWorker | None = None
        self.worker_task: asyncio.Future[None] | None = None
        self.run(self._start_worker())
        self.handle: WorkflowHandle[Any, Any] = self.run(start(self.env, self.queue, START))
        self.last: MigrationStatus | None = None
        self.ending = "complete"
        TOTALS["examples"] += 1

    # -- plumbing --

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start_worker(self) -> None:
        self.worker = paired_worker(
            self.env.client,
            self.queue,
            workflows=[MeshMigration],
            activities=FakeActivities(self.world).all(),
            workflow_runner=workflow_runner(),
            interceptors=[KeepaliveInterceptor()],
            # As `meshshift worker` does on SIGTERM: in-flight activities finish before it stops.
            # (With 0, an activity cut off mid-call stays "started" on the server until its
            # start-to-close timeout, minutes, and a rollback waiting for its cancellation waits too.)
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        self.worker_task = asyncio.ensure_future(self.worker.run())

    async def _stop_worker(self) -> None:
        assert self.worker is not None and self.worker_task is not None
        await self.worker.shutdown()
        with contextlib.suppress(Exception):
            await self.worker_task

    async def _send(self, name: str, payload: Any, via: str) -> None:
        if via == "signal":
            try:
                await self.handle.signal(name, payload)
            except RPCError as err:  # the migration may have ended already (seconds-long timers)
                if err.status is not RPCStatusCode.NOT_FOUND:
                    raise
                TOTALS["after_end"] += 1
                return
        else:
            with contextlib.suppress(Exception):  # a refusal answers with an error; it is audited anyway
                await asyncio.wait_for(self.handle.execute_update(f"{name}_update", payload), 20)
        TOTALS["messages"] += 1

    def status(self) -> MigrationStatus:
        self.last = self.run(status(self.handle))
        return self.last

    # -- rules --

    @initialize(ending=st.sampled_from(["complete", "roll back"]), fault=st.sampled_from(FAULTABLE))
    def begin(self, ending: str, fault: str) -> None:
        """How ``finish`` ends the migration after the random steps (half the sequences drive it to
        decommission, so the blue-deletion invariant is exercised too), and one transient AWS fault
        queued from the start, so that every sequence meets at least one."""
        self.ending = ending
        self.faults.pending[fault] += 1
        TOTALS["faults_requested"] += 1

    @rule(who=st.sampled_from(["alice", "bob", "carol", "mallory"]), via=st.sampled_from(["signal", "update"]))
    @counted
    def approve(self, who: str, via: str) -> None:
        self.run(self._send("approve", {"approver": who, "step": None}, via))

    @rule(who=st.sampled_from(["alice", "mallory"]), via=st.sampled_from(["signal", "update"]))
    @counted
    def reject(self, who: str, via: str) -> None:
        self.run(self._send("reject", {"approver": who, "reason": "state machine"}, via))

    @rule(name=st.sampled_from(["shop-green-5xx", "someone-elses-alarm"]), state=st.sampled_from(["ALARM", "OK"]))
    @counted
    def alarm(self, name: str, state: str) -> None:
        self.run(self._send("alarm", {"alarm_name": name, "state": state, "source": "state-machine"}, "signal"))

    @rule(via=st.sampled_from(["signal", "update"]))
    @counted
    def pause(self, via: str) -> None:
        self.run(self._send("pause", {"requested_by": "bob", "reason": "state machine"}, via))

    @rule(who=st.sampled_from(["alice", "mallory"]), via=st.sampled_from(["signal", "update"]))
    @counted
    def resume(self, who: str, via: str) -> None:
        self.run(self._send("resume", {"requested_by": who}, via))

    @rule(via=st.sampled_from(["signal", "update"]))
    @counted
    def rollback(self, via: str) -> None:
        self.run(self._send("rollback", {"requested_by": "bob", "reason": "state machine"}, via))

    @rule()
    @counted
    def restart_worker(self) -> None:
        self.run(self._stop_worker())
        self.run(self._start_worker())
        TOTALS["worker_restarts"] += 1

    @rule(name=st.sampled_from(FAULTABLE), count=st.integers(1, 2))
    @counted
    def aws_fault(self, name: str, count: int) -> None:  # each retry waits 2 s, 4 s... (real time)
        self.faults.pending[name] += count
        TOTALS["faults_requested"] += count

    @rule(seconds=st.sampled_from([0.2, 1.0, 2.5]))
    @counted
    def time_passes(self, seconds: float) -> None:
        self.run(asyncio.sleep(seconds))

    # -- invariants --

    @invariant()
    def safe(self) -> None:
        self.check(self.status())

    def check(self, s: MigrationStatus) -> None:
        world = self.world
        kinds = {e.kind for e in s.events}
        readings = world.readings()
        where = f"phase {s.phase.value}, events {[e.detail for e in s.events][-6:]}"
        if any(r.green_percent > 0 for r in readings):
            assert "validated" in kinds, f"green got traffic before validation passed ({where})"
        for shifter, w in world.weights.items():
            assert w.promoted or w.blue + w.green > 0, f"{shifter} holds all-zero weights ({where})"
        if BLUE & set(world.deleted):
            soak_ended = any(t.phase is Phase.SOAKING and t.ended is not None for t in s.timings)
            assert s.drain is not None and s.drain.verified_zero, f"blue deleted before the drain verified ({where})"
            assert soak_ended, f"blue deleted before the soak ended ({where})"
        if s.phase is Phase.ROLLED_BACK:
            assert world.all_blue(), f"rolled back but not 100% blue: {readings} ({where})"

    def teardown(self) -> None:
        try:
            final = self.finish()
            self.check(final)
            self.check_audit(final)
            TOTALS[f"outcome:{final.phase.value}"] += 1
            TOTALS["faults_injected"] += sum(self.faults.injected.values())
        finally:
            with contextlib.suppress(Exception):
                self.run(self.handle.terminate("state machine done"))
            self.run(self._stop_worker())

    def finish(self) -> MigrationStatus:
        """Bring the migration to an end as an operator would: approve and resume until it completes,
        or (``ending`` "roll back") roll it back while that is still possible."""
        for _ in range(180):
            s = self.status()
            if s.phase in (Phase.COMPLETED, Phase.ROLLED_BACK, Phase.FAILED):
                return s
            asked = any(e.kind == "rollback_requested" for e in s.events)
            if self.ending == "roll back" and s.rollback_possible and not asked:
                self.run(self._send("rollback", {"requested_by": "bob", "reason": "state machine ends"}, "signal"))
            elif s.paused:
                self.run(self._send("resume", {"requested_by": "alice"}, "signal"))
            elif s.awaiting_approval is not None:
                self.run(self._send("approve", {"approver": "bob", "step": None}, "signal"))
            self.run(asyncio.sleep(0.5))
        last = self.last
        pending = self.run(self.handle.describe()).raw_description.pending_activities
        raise AssertionError(
            f"the migration did not end: phase {last and last.phase}, paused {last and last.paused}, "
            f"stage {last and last.step_stage}, pending activities "
            f"{[(p.activity_type.name, p.attempt, p.last_failure.message) for p in pending]}, "
            f"events {[(e.kind, e.detail) for e in (last.events if last else [])][-12:]}"
        )

    def check_audit(self, s: MigrationStatus) -> None:
        """Every change made in AWS has its audit entry (now that nothing is in flight)."""
        done = {name: self.world.calls[name] - self.faults.injected[name] for name in MUTATING}
        kinds = Counter(e.kind for e in s.events)
        restored = 1 if s.rollback.record is not None and s.rollback.record.finished is not None else 0
        assert done[c.SET_EDGE_WEIGHTS.name] <= kinds["weights"] + restored + kinds["rollback_requested"], (
            f"weight changes without audit: {done} vs {kinds}"
        )
        if done[c.PROVISION_GREEN_SERVICE.name]:
            assert kinds["provisioned"] or kinds["rolling_back"] or s.phase is Phase.FAILED, kinds
        if done[c.SCALE_SERVICE.name]:
            phases = {e.detail for e in s.events if e.kind == "phase"}
            assert phases & {"flipping_workers", "rolling_back"}, "async workers scaled without audit"
        assert done[c.DELETE_ECS_SERVICES.name] <= kinds["deleted"], f"deletions without audit: {kinds}"


async def test_safety_invariants_hold_under_random_operation(env_local: WorkflowEnvironment) -> None:
    MigrationMachine.env = env_local
    MigrationMachine.loop = asyncio.get_running_loop()
    TOTALS.clear()
    runs = figures.chaos_runs(10)
    examples = max(3, runs // 3)  # 3 sequences in make test, 33 in make chaos
    config = settings(
        max_examples=examples,
        stateful_step_count=10,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    await asyncio.to_thread(run_state_machine_as_test, MigrationMachine, settings=config)
    figures.record(
        "invariants",
        sequences=TOTALS["examples"],
        max_steps_per_sequence=10,
        messages=TOTALS["messages"],
        worker_restarts=TOTALS["worker_restarts"],
        aws_faults_requested=TOTALS["faults_requested"],
        aws_faults_injected=TOTALS["faults_injected"],
        outcomes={k.split(":", 1)[1]: v for k, v in TOTALS.items() if k.startswith("outcome:")},
        operations={k.split(":", 1)[1]: v for k, v in TOTALS.items() if k.startswith("op:")},
        invariants_checked=[
            "no green traffic before validation",
            "no all-zero weights",
            "blue deleted only after verified drain and soak",
            "100% blue after rollback",
            "every AWS change audited",
        ],
        violations=0,
    )
