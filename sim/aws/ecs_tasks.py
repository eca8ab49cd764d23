"""The simulated ECS scheduler: a service's tasks start, register, drain and stop by themselves.

moto 5.2.5 runs no task for a service: its counts are whatever ``MOTO_ECS_SERVICE_RUNNING`` says
and nothing is ever registered anywhere. ECS does all of this itself, and this module does it the
same way, on the settings' clock (sim/aws/settings.py):

- a service keeps ``desiredCount`` tasks of its PRIMARY deployment: each is PROVISIONING, then
  PENDING, then RUNNING after ``ecs_task_start``; a scale-down stops the extra ones;
- an awsvpc task gets its own ENI (moto's), and once RUNNING its private IP and the container port
  are registered in every target group of the service's ``loadBalancers``;
- a task of a Service Connect service is registered as an instance of its discovery name in the
  Cloud Map namespace (the Cloud Map service is created by ECS if missing), and so is a task of a
  service with ``serviceRegistries``;
- a new deployment (new task definition, configuration or ``forceNewDeployment``) starts a full
  set of new tasks; the old ones are stopped once the new ones are running and healthy in their
  target groups (the default 100%/200% rolling update), and the old deployment leaves the list
  when its last task has stopped;
- the PRIMARY deployment is IN_PROGRESS until its tasks are all running and healthy and no older
  task is left, then COMPLETED ``ecs_steady`` later;
- a stopping task is deregistered from its target groups and Cloud Map first, DEACTIVATING while
  its targets drain, then STOPPING for ``ecs_task_stop``, then STOPPED (its ENI deleted);
- a deleted service is DRAINING until its last task has stopped, then INACTIVE;
- ``set_failing`` makes a service's tasks fail their health checks (an application that broke):
  its targets turn unhealthy, which is how the demo's ``--fail-at`` reaches the load balancer.

Not modelled: ECS replacing tasks that fail health checks, placement across container instances
(EC2 bridge/host networking registers no target here), deployment circuit breakers, task sets.

Nothing runs in the background: ``reconcile`` brings a region up to the clock's "now" before each
ECS, ELB and Cloud Map call (sim/aws/account.py), so the answers are what AWS would answer then.
"""

from __future__ import annotations

import bisect
import contextlib
import ipaddress
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from moto.ecs.models import Container, EC2ContainerServiceBackend, Service, Task, ecs_backends
from moto.elbv2.models import ELBv2Backend, elbv2_backends
from moto.moto_api._internal import mock_random
from moto.moto_api._internal.managed_state_model import ManagedState

from meshshift.sim.aws import elbv2
from meshshift.sim.aws import settings as sim_settings

PROVISIONING, PENDING, RUNNING, DEACTIVATING, STOPPING, STOPPED = (
    "PROVISIONING",
    "PENDING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "STOPPED",
)
_STARTING = (PROVISIONING, PENDING)
_service_seq = itertools.count()


@dataclass
class ServiceSim:
    """What the scheduler keeps per service (on the moto Service object, so a reset clears it)."""

    tasks: list[SimTask] = field(default_factory=list)
    # (time, failing): the application's own health, changed by ``set_failing``.
    failing: list[tuple[float, bool]] = field(default_factory=list)
    last_stop: float | None = None  # when the last task of an older deployment stopped
    dirty: bool = True
    # Creation order: ``reconcile`` schedules the services it has to in the order moto lists them,
    # as it did when it went through every service.
    seq: int = field(default_factory=lambda: next(_service_seq))

    def failing_at(self, moment: float) -> bool:
        state = False
        for changed, value in self.failing:
            if changed <= moment:
                state = value
        return state


def service_sim(service: Service) -> ServiceSim:
    found: ServiceSim | None = service.__dict__.get("_meshshift_sim")
    if found is None:
        found = ServiceSim()
        service.__dict__["_meshshift_sim"] = found
    return found


