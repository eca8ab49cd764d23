"""A small fake AWS world, with fake activities registered under the real activity names.

The world keeps what the workflow can observe and change: the weights per shifter, the alarms,
the traffic figures, the services' desired counts, and a counter of every call. Tests steer it
with ``block(...)`` (hold an activity call until released, to act "during" a phase) and
``on_call`` hooks (e.g. fire an alarm when the soak starts).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from meshshift.migration import contracts as c
from meshshift.migration import plan as planning
from meshshift.migration.edge.base import EdgeFacts
from meshshift.migration.edge.registry import mechanism_of
from meshshift.migration.spec import MigrationSpec

BLUE_COUNT = 2
BLUE_WORKER_COUNT = 3
# Virtual nodes a page of the fake App Mesh holds.
MESH_PAGE = 40


@dataclass
class Block:
    """Holds the first call of ``name`` for which ``when(world)`` is true, until released."""

    name: str
    when: Callable[[FakeWorld], bool]
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when the held call stops being held: released, its action done, or cancelled.
    left: asyncio.Event = field(default_factory=asyncio.Event)
    used: bool = False
    # Run while the call is held (instead of waiting for a release): e.g. send a signal.
    action: Callable[[], Awaitable[None]] | None = None
    # After the action, behave like a real long-polling activity: heartbeat until cancelled.
    until_cancelled: bool = False


class FakeWorld:
    def __init__(self, spec: MigrationSpec) -> None:
        self.spec = spec
        self.calls: Counter[str] = Counter()
        # (activity name, Temporal task priority key the worker received) for every call, in order.
        self.priorities: list[tuple[str, int | None]] = []
        # (activity name, the task queue the worker took it from) for every call, in order.
        self.queues: list[tuple[str, str]] = []
        # The calls the workflow's own worker ran as local activities, in order (activity name).
        self.local: list[str] = []
        # Every set_edge_weights input, in order.
        self.weight_writes: list[c.SetEdgeWeightsInput] = []
        self.weights: dict[str, c.ShifterWeights] = {
            planning.shifter_id(e): planning.weights_for(e, 0) for e in spec.edge
        }
        self.alarms: dict[str, str] = dict.fromkeys(spec.alarms, "OK")
        self.green = c.TrafficFigures(requests=1000, errors_5xx=0, p99_ms=50)
        self.blue_when_green_full = c.TrafficFigures(requests=0, errors_5xx=0, active_connections=0)
        self.services: dict[tuple[str, str], int] = {}
        for name in spec.blue.services:
            self.services[(spec.blue.cluster, name)] = BLUE_COUNT
        for worker in spec.async_workers:
            self.services[(worker.cluster or spec.blue.cluster, worker.blue_service)] = BLUE_WORKER_COUNT
        self.deleted: list[str] = []
        self.registered_search_attributes: list[str] = []
        self.notifications: list[c.NotifyInput] = []  # delivered ones, in order
        self.stable = True
        self.fail: dict[str, ApplicationError] = {}
        self.blocks: list[Block] = []
        self.hooks: dict[str, Callable[[FakeWorld], None]] = {}
        # The next this many writes report their read-back as not in sync yet (DNS propagating).
        self.unsynced_writes = 0
        # What discovery reports it read of the edge (none: as in histories from before the preflight).
        self.edge_facts: list[EdgeFacts] = []
        # Hosts blue's clients call, as discovery reads them from the task definitions (issue 18),
        # the aliases it infers for them, and green's Service Connect configuration as ECS holds it.
        self.backend_calls: list[c.BackendCall] = []
        self.inferred_aliases: list[c.InferredAlias] = []
        self.service_connect: dict[tuple[str, str], c.ServiceConnectConfiguration] = {}
        # Blue's App Mesh (None: no mesh), read MESH_PAGE virtual nodes a page; the App Mesh API
        # stops answering at the page numbered ``mesh_gone_at_page`` (from 1), if set.
        self.mesh: c.AppMeshInventory | None = None
        self.mesh_gone_at_page: int | None = None

    # --- steering --------------------------------------------------------------------------

    def block(
        self,
        name: str,
        when: Callable[[FakeWorld], bool] = lambda _w: True,
        action: Callable[[], Awaitable[None]] | None = None,
        until_cancelled: bool = False,
    ) -> Block:
        """Hold the first matching call until released, or while ``action`` runs.

        With the time-skipping server, prefer ``action``: it acts from inside the call, so the test
        can keep awaiting the workflow's result (which is what moves time) meanwhile.
        """
        block = Block(name, when, action=action, until_cancelled=until_cancelled)
        self.blocks.append(block)
        return block

    def release_all(self) -> None:
        for block in self.blocks:
            block.released.set()

    def green_percent(self) -> float:
        shares = [r.green_percent for r in self.readings()]
        return min(shares) if shares else 0.0

    def all_blue(self) -> bool:
        return all(r.green_percent == 0 for r in self.readings())

    def readings(self) -> list[c.ShifterReading]:
        out = []
        for sid, w in self.weights.items():
            share = (
                100.0
                if w.promoted
                else (100.0 * w.green if w.mechanism == "cloudfront" else 100.0 * w.green / (w.blue + w.green))
            )
            out.append(
                c.ShifterReading(
                    shifter_id=sid,
                    mechanism=w.mechanism,
                    blue=w.blue,
                    green=w.green,
                    promoted=w.promoted,
                    green_percent=share,
                )
            )
        return out

    async def enter(self, name: str) -> None:
        self.calls[name] += 1
        self.priorities.append((name, activity.info().priority.priority_key))
        self.queues.append((name, activity.info().task_queue))
        if activity.info().is_local:
            self.local.append(name)
        hook = self.hooks.get(name)
        if hook is not None:
            hook(self)
        for block in self.blocks:
            if block.name == name and not block.used and block.when(self):
                block.used = True
                block.entered.set()
                try:
                    if block.action is not None:
                        await block.action()
                        if block.until_cancelled:
                            await _until_cancelled()
                    else:
                        await block.released.wait()
                finally:
                    block.left.set()
        if name in self.fail:
            raise self.fail[name]


async def _until_cancelled() -> None:
    """Heartbeat until the workflow's cancellation arrives (it comes back on a heartbeat)."""
    while True:
        activity.heartbeat()
        try:
            await asyncio.wait_for(activity.wait_for_cancelled(), timeout=0.05)
        except TimeoutError:
            continue
        raise asyncio.CancelledError


class FakeActivities:
    """Every activity the workflow calls, by its real name, acting on a FakeWorld."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.discover_blue,
            self.discover_blue_mesh,
            self.discover_blue_mesh_page,
            self.discover_blue_services,
            self.ensure_namespace,
            self.provision_green_service,
            self.read_green_service_connect,
            self.wait_services_stable,
            self.check_target_health,
            self.deep_health_check,
            self.set_edge_weights,
            self.read_edge_weights,
            self.collect_metrics,
            self.poll_alarms,
            self.scale_service,
            self.delete_ecs_services,
            self.delete_target_groups,
            self.delete_weighted_record,
            self.delete_app_mesh,
            self.deregister_task_definitions,
            self.registered_search_attributes,
            self.send_notification,
        ]

    @activity.defn(name=c.DISCOVER_BLUE.name)
    async def discover_blue(self, inp: c.DiscoverInput) -> c.BlueDiscovery:
        await self.world.enter(c.DISCOVER_BLUE.name)
        spec = inp.spec
        services = [_blue_service(spec.blue.cluster, name, BLUE_COUNT, spec) for name in spec.blue.services]
        workers = [
            _blue_service(w.cluster or spec.blue.cluster, w.blue_service, BLUE_WORKER_COUNT, spec)
            for w in spec.async_workers
        ]
        return c.BlueDiscovery(
            services=services,
            async_workers=workers,
            appmesh_status=c.AppMeshStatus.NOT_CONFIGURED,
            edge_facts=list(self.world.edge_facts),
            backend_calls=list(self.world.backend_calls),
            inferred_aliases=list(self.world.inferred_aliases),
        )

    @activity.defn(name=c.DISCOVER_BLUE_MESH.name)
    async def discover_blue_mesh(self, inp: c.DiscoverInput) -> c.BlueMeshDiscovery:
        await self.world.enter(c.DISCOVER_BLUE_MESH.name)
        mesh = self.world.mesh
        if mesh is None:
            return c.BlueMeshDiscovery(
                appmesh_status=c.AppMeshStatus.NOT_CONFIGURED, edge_facts=list(self.world.edge_facts)
            )
        if inp.mesh_in_pages:
            return c.BlueMeshDiscovery(
                appmesh_status=c.AppMeshStatus.AVAILABLE,
                appmesh=mesh.model_copy(update={"virtual_nodes": []}),
                edge_facts=list(self.world.edge_facts),
                appmesh_next=c.MeshCursor(source=c.MeshSource.API),
            )
        return c.BlueMeshDiscovery(
            appmesh_status=c.AppMeshStatus.AVAILABLE, appmesh=mesh, edge_facts=list(self.world.edge_facts)
        )

    @activity.defn(name=c.DISCOVER_BLUE_MESH_PAGE.name)
    async def discover_blue_mesh_page(self, inp: c.DiscoverMeshPageInput) -> c.AppMeshPage:
        """MESH_PAGE of the mesh's virtual nodes from ``cursor.skip`` on (no list tokens here)."""
        await self.world.enter(c.DISCOVER_BLUE_MESH_PAGE.name)
        mesh = self.world.mesh
        assert mesh is not None, "discover_blue_mesh_page called for a world without a mesh"
        empty = mesh.model_copy(update={"virtual_nodes": []})
        if self.world.calls[c.DISCOVER_BLUE_MESH_PAGE.name] == self.world.mesh_gone_at_page:
            return c.AppMeshPage(resources=empty, problem="ServiceUnavailableException: App Mesh is gone")
        start = inp.cursor.skip
        nodes = mesh.virtual_nodes[start : start + MESH_PAGE]
        more = start + MESH_PAGE < len(mesh.virtual_nodes)
        return c.AppMeshPage(
            resources=empty.model_copy(update={"virtual_nodes": nodes}),
            next=inp.cursor.model_copy(update={"skip": start + MESH_PAGE}) if more else None,
        )

    @activity.defn(name=c.DISCOVER_BLUE_SERVICES.name)
    async def discover_blue_services(self, inp: c.DiscoverServicesInput) -> c.BlueServicesPage:
        """The page's services, with what the world's backend calls and inferred aliases come from:
        the callers' environment and the Cloud Map registrations (the workflow derives them again)."""
        await self.world.enter(c.DISCOVER_BLUE_SERVICES.name)
        read = [
            _blue_service(r.cluster, r.name, BLUE_WORKER_COUNT if r.async_worker else BLUE_COUNT, self.world.spec)
            for r in inp.services
        ]
        for service in read:
            _add_discovered_facts(service, self.world.backend_calls, self.world.inferred_aliases)
        return c.BlueServicesPage(
            services=[s for r, s in zip(inp.services, read, strict=True) if not r.async_worker],
            async_workers=[s for r, s in zip(inp.services, read, strict=True) if r.async_worker],
        )

    @activity.defn(name=c.ENSURE_NAMESPACE.name)
    async def ensure_namespace(self, inp: c.EnsureNamespaceInput) -> c.NamespaceResult:
        await self.world.enter(c.ENSURE_NAMESPACE.name)
        return c.NamespaceResult(
            name=inp.name,
            id="ns-1",
            arn="arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-1",
            created=True,
        )

    @activity.defn(name=c.PROVISION_GREEN_SERVICE.name)
    async def provision_green_service(self, inp: c.ProvisionServiceInput) -> c.ProvisionedService:
        await self.world.enter(c.PROVISION_GREEN_SERVICE.name)
        count = inp.initial_desired_count if inp.initial_desired_count is not None else inp.plan.desired_count
        self.world.services[(inp.plan.cluster, inp.plan.green_service)] = count
        self.world.service_connect[(inp.plan.cluster, inp.plan.green_service)] = inp.plan.service_connect
        return c.ProvisionedService(
            service_name=inp.plan.green_service,
            service_arn=f"arn:aws:ecs:us-east-1:123456789012:service/{inp.plan.cluster}/{inp.plan.green_service}",
            task_definition_arn=f"arn:aws:ecs:us-east-1:123456789012:task-definition/{inp.plan.green_service}:1",
            created=True,
            adopted=False,
        )

    @activity.defn(name=c.READ_GREEN_SERVICE_CONNECT.name)
    async def read_green_service_connect(self, inp: c.ReadServiceConnectInput) -> c.ReadServiceConnectResult:
        await self.world.enter(c.READ_GREEN_SERVICE_CONNECT.name)
        return c.ReadServiceConnectResult(
            services=[
                c.GreenServiceConnect(
                    cluster=ref.cluster,
                    service=ref.service,
                    found=(ref.cluster, ref.service) in self.world.service_connect,
                    service_connect=self.world.service_connect.get((ref.cluster, ref.service)),
                )
                for ref in inp.services
            ]
        )

    @activity.defn(name=c.WAIT_SERVICES_STABLE.name)
    async def wait_services_stable(self, inp: c.ServicesStableInput) -> c.ServicesStableResult:
        await self.world.enter(c.WAIT_SERVICES_STABLE.name)
        states = [
            c.ServiceState(
                name=name,
                desired_count=2,
                running_count=2 if self.world.stable else 0,
                pending_count=0,
                deployments=1,
                rollout_state="COMPLETED" if self.world.stable else "IN_PROGRESS",
                stable=self.world.stable,
            )
            for name in inp.services
        ]
        return c.ServicesStableResult(ok=self.world.stable, services=states)

    @activity.defn(name=c.CHECK_TARGET_HEALTH.name)
    async def check_target_health(self, inp: c.TargetHealthInput) -> c.TargetHealthResult:
        await self.world.enter(c.CHECK_TARGET_HEALTH.name)
        groups = [
            c.TargetGroupHealth(target_group_arn=arn, healthy=2, unhealthy=0, other=0, ok=True)
            for arn in inp.target_group_arns
        ]
        return c.TargetHealthResult(ok=True, groups=groups)

    @activity.defn(name=c.DEEP_HEALTH_CHECK.name)
    async def deep_health_check(self, inp: c.DeepHealthInput) -> c.DeepHealthResult:
        await self.world.enter(c.DEEP_HEALTH_CHECK.name)
        checks = [
            c.UrlCheck(url=u, ok=True, consecutive_successes=inp.health.consecutive_successes, attempts=3)
            for u in inp.health.urls
        ]
        return c.DeepHealthResult(ok=True, checks=checks)

    @activity.defn(name=c.SET_EDGE_WEIGHTS.name)
    async def set_edge_weights(self, inp: c.SetEdgeWeightsInput) -> c.EdgeWeightsResult:
        await self.world.enter(c.SET_EDGE_WEIGHTS.name)
        self.world.weight_writes.append(inp)
        for target in inp.targets:
            self.world.weights[target.weights.shifter_id] = target.weights
        # A write that is not waited on leaves its changes pending (what Route 53 does).
        pending = (
            []
            if inp.wait_for_sync
            else [
                c.PendingChange(shifter_id=t.weights.shifter_id, change_id=f"change-{len(self.world.weight_writes)}")
                for t in inp.targets
            ]
        )
        if not inp.read_back:
            return c.EdgeWeightsResult(readings=[], changes=pending)
        readings = self.world.readings()
        if self.world.unsynced_writes > 0:
            self.world.unsynced_writes -= 1
            readings = [r.model_copy(update={"in_sync": False, "detail": "PENDING"}) for r in readings]
        return c.EdgeWeightsResult(readings=readings, changes=pending)

    @activity.defn(name=c.READ_EDGE_WEIGHTS.name)
    async def read_edge_weights(self, inp: c.ReadEdgeWeightsInput) -> c.EdgeWeightsResult:
        await self.world.enter(c.READ_EDGE_WEIGHTS.name)
        return c.EdgeWeightsResult(readings=self.world.readings())

    @activity.defn(name=c.COLLECT_METRICS.name)
    async def collect_metrics(self, inp: c.CollectMetricsInput) -> c.MetricsSnapshot:
        await self.world.enter(c.COLLECT_METRICS.name)
        end = inp.end or datetime.now(UTC)
        share = self.world.green_percent()
        blue = (
            self.world.blue_when_green_full
            if share >= 100
            else c.TrafficFigures(requests=1000 * (100 - share) / 100, errors_5xx=0, p99_ms=40)
        )
        return c.MetricsSnapshot(window_start=end - inp.window, window_end=end, green=self.world.green, blue=blue)

    @activity.defn(name=c.POLL_ALARMS.name)
    async def poll_alarms(self, inp: c.PollAlarmsInput) -> c.PollAlarmsResult:
        await self.world.enter(c.POLL_ALARMS.name)
        return c.PollAlarmsResult(
            alarms=[c.AlarmState(name=n, state=self.world.alarms.get(n, "OK")) for n in inp.alarm_names]
        )

    @activity.defn(name=c.SCALE_SERVICE.name)
    async def scale_service(self, inp: c.ScaleServiceInput) -> c.ScaleServiceResult:
        await self.world.enter(c.SCALE_SERVICE.name)
        key = (inp.cluster, inp.service)
        previous = self.world.services.get(key, 0)
        self.world.services[key] = inp.desired_count
        return c.ScaleServiceResult(
            service=inp.service,
            desired_count=inp.desired_count,
            running_count=inp.desired_count,
            pending_count=0,
            stable=True,
            previous_desired_count=previous,
        )

    @activity.defn(name=c.DELETE_ECS_SERVICES.name)
    async def delete_ecs_services(self, inp: c.DeleteServicesInput) -> c.DeletionResult:
        await self.world.enter(c.DELETE_ECS_SERVICES.name)
        for name in inp.services:
            self.world.services.pop((inp.cluster, name), None)
        self.world.deleted.extend(inp.services)
        return c.DeletionResult(deleted=list(inp.services))

    @activity.defn(name=c.DELETE_TARGET_GROUPS.name)
    async def delete_target_groups(self, inp: c.DeleteTargetGroupsInput) -> c.DeletionResult:
        await self.world.enter(c.DELETE_TARGET_GROUPS.name)
        self.world.deleted.extend(inp.target_group_arns)
        return c.DeletionResult(deleted=list(inp.target_group_arns))

    @activity.defn(name=c.DELETE_WEIGHTED_RECORD.name)
    async def delete_weighted_record(self, inp: c.DeleteWeightedRecordInput) -> c.DeletionResult:
        await self.world.enter(c.DELETE_WEIGHTED_RECORD.name)
        self.world.deleted.append(f"{inp.edge.record_name}/{inp.set_identifier}")
        return c.DeletionResult(deleted=[inp.set_identifier])

    @activity.defn(name=c.DELETE_APP_MESH.name)
    async def delete_app_mesh(self, inp: c.DeleteAppMeshInput) -> c.DeletionResult:
        await self.world.enter(c.DELETE_APP_MESH.name)
        return c.DeletionResult(skipped=True, warnings=["App Mesh API unavailable (fake)"])

    @activity.defn(name=c.DEREGISTER_TASK_DEFINITIONS.name)
    async def deregister_task_definitions(self, inp: c.DeregisterTaskDefinitionsInput) -> c.DeletionResult:
        await self.world.enter(c.DEREGISTER_TASK_DEFINITIONS.name)
        return c.DeletionResult(deleted=list(inp.task_definition_arns))

    @activity.defn(name=c.REGISTERED_SEARCH_ATTRIBUTES.name)
    async def registered_search_attributes(self, _: c.RegisteredSearchAttributesInput) -> c.RegisteredSearchAttributes:
        await self.world.enter(c.REGISTERED_SEARCH_ATTRIBUTES.name)
        return c.RegisteredSearchAttributes(names=self.world.registered_search_attributes)

    @activity.defn(name=c.SEND_NOTIFICATION.name)
    async def send_notification(self, inp: c.NotifyInput) -> c.NotifyResult:
        await self.world.enter(c.SEND_NOTIFICATION.name)
        self.world.notifications.append(inp)
        return c.NotifyResult(target=inp.target.type, detail="recorded by the fake")