class SimTask(Task):
    """A task the simulated scheduler started for a service; its state moves with the clock."""

    def __init__(
        self,
        backend: EC2ContainerServiceBackend,
        service: Service,
        deployment: dict[str, Any],
        now: float,
    ) -> None:
        cluster = backend._get_cluster(service.cluster_name)
        task_definition = backend.describe_task_definition(deployment["taskDefinition"])
        # moto's Task.__init__ cannot make an awsvpc task in 5.2.5 (its ENI lacks private_dns_name),
        # so the fields it sets are set here, and the ENI is made below.
        ManagedState.__init__(self, model_name="ecs::task", transitions=[(PROVISIONING, STOPPED)])
        self.id = str(mock_random.uuid4())
        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.container_instance_arn = None
        self.desired_status = "RUNNING"
        self.task_definition_arn = task_definition.arn
        self.overrides: dict[str, Any] = {}
        self.containers = [Container(task_definition)]  # type: ignore[abstract]
        self.started_by = deployment["id"]
        self.tags: list[dict[str, str]] = []
        self.launch_type = service.launch_type or ""
        self.capacity_provider_name = None
        self.platform_version = service.platform_version
        self.stopped_reason = ""
        self.resource_requirements = None
        self.region_name = cluster.region_name
        self._account_id = backend.account_id
        self._backend = backend
        self.attachments: list[dict[str, Any]] = []
        self.group = f"service:{service.name}"
        if task_definition.network_mode == "awsvpc":
            network = (service.network_configuration or {}).get("awsvpcConfiguration")
            if not network or not network.get("subnets"):
                raise ValueError("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
            self.network_configuration = service.network_configuration
            self.attachments.append(_attach_eni(backend, network))
        settings = sim_settings.current()
        start = settings.scaled(settings.ecs_task_start)
        self.sim_state = PROVISIONING
        self.service_name = service.name
        self.deployment_id: str = deployment["id"]
        self.service_connect: dict[str, Any] | None = deployment.get("serviceConnectConfiguration")
        self.port_names = {
            mapping["name"]: int(mapping["containerPort"])
            for container in cast(list[dict[str, Any]], task_definition.container_definitions)
            for mapping in container.get("portMappings", []) or []
            if mapping.get("name") and mapping.get("containerPort")
        }
        self.family = task_definition.family
        self.sim = service_sim(service)
        self.created = now
        self.pending_from = now + start / 4
        self.running_from = now + start
        self.stop_requested: float | None = None
        self.stopping_from: float | None = None
        self.stopped: float | None = None
        self.registered: list[tuple[str, str]] = []  # (target group ARN, target id)
        self.instances: list[tuple[str, str]] = []  # (Cloud Map service id, instance id)
        self.created_at = datetime.now(UTC)
        self.started_at: datetime | None = None
        self.stopping_at: datetime | None = None
        self.stopped_at: datetime | None = None

    # moto's Task keeps its status in a ManagedState that moves on reads; this one moves with time.
    @property
    def status(self) -> str:
        return self.sim_state

    @status.setter
    def status(self, value: str) -> None:
        self.sim_state = value

    @property
    def ip(self) -> str | None:
        return self._detail("privateIPv4Address")

    @property
    def eni_id(self) -> str | None:
        return self._detail("networkInterfaceId")

    def _detail(self, name: str) -> str | None:
        for attachment in self.attachments:
            for detail in attachment.get("details", []):
                if detail.get("name") == name:
                    return str(detail.get("value"))
        return None

    def answers_at(self, moment: float) -> bool:
        """Whether the task answers health checks at ``moment``: running, and its app not failing."""
        if moment < self.running_from:
            return False
        if self.stop_requested is not None and moment >= self.stop_requested:
            return False
        return not self.sim.failing_at(moment)

    def health_timeline(self, start: float, end: float) -> list[tuple[float, bool]]:
        moments = {start}
        candidates = [self.running_from, self.stop_requested, *(changed for changed, _ in self.sim.failing)]
        moments.update(m for m in candidates if m is not None and start < m <= end)
        return [(m, self.answers_at(m)) for m in sorted(moments)]


class _Addresses:
    """The private IPv4 addresses the region's ENIs hold, as sorted integers.

    A task's placement needs, per subnet, how many addresses are free and the k-th free one. Listing
    a subnet's hosts for that cost thousands of string conversions per task in a /19 (and the set of
    every ENI's address with it); bisecting a sorted list costs a few steps whatever the number of
    tasks. Kept up to date by moto's create/delete_network_interface (patched in ``install``); rebuilt
    whenever its count of ENIs disagrees with moto's (a path that edits ``enis`` directly, such as
    deleting a VPC endpoint).
    """

    def __init__(self, enis: dict[str, Any]) -> None:
        self.lock = threading.Lock()
        self.by_eni: dict[str, int | None] = {}
        self.refs: dict[int, int] = {}  # moto lets two ENIs claim one address: it is free when neither does
        self.taken: list[int] = []
        for eni_id, eni in enis.items():
            self.add(eni_id, eni.private_ip_address)

    def add(self, eni_id: str, address: str | None) -> None:
        value = _ipv4(address)
        self.remove(eni_id)
        self.by_eni[eni_id] = value
        if value is None:
            return
        self.refs[value] = self.refs.get(value, 0) + 1
        if self.refs[value] == 1:
            bisect.insort(self.taken, value)

    def remove(self, eni_id: str) -> None:
        if eni_id not in self.by_eni:
            return
        value = self.by_eni.pop(eni_id)
        if value is None:
            return
        self.refs[value] -= 1
        if self.refs[value] == 0:
            del self.refs[value]
            del self.taken[bisect.bisect_left(self.taken, value)]

    def free(self, first: int, last: int) -> int:
        """How many of the addresses first..last no ENI holds."""
        if first > last:
            return 0
        return last - first + 1 - (bisect.bisect_right(self.taken, last) - bisect.bisect_left(self.taken, first))

    def nth_free(self, first: int, k: int) -> int:
        """The k-th (from 0) address from ``first`` on that no ENI holds."""
        base = bisect.bisect_left(self.taken, first)
        # Find the first held address with more than k free ones between ``first`` and it (the free
        # count before taken[i] is taken[i] - first - (i - base), which never decreases with i): the
        # answer is k addresses after ``first``, plus the held ones in front of it.
        low, high = base, len(self.taken)
        while low < high:
            middle = (low + high) // 2
            if self.taken[middle] - first - (middle - base) > k:
                high = middle
            else:
                low = middle + 1
        return first + k + (low - base)


def _ipv4(address: str | None) -> int | None:
    if not address:
        return None
    try:
        return int(ipaddress.IPv4Address(address))
    except ValueError:
        return None


def _forget_eni(ec2: Any, eni_id: str) -> None:
    book: _Addresses | None = ec2.__dict__.get("_meshshift_addresses")
    if book is not None:
        with book.lock:
            book.remove(eni_id)


def _addresses(ec2: Any) -> _Addresses:
    book: _Addresses | None = ec2.__dict__.get("_meshshift_addresses")
    if book is None or len(book.by_eni) != len(ec2.enis):
        book = ec2.__dict__["_meshshift_addresses"] = _Addresses(ec2.enis)
    return book


def _task_range(cidr: str) -> tuple[int, int]:
    """The first and last address of a subnet a task may get (first > last: none). AWS reserves the
    first four addresses and the last; the network address comes before the first four."""
    network = ipaddress.IPv4Network(cidr)
    return int(network.network_address) + 5, int(network.broadcast_address) - 1


def _attach_eni(backend: EC2ContainerServiceBackend, network: dict[str, Any]) -> dict[str, Any]:
    """A Fargate task's own ENI, with a free private IP in the task's subnet with the most free ones.

    ECS spreads a service's tasks across the subnets (Availability Zones) it is given and places a
    task wherever an address is free; it fails the placement only when every subnet is full.
    """
    ec2 = _ec2(backend)
    book = _addresses(ec2)
    choices = []
    with book.lock:
        for subnet_id in network["subnets"]:
            subnet = ec2.get_subnet(subnet_id)
            first, last = _task_range(subnet.cidr_block)
            choices.append((subnet, first, book.free(first, last)))
        subnet, first, free = max(choices, key=lambda choice: choice[2])
        if not free:
            names = ", ".join(subnet.id for subnet, _, _ in choices)
            raise ValueError(f"no free IP address left in subnet(s) {names}")
        # One of the first 4,096 free addresses, at random.
        address = str(ipaddress.IPv4Address(book.nth_free(first, mock_random.randint(0, min(free, 4096) - 1))))
    eni = ec2.create_network_interface(
        subnet=subnet,
        private_ip_address=address,
        group_ids=network.get("securityGroups") or [],
        description="arn:aws:ecs: task ENI (simulated)",
    )
    eni.status = "in-use"
    return {
        "id": str(mock_random.uuid4()),
        "type": "ElasticNetworkInterface",
        "status": "ATTACHED",
        "details": [
            {"name": "subnetId", "value": subnet.id},
            {"name": "networkInterfaceId", "value": eni.id},
            {"name": "macAddress", "value": eni.mac_address},
            {"name": "privateDnsName", "value": f"ip-{address.replace('.', '-')}.ec2.internal"},
            {"name": "privateIPv4Address", "value": address},
        ],
    }


# --- the scheduler --------------------------------------------------------------------------------


def _elb(backend: EC2ContainerServiceBackend) -> ELBv2Backend:
    return elbv2_backends[backend.account_id][backend.region_name]


def _cloud_map(backend: EC2ContainerServiceBackend) -> Any:
    from moto.servicediscovery.models import servicediscovery_backends

    return servicediscovery_backends[backend.account_id][backend.region_name]


def _tasks_by_ip(backend: EC2ContainerServiceBackend) -> dict[str, SimTask]:
    store: dict[str, SimTask] = backend.__dict__.setdefault("_meshshift_tasks_by_ip", {})
    return store


def _start_task(backend: EC2ContainerServiceBackend, service: Service, now: float) -> SimTask | None:
    deployment = service.deployments[0]
    try:
        task = SimTask(backend, service, deployment, now)
    except Exception as err:  # ECS records a failed placement as a service event, not an error
        _event(service, f"(service {service.name}) was unable to place a task: {err}")
        return None
    backend.tasks.setdefault(service.cluster_name, {})[task.task_arn] = task
    if task.ip:
        _tasks_by_ip(backend)[task.ip] = task
    service_sim(service).tasks.append(task)
    return task


def _event(service: Service, message: str) -> None:
    from moto.moto_api._internal import mock_random

    service.events.insert(0, {"id": str(mock_random.uuid4()), "createdAt": datetime.now(UTC), "message": message})
    del service.events[100:]


def _on_running(backend: EC2ContainerServiceBackend, service: Service, task: SimTask) -> None:
    """What ECS does as a task reaches RUNNING: its targets and its Cloud Map instances."""
    task.started_at = datetime.now(UTC)
    ip = task.ip
    if ip is None:
        return
    elb = _elb(backend)
    for attachment in service.load_balancers or []:
        arn = attachment.get("targetGroupArn")
        group = elb.target_groups.get(arn) if arn else None
        if group is None:
            _event(service, f"(service {service.name}) failed to register targets in ({arn}): not found")
            continue
        port = int(attachment.get("containerPort") or group.port)
        elbv2.register(elb, group, ip, port, task.health_timeline, task.running_from)
        task.registered.append((group.arn, ip))
    _register_instances(backend, service, task, ip)


def _register_instances(backend: EC2ContainerServiceBackend, service: Service, task: SimTask, ip: str) -> None:
    cloud_map = _cloud_map(backend)
    attributes = {
        "AWS_INSTANCE_IPV4": ip,
        "ECS_CLUSTER_NAME": service.cluster_name,
        "ECS_SERVICE_NAME": service.name,
        "ECS_TASK_DEFINITION_FAMILY": task.family,
        "REGION": backend.region_name,
    }
    config = task.service_connect or {}
    if config.get("enabled") and config.get("namespace"):
        namespace = _namespace(cloud_map, str(config["namespace"]))
        for entry in config.get("services") or []:
            port_name = entry.get("portName")
            name = entry.get("discoveryName") or port_name
            if namespace is None or not name:
                continue
            discovery = _discovery_service(cloud_map, namespace.id, name)
            port = task.port_names.get(port_name or "")
            cloud_map.register_instance(
                discovery.id,
                task.id,
                task.id,
                {**attributes, **({"AWS_INSTANCE_PORT": str(port)} if port else {})},
            )
            task.instances.append((discovery.id, task.id))
    for registry in service.service_registries or []:
        service_id = str(registry.get("registryArn", "")).rsplit("/", 1)[-1]
        if service_id not in cloud_map.services:
            continue
        port = registry.get("port") or registry.get("containerPort")
        cloud_map.register_instance(
            service_id, task.id, task.id, {**attributes, **({"AWS_INSTANCE_PORT": str(port)} if port else {})}
        )
        task.instances.append((service_id, task.id))


def _namespace(cloud_map: Any, reference: str) -> Any:
    for namespace in cloud_map.namespaces.values():
        if reference in (namespace.arn, namespace.id, namespace.name):
            return namespace
    return None


def _discovery_service(cloud_map: Any, namespace_id: str, name: str) -> Any:
    for existing in cloud_map.services.values():
        if existing.namespace_id == namespace_id and existing.name == name:
            return existing
    # ECS creates the Cloud Map service of a discovery name the first time it needs it.
    return cloud_map.create_service(
        name=name,
        namespace_id=namespace_id,
        creator_request_id=f"ecs-{namespace_id}-{name}",
        description="Managed by Amazon ECS",
        dns_config=None,
        health_check_config=None,
        health_check_custom_config=None,
        tags=[],
        service_type="HTTP",
    )


def request_stop(backend: EC2ContainerServiceBackend, task: SimTask, now: float, reason: str) -> None:
    """Stop a task as ECS does: out of Cloud Map and its target groups first, then SIGTERM."""
    if task.stop_requested is not None:
        return
    task.stop_requested = now
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stopping_at = datetime.now(UTC)
    cloud_map = _cloud_map(backend)
    for service_id, instance_id in task.instances:
        if service_id in cloud_map.services:
            # Already deregistered by someone else: nothing left to do.
            with contextlib.suppress(Exception):
                cloud_map.deregister_instance(service_id, instance_id)
    elb = _elb(backend)
    drained = now
    for arn, target_id in task.registered:
        group = elb.target_groups.get(arn)
        if group is not None:
            drained = max(drained, elbv2.deregister(group, target_id, now))
    if task.sim_state == RUNNING and task.registered:
        task.sim_state = DEACTIVATING
        task.stopping_from = drained
    else:
        task.sim_state = STOPPING
        task.stopping_from = now


def _advance(backend: EC2ContainerServiceBackend, service: Service, task: SimTask, now: float) -> None:
    settings = sim_settings.current()
    if task.stop_requested is None:
        if task.sim_state == PROVISIONING and now >= task.pending_from:
            task.sim_state = PENDING
        if task.sim_state == PENDING and now >= task.running_from:
            task.sim_state = RUNNING
            _on_running(backend, service, task)
        return
    if task.sim_state == DEACTIVATING and task.stopping_from is not None and now >= task.stopping_from:
        task.sim_state = STOPPING
    if (
        task.sim_state == STOPPING
        and task.stopping_from is not None
        and now >= task.stopping_from + settings.scaled(settings.ecs_task_stop)
    ):
        task.sim_state = STOPPED
        task.stopped = task.stopping_from + settings.scaled(settings.ecs_task_stop)
        task.stopped_at = datetime.now(UTC)
        _tasks_by_ip(backend).pop(task.ip or "", None)
        eni = task.eni_id
        if eni:
            # Fargate deletes a task's ENI once the task has stopped.
            ec2 = _ec2(backend)
            if ec2.enis.pop(eni, None) is not None:
                _forget_eni(ec2, eni)


def _ec2(backend: EC2ContainerServiceBackend) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[backend.account_id][backend.region_name]


def _healthy_since(backend: EC2ContainerServiceBackend, task: SimTask) -> float | None:
    """When the task became healthy in every target group it is in (RUNNING, if it is in none)."""
    if task.sim_state != RUNNING:
        return None
    since = task.running_from
    elb = _elb(backend)
    for arn, target_id in task.registered:
        group = elb.target_groups.get(arn)
        if group is None:
            continue
        health = elbv2.health(elb, group, target_id)
        if health is None or health[0] != "healthy":
            return None
        since = max(since, health[1])
    return since


def _ready_at(backend: EC2ContainerServiceBackend, tasks: list[SimTask], wanted: int, now: float) -> float | None:
    """When the deployment had all its ``wanted`` tasks running and healthy, or None if it has not yet."""
    if len(tasks) != wanted:
        return None
    if not tasks:
        return now
    moments = [_healthy_since(backend, task) for task in tasks]
    if any(moment is None for moment in moments):
        return None
    return max((m for m in moments if m is not None), default=None)


def schedule(backend: EC2ContainerServiceBackend, service: Service, now: float) -> None:
    """Bring one service up to ``now``: task states, tasks to start or stop, counts, deployments."""
    sim = service_sim(service)
    for task in sim.tasks:
        _advance(backend, service, task, now)
    active = service.status == "ACTIVE"
    wanted = int(service.desired_count or 0) if active else 0
    primary_id = str(service.deployments[0]["id"]) if service.deployments else None
    live = [task for task in sim.tasks if task.stop_requested is None]
    primary = [task for task in live if task.deployment_id == primary_id]
    older = [task for task in live if task.deployment_id != primary_id]

    if active and primary_id is not None and len(primary) < wanted:
        for _ in range(wanted - len(primary)):
            started = _start_task(backend, service, now)
            if started is None:
                break
            _advance(backend, service, started, now)
            primary.append(started)
    elif len(primary) > wanted:
        # ECS stops tasks that are not running yet first, then the newest.
        order = sorted(primary, key=lambda t: (t.sim_state == RUNNING, t.created))
        for task in order[: len(primary) - wanted]:
            request_stop(backend, task, now, "Scaling activity initiated by (deployment ecs-svc)")
            _advance(backend, service, task, now)
        primary = [task for task in primary if task.stop_requested is None]

    ready = _ready_at(backend, primary, wanted, now)
    if older and (ready is not None or not active):
        for task in older:
            request_stop(backend, task, now, "Task replaced by a newer deployment")
            _advance(backend, service, task, now)

    for task in sim.tasks:
        if task.sim_state == STOPPED and task.deployment_id != primary_id and task.stopped is not None:
            sim.last_stop = max(sim.last_stop or task.stopped, task.stopped)
    sim.tasks = [task for task in sim.tasks if task.sim_state != STOPPED]
    _update_counts(service, sim, primary_id, wanted, ready, now)
    if service.status == "DRAINING" and not sim.tasks:
        service.status = "INACTIVE"
    sim.dirty = False


def _update_counts(
    service: Service, sim: ServiceSim, primary_id: str | None, wanted: int, ready: float | None, now: float
) -> None:
    settings = sim_settings.current()
    live_ids = {task.deployment_id for task in sim.tasks}
    # An older deployment leaves the list once its last task has stopped.
    service.deployments = [d for d in service.deployments if d["id"] == primary_id or d["id"] in live_ids]
    running_total = pending_total = 0
    for deployment in service.deployments:
        mine = [task for task in sim.tasks if task.deployment_id == deployment["id"]]
        running = sum(1 for task in mine if task.sim_state == RUNNING)
        pending = sum(1 for task in mine if task.sim_state in _STARTING and task.stop_requested is None)
        running_total += running
        pending_total += pending
        counts = (running, pending, wanted if deployment["id"] == primary_id else len(mine))
        if (deployment.get("runningCount"), deployment.get("pendingCount"), deployment.get("desiredCount")) != counts:
            deployment["runningCount"], deployment["pendingCount"], deployment["desiredCount"] = counts
            deployment["updatedAt"] = datetime.now(UTC)
    service.running_count = running_total
    service.pending_count = pending_total
    if not service.deployments or service.deployments[0]["id"] != primary_id:
        return
    primary = service.deployments[0]
    if primary.get("rolloutState") != "IN_PROGRESS" or ready is None or len(service.deployments) > 1:
        return
    done_at = max(ready, sim.last_stop or ready) + settings.scaled(settings.ecs_steady)
    if now >= done_at:
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["updatedAt"] = datetime.now(UTC)
        _event(service, f"(service {service.name}) has reached a steady state.")


def settled(service: Service) -> bool:
    """Nothing left to happen by itself: every wanted task running, nothing stopping, rollout done."""
    sim = service_sim(service)
    if sim.dirty:
        return False
    if service.status != "ACTIVE":
        return service.status == "INACTIVE" and not sim.tasks
    return (
        len(service.deployments) == 1
        and service.deployments[0].get("rolloutState") == "COMPLETED"
        and len(sim.tasks) == int(service.desired_count or 0)
        and all(task.sim_state == RUNNING and task.stop_requested is None for task in sim.tasks)
    )


def _unsettled(backend: EC2ContainerServiceBackend) -> dict[int, Service]:
    """The services of a region that may not be ``settled``, by id (on the backend: a reset clears it).

    A settled service stays settled until a call changes it (create, update, delete, stop a task, make
    it fail), and every such change goes through ``mark_dirty``; so ``reconcile`` looks at these
    only, not at every service of the region on every call.
    """
    store: dict[int, Service] = backend.__dict__.setdefault("_meshshift_unsettled", {})
    return store


def reconcile(account_id: str, region: str) -> None:
    """Bring every service of one region up to the clock's now."""
    backend = ecs_backends[account_id][region]
    unsettled = _unsettled(backend)
    if not unsettled:
        return
    now = sim_settings.current().now()
    for service in sorted(unsettled.values(), key=lambda s: service_sim(s).seq):
        if backend.services.get(f"{service.cluster_name}:{service.name}") is not service:
            # Replaced by a service of the same name: moto no longer lists it, so neither does ECS.
            del unsettled[id(service)]
            continue
        if not settled(service):
            schedule(backend, service, now)
        if settled(service):
            del unsettled[id(service)]


def unsettled(account_id: str, region: str) -> list[str]:
    """``cluster:service`` of the services ``reconcile`` will look at on the next call."""
    services = _unsettled(ecs_backends[account_id][region]).values()
    return [f"{service.cluster_name}:{service.name}" for service in sorted(services, key=lambda s: service_sim(s).seq)]


def set_failing(account_id: str, region: str, cluster: str, service_name: str, failing: bool) -> None:
    """Make a service's application fail (or recover): its tasks fail (pass) their health checks."""
    backend = ecs_backends[account_id][region]
    service = backend._get_service(cluster, service_name)
    sim = service_sim(service)
    now = sim_settings.current().now()
    schedule(backend, service, now)
    if sim.failing_at(now) != failing:
        sim.failing.append((now, failing))
    mark_dirty(service)


def failing(service: Service) -> bool:
    return service_sim(service).failing_at(sim_settings.current().now())


def mark_dirty(service: Service) -> None:
    """The service changed: ``reconcile`` brings it up to date until it has settled again."""
    service_sim(service).dirty = True
    backend = service.__dict__.get("_backend") or ecs_backends[service._account_id][service.region_name]
    _unsettled(backend)[id(service)] = service


def _task_health(elb: ELBv2Backend, target_id: str) -> elbv2.HealthTimeline | None:
    task = _tasks_by_ip(ecs_backends[elb.account_id][elb.region_name]).get(target_id)
    return task.health_timeline if task is not None else None


def _marks_dirty(original: Callable[..., Service]) -> Callable[..., Service]:
    """moto's own create/update_service (reached by the API, CloudFormation or a test): the service
    changed, whichever way it was changed."""

    def changed(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Service:
        service = original(self, *args, **kwargs)
        mark_dirty(service)
        return service

    return changed


def _tracks_created(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_network_interface(self: Any, *args: Any, **kwargs: Any) -> Any:
        eni = original(self, *args, **kwargs)
        book: _Addresses | None = self.__dict__.get("_meshshift_addresses")
        if book is not None:
            with book.lock:
                book.add(eni.id, eni.private_ip_address)
        return eni

    return create_network_interface


def _tracks_deleted(original: Callable[..., None]) -> Callable[..., None]:
    def delete_network_interface(self: Any, eni_id: str) -> None:
        original(self, eni_id)
        _forget_eni(self, eni_id)

    return delete_network_interface


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend

    elbv2.task_lookup = _task_health
    backend = EC2ContainerServiceBackend
    backend.create_service = _marks_dirty(backend.create_service)  # type: ignore[method-assign]
    backend.update_service = _marks_dirty(backend.update_service)  # type: ignore[method-assign]
    eni_backend = NetworkInterfaceBackend
    eni_backend.create_network_interface = _tracks_created(  # type: ignore[method-assign]
        eni_backend.create_network_interface
    )
    eni_backend.delete_network_interface = _tracks_deleted(  # type: ignore[method-assign]
        eni_backend.delete_network_interface
    )
    _installed = True