def _blue_service(cluster: str, name: str, count: int, spec: MigrationSpec) -> c.BlueService:
    groups = [pair.blue for e in spec.edge for pair in mechanism_of(e).target_groups(e)]
    attachments = (
        [c.LoadBalancerAttachment(target_group_arn=groups[0], container_name="app", container_port=8080)]
        if groups and name == spec.blue.services[0]
        else []
    )
    return c.BlueService(
        name=name,
        arn=f"arn:aws:ecs:us-east-1:123456789012:service/{cluster}/{name}",
        cluster=cluster,
        desired_count=count,
        running_count=count,
        launch_type="FARGATE",
        task_definition_arn=f"arn:aws:ecs:us-east-1:123456789012:task-definition/{name}:7",
        task_definition=c.TaskDefinition(
            family=name,
            networkMode="awsvpc",
            containerDefinitions=[
                c.ContainerDefinition(
                    name="app",
                    image=f"registry.example.com/{name}:1",
                    essential=True,
                    portMappings=[c.PortMapping(containerPort=8080, name="http", appProtocol="http")],
                )
            ],
        ),
        load_balancers=attachments,
        network=c.NetworkConfig(subnets=["subnet-1"], security_groups=["sg-1"]),
    )


def _add_discovered_facts(service: c.BlueService, calls: list[c.BackendCall], aliases: list[c.InferredAlias]) -> None:
    """What a real blue service holds for discovery to find ``calls`` and ``aliases``: each call's
    variable in the caller's environment (named in its evidence), a Cloud Map registration for each
    alias, and one in each called host's namespace (discovery only follows hosts of blue's namespaces)."""
    app = service.task_definition.containerDefinitions[0]
    for call in calls:
        if call.client == service.name:
            name, value = call.evidence.rsplit(" environment ", 1)[1].split("=", 1)
            app.environment.append(c.KeyValue(name=name, value=value))
    hosts = {a.dns_name: a for a in aliases if a.blue_service == service.name}
    own = [call for call in calls if call.client == service.name]
    if own and not hosts:
        # The caller itself registers in the called namespace, under a name nobody calls.
        namespace = own[0].host.split(".", 1)[1]
        service.cloud_map.append(
            c.CloudMapRegistration(
                registry_arn=f"arn:aws:servicediscovery:us-east-1:123456789012:service/srv-{service.name}",
                service=f"{service.name}-unused",
                namespace=namespace,
                dns_records=["A"],
            )
        )
    for host in hosts:
        label, namespace = host.split(".", 1)
        service.cloud_map.append(
            c.CloudMapRegistration(
                registry_arn=f"arn:aws:servicediscovery:us-east-1:123456789012:service/srv-{label}",
                service=label,
                namespace=namespace,
                dns_records=["A"],
            )
        )
