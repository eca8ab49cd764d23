"""The operator's CLI: ``start``, ``plan``, ``status``, ``watch``, ``approve``, ``reject``, ``rollback``,
``pause``, ``resume``, ``list`` and ``history``.

Every command speaks the public contract only (workflow type, id, signals, updates, the ``status``
query), so what it does can also be done with the ``temporal`` CLI or the Web UI (docs/driving.md).
Messages go through the update twins of the signals, so a refusal comes back at once with its
reason and a non-zero exit; where updates are unavailable the signal is sent instead, with a
warning. Errors are one line each, never a traceback.

Exit codes: 0 done; 1 refused, not found or Temporal unreachable; 2 an unreadable spec or bad
settings; for ``start`` and ``plan`` an invalid spec is 1 like ``meshshift validate``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, JsonValue, ValidationError
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributeKey, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from meshshift.migration import constants as k
from meshshift.migration.appmesh_snapshot import (
    FORMAT_VERSION,
    AppMeshSnapshot,
    SnapshotTooLarge,
    embedded,
    encoded_size,
    size_check,
)
from meshshift.migration.contracts import MigrationPlan, ShifterWeights, UntranslatableItem
from meshshift.migration.durations import format_duration as format_iso
from meshshift.migration.edge.registry import mechanism
from meshshift.migration.errors import SpecError
from meshshift.migration.loading import SpecLoadError, read_spec_file, validate_spec
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.state import (
    ApprovePayload,
    AuditEvent,
    CommandResult,
    PausePayload,
    RejectPayload,
    ResumePayload,
    RollbackPayload,
)
from meshshift.workers.connection import TemporalSettings, TemporalUnreachable, connect
from meshshift.workers.progress import StatusUnavailable, event_line, fetch_status, follow, render_status

EXIT_FAILED = 1
EXIT_UNREADABLE = 2
DEFAULT_UI_URL = "http://127.0.0.1:8233"
UI_URL_ENV = "MESHSHIFT_UI_URL"
# A message with no answer in this time means no worker is serving the task queue.
DEFAULT_ANSWER_TIMEOUT = 30.0

T = TypeVar("T")


class CommandFailed(Exception):
    """A failure the operator can act on: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    raise CommandFailed(message, code)


# --- common options -----------------------------------------------------------------------------

AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Temporal frontend host:port (env TEMPORAL_ADDRESS; 127.0.0.1:7233)")
]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", help="Temporal namespace (env TEMPORAL_NAMESPACE)")]
TaskQueueOpt = Annotated[
    str | None, typer.Option("--task-queue", help="Task queue of the workers (env MESHSHIFT_TASK_QUEUE)")
]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The app's name (the spec's `name`)")]
AsOpt = Annotated[str, typer.Option("--as", help="Who you are (must be allowed by the spec)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout")]
SpecArg = Annotated[Path, typer.Argument(metavar="SPEC", help="Migration spec, YAML or JSON")]


def settings_from(address: str | None, namespace: str | None, task_queue: str | None) -> TemporalSettings:
    """Flags win over the environment; TLS and the API key come from the environment only."""
    given = {"address": address, "namespace": namespace, "task_queue": task_queue}
    try:
        return TemporalSettings.model_validate({key: value for key, value in given.items() if value is not None})
    except ValueError as exc:
        fail(f"bad Temporal settings: {exc}", EXIT_UNREADABLE)


def run(command: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's coroutine; every anticipated failure becomes one line on stderr and an exit code."""
    try:
        return asyncio.run(command())
    except CommandFailed as exc:
        _err().print(Text.assemble(("error: ", "bold red"), str(exc)))
        raise typer.Exit(exc.code) from None
    except TemporalUnreachable as exc:
        _err().print(Text.assemble(("error: ", "bold red"), str(exc)))
        raise typer.Exit(EXIT_FAILED) from None
    except StatusUnavailable as exc:
        _err().print(Text.assemble(("error: ", "bold red"), str(exc)))
        raise typer.Exit(EXIT_FAILED) from None
    except ValueError as exc:  # unusable TLS files and the like; named by their variable
        _err().print(Text.assemble(("error: ", "bold red"), str(exc)))
        raise typer.Exit(EXIT_UNREADABLE) from None
    except RPCError as exc:
        _err().print(Text.assemble(("error: ", "bold red"), f"Temporal refused the request: {exc.message}"))
        raise typer.Exit(EXIT_FAILED) from None


async def _client(settings: TemporalSettings) -> Client:
    return await connect(settings)


def _not_found(name: str, settings: TemporalSettings) -> str:
    return (
        f"no migration named {name!r} (workflow id {k.workflow_id(name)}) in namespace {settings.namespace} "
        f"at {settings.address}; `meshshift list --all` shows the known ones"
    )


async def _handle(client: Client, name: str, settings: TemporalSettings) -> WorkflowHandle[Any, Any]:
    handle = client.get_workflow_handle(k.workflow_id(name))
    try:
        await handle.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            fail(_not_found(name, settings))
        raise
    return handle


def ui_link(ui_url: str, namespace: str, workflow_id: str) -> str:
    return f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{workflow_id}"


# --- start --------------------------------------------------------------------------------------


def embed_appmesh_snapshot(document: dict[str, JsonValue], spec_path: Path) -> None:
    """``blue.appmesh_snapshot: FILE`` becomes the file's content, so the worker never reads a local
    file (issue 18). The path is relative to the spec file. Refused when it would not fit in
    Temporal's payload limit; a warning above its warning threshold."""
    blue = document.get("blue")
    if not isinstance(blue, dict) or not isinstance(blue.get("appmesh_snapshot"), str):
        return
    reference = str(blue["appmesh_snapshot"])
    path = (spec_path.parent / reference).expanduser()
    field = "blue.appmesh_snapshot"
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(
            f"{field}: expected an App Mesh snapshot file (meshshift snapshot appmesh), got {reference!r}: "
            f"no such file ({path})",
            EXIT_UNREADABLE,
        )
    except (OSError, ValueError) as exc:
        fail(f"{field}: expected a JSON App Mesh snapshot, got {reference!r}: {exc}", EXIT_UNREADABLE)
    try:
        snapshot = AppMeshSnapshot.model_validate(content)
        # Sent as the workflow input carries it: compressed when large.
        content = embedded(snapshot)
        warning = size_check(encoded_size(content), f"App Mesh snapshot {reference!r} (as embedded)")
    except ValidationError as exc:
        fail(f"{field}: {reference!r} is not an App Mesh snapshot of format {FORMAT_VERSION}: {exc}", EXIT_FAILED)
    except SnapshotTooLarge as exc:
        fail(f"{field}: {exc}", EXIT_FAILED)
    if warning:
        _err().print(Text.assemble(("warning: ", "bold yellow"), warning))
    blue["appmesh_snapshot"] = content
    try:
        size_check(encoded_size(document), "the spec with its embedded App Mesh snapshot")
    except SnapshotTooLarge as exc:
        fail(f"{field}: {exc}", EXIT_FAILED)


def load_spec_document(path: Path) -> tuple[dict[str, JsonValue], str]:
    """The spec as the JSON object that will be sent, validated exactly as the workflow will see it.

    The user's document is sent as written (not re-dumped with defaults), so a run started here is
    identical to one started with ``temporal workflow start --input-file spec.json``; YAML-only
    types (dates) are turned into their JSON text first and then validated, so what is validated
    is byte for byte what is sent.
    """
    source = str(path)
    try:
        document = read_spec_file(path)
    except SpecLoadError as exc:
        fail(str(exc), EXIT_UNREADABLE)
    as_json: dict[str, JsonValue] = json.loads(json.dumps(document, default=str))
    embed_appmesh_snapshot(as_json, path)
    try:
        spec = validate_spec(as_json, source)
    except SpecError as exc:
        fail(f"{exc}\nNothing was started. Fix the fields above (`meshshift validate {source}`).", EXIT_FAILED)
    return as_json, spec.name


async def start_migration(
    settings: TemporalSettings, spec_path: Path, ui_url: str, watch: bool, console: Console
) -> None:
    document, name = load_spec_document(spec_path)
    client = await _client(settings)
    wf_id = k.workflow_id(name)
    try:
        handle = await client.start_workflow(
            k.WORKFLOW_TYPE,
            document,
            id=wf_id,
            task_queue=settings.task_queue,
            task_timeout=k.WORKFLOW_TASK_TIMEOUT,
            # One running migration per app: a second start fails while one runs; a finished
            # (completed or rolled back) migration may be started again.
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError as exc:
        run_id = f" (run {exc.run_id})" if exc.run_id else ""
        fail(
            f"a migration of {name!r} is already running: workflow {exc.workflow_id}{run_id}. "
            f"Follow it with `meshshift watch {name}`, or end it (`meshshift rollback {name}`) before starting again."
        )
    console.print(Text.assemble(("started ", "bold green"), f"migration {name!r}"))
    console.print(f"  workflow id  {handle.id}")
    console.print(f"  run id       {handle.result_run_id}")
    console.print(f"  task queue   {settings.task_queue}")
    console.print(f"  web UI       {ui_link(ui_url, settings.namespace, handle.id)}")
    console.print(f"  follow it    meshshift watch {name}")
    if watch:
        await follow(handle, console, client=client)


# --- plan ---------------------------------------------------------------------------------------


def plan_migration(spec_path: Path, as_json: bool, console: Console) -> None:
    """Discovery (read-only AWS calls), translation and the ramp plan, without Temporal."""
    # Imported here: boto3 is heavy and only `plan` (and the worker) need it in this process.
    from botocore.exceptions import BotoCoreError, ClientError
    from temporalio.testing import ActivityEnvironment

    from meshshift.activities.aws import AwsClients
    from meshshift.activities.discovery import DiscoveryActivities
    from meshshift.migration.contracts import AwsContext, DiscoverInput
    from meshshift.migration.plan import build_plan
    from meshshift.migration.plan_preflight import EdgePreflightError, findings

    document, _ = load_spec_document(spec_path)
    spec = validate_spec(document, str(spec_path))
    discovery_input = DiscoverInput(aws=AwsContext(region=spec.region, rate_limits=spec.rate_limits), spec=spec)
    activities = DiscoveryActivities(AwsClients())
    # The activity heartbeats (it needs an activity context); ActivityEnvironment runs activity
    # code outside a worker and simply drops the heartbeats. Nothing here writes to AWS.
    try:
        discovery = ActivityEnvironment().run(activities.discover_blue, discovery_input)
    except ApplicationError as exc:
        fail(f"discovery failed: {exc.message}")
    except (BotoCoreError, ClientError) as exc:
        fail(f"discovery failed talking to AWS: {exc}")
    try:
        plan = build_plan(spec, discovery)
    except EdgePreflightError as exc:
        if as_json:
            # Scripts get every finding, errors included, in the shape of the plan's `preflight` field.
            console.print_json(
                data={
                    "error": f"planning failed: {exc}",
                    "preflight": [f.model_dump(mode="json") for f in findings(exc.problems)],
                }
            )
        fail(f"planning failed: {exc}")
    except (ValueError, KeyError) as exc:
        # Odd discovery data the translation could not make sense of: say what, never a traceback.
        fail(f"planning failed: {exc}")
    if as_json:
        console.print_json(plan.model_dump_json())
    else:
        console.print(render_plan(spec, plan))
    if plan.backend_gate:
        # The plan is shown (services[].backends says which backend is missing), but it would stop the
        # migration before provisioning: say so with a failing exit code.
        fail(plan.backend_gate)


def take_appmesh_snapshot(mesh: str, owner: str | None, region: str | None, output: Path, console: Console) -> None:
    """``meshshift snapshot appmesh``: read-only App Mesh calls, one JSON file written."""
    from botocore.exceptions import BotoCoreError, ClientError

    from meshshift.activities.aws import AwsClients
    from meshshift.activities.discovery import snapshot_mesh
    from meshshift.migration.contracts import AwsContext

    try:
        snapshot = snapshot_mesh(AwsClients().appmesh(AwsContext(region=region)), mesh, owner)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        fail(
            f"App Mesh answered {error.get('Code') or exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode')} "
            f"for mesh {mesh!r}: {error.get('Message', '')}. A snapshot needs the App Mesh API; after its end of "
            "support, write green.services.<name> in the spec instead (docs/migration-guide.md)"
        )
    except BotoCoreError as exc:
        fail(f"App Mesh did not answer for mesh {mesh!r}: {exc}")
    body = snapshot.model_dump(mode="json")
    try:
        # What limits it is the spec it is embedded in, where it travels compressed when large.
        warning = size_check(encoded_size(embedded(snapshot)), f"the snapshot of mesh {mesh!r} (as embedded)")
    except SnapshotTooLarge as exc:
        fail(str(exc))
    output.write_text(json.dumps(body, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if warning:
        _err().print(Text.assemble(("warning: ", "bold yellow"), warning))
    console.print(
        f"wrote {output}: mesh {mesh}, {len(snapshot.virtual_nodes)} virtual nodes, {len(snapshot.virtual_services)} "
        f"virtual services, {len(snapshot.virtual_routers)} routers, {len(snapshot.routes)} routes, "
        f"{len(snapshot.virtual_gateways)} gateways, {len(snapshot.gateway_routes)} gateway routes. "
        f"Next: set blue.appmesh_snapshot: {output} in the spec"
    )


def render_plan(spec: MigrationSpec, plan: MigrationPlan) -> Group:
    """The plan: what cannot be carried over first (by service, with next steps), then green
    services to create, weights per shifter per step, warnings."""
    parts: list[RenderableType] = [
        Text.assemble(
            ("plan ", "bold"),
            f"{spec.name}: blue cluster {spec.blue.cluster} -> green cluster {spec.green.cluster}, "
            f"namespace {spec.green.namespace}, provision {spec.green.provision.value} (nothing was changed)",
        ),
        *render_untranslatable(plan, spec.blue.mesh),
    ]
    verb = "create" if spec.green.provision.value == "create" else "adopt"
    services = Table(
        "blue",
        "green",
        "cluster",
        "tasks",
        "task def family",
        "discoveryName",
        "client alias",
        "target groups",
        title=f"green services to {verb}",
    )
    for item in [*plan.services, *plan.async_workers]:
        sc = item.service_connect.services
        discovery = ", ".join(s.discoveryName or s.portName for s in sc) or "-"
        aliases = ", ".join(f"{a.dnsName or '(discoveryName)'}:{a.port}" for s in sc for a in s.clientAliases) or "-"
        groups = ", ".join(lb.target_group_arn.rsplit(":", 1)[-1] for lb in item.load_balancers) or "-"
        services.add_row(
            item.blue_service,
            item.green_service + (" (async worker)" if item.is_async_worker else ""),
            item.cluster,
            str(item.desired_count),
            item.green_family,
            discovery,
            aliases,
            groups,
        )
    parts.append(services)
    parts.extend(_render_backends(plan))

    shifters = [w.shifter_id for w in plan.steps[0].weights] if plan.steps else []
    # Shifter ids are long ARNs; the columns get short labels and a legend below the table.
    labels = [f"{sid.split(':', 1)[0]} #{n}" for n, sid in enumerate(shifters, start=1)]
    steps = Table("step", "green %", "bake", "gate", *labels, title="weights per shifter per step (blue/green)")
    for step in plan.steps:
        cells = [_weights_cell(w) for w in step.weights]
        steps.add_row(
            str(step.index + 1),
            f"{step.percent}%",
            format_iso(step.bake),
            "approval" if step.approval_required else "auto",
            *cells,
        )
    steps.add_row("rollback", "0%", "-", "-", *(_weights_cell(w) for w in plan.rollback_weights))
    parts.append(steps)
    parts.extend(Text(f"  {label} = {sid}", style="dim") for label, sid in zip(labels, shifters, strict=True))

    if plan.warnings:
        parts.append(Text("warnings:", style="bold yellow"))
        parts.extend(Text(f"  - {item}", style="yellow") for item in plan.warnings)
    return Group(*parts)


def _render_backends(plan: MigrationPlan) -> list[RenderableType]:
    """The backend gate: each backend blue's clients call, where that is known from, who answers it."""
    checks = [b for p in [*plan.services, *plan.async_workers] for b in p.backends]
    if not checks:
        return []
    table = Table("client", "backend", "source", "green answer", title="backends blue's clients call (backend gate)")
    for check in checks:
        if check.answered:
            answer = check.answered_by or "yes"
        elif check.allowed_missing:
            answer = "none (allowed: green.allow_missing_backends)"
        elif check.outside_spec:
            answer = "none (outside the spec: called by DNS)"
        else:
            answer = "[bold red]MISSING[/]"
        target = f"{check.host}:{check.port}" if check.port is not None else check.host
        table.add_row(check.client, target, check.source.value, answer)
    return [table]


def render_untranslatable(plan: MigrationPlan, mesh: str | None) -> list[RenderableType]:
    """What green does not get as blue had it, grouped by blue service (mesh-wide last), each with
    its next step. Plans made before items were structured only have the one-line form."""
    if not plan.untranslatable_items:
        if not plan.untranslatable:
            return []
        lines = [Text(f"  - {item}", style="yellow") for item in plan.untranslatable]
        return [Text("cannot be translated to Service Connect:", style="bold yellow"), *lines]
    groups: dict[str | None, list[UntranslatableItem]] = {}
    for item in plan.untranslatable_items:
        groups.setdefault(item.service, []).append(item)
    out: list[RenderableType] = [
        Text(
            f"cannot be carried over to Service Connect ({len(plan.untranslatable_items)}), by service:",
            style="bold yellow",
        )
    ]
    for service in sorted(groups, key=lambda name: (name is None, name or "")):
        heading = f"service {service}" if service else f"mesh {mesh} as a whole" if mesh else "the mesh as a whole"
        out.append(Text(f"  {heading}", style="bold"))
        for item in groups[service]:
            what = f" ({item.resource}): {item.detail}"
            out.append(Text.assemble(("    - ", "yellow"), (item.app_mesh_construct, "bold yellow"), what))
            out.append(Text(f"      next: {item.next_step}", style="cyan"))
    return out


def _weights_cell(weights: ShifterWeights) -> str:
    return mechanism(weights.mechanism).describe_weights(weights)


# --- status, watch, history, list ---------------------------------------------------------------


async def show_status(settings: TemporalSettings, name: str, events: int, as_json: bool, console: Console) -> None:
    client = await _client(settings)
    handle = await _handle(client, name, settings)
    status = await fetch_status(handle, client)
    if as_json:
        console.print_json(status.model_dump_json())
        return
    console.print(render_status(status, events=events))


async def watch_migration(settings: TemporalSettings, name: str, interval: float, console: Console) -> None:
    client = await _client(settings)
    handle = await _handle(client, name, settings)
    status = await follow(handle, console, poll_interval=interval, client=client)
    console.print(render_status(status, events=0))


def _event_json(event: AuditEvent) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = event.model_dump(mode="json")
    return out


async def show_history(settings: TemporalSettings, name: str, as_json: bool, console: Console) -> None:
    client = await _client(settings)
    handle = await _handle(client, name, settings)
    status = await fetch_status(handle, client)
    if as_json:
        console.print_json(json.dumps([_event_json(e) for e in status.events]))
        return
    # One line per event (time, who, what, why refused), so the trail can be grepped and pasted.
    console.print(Text(f"audit trail of {name} (times in UTC)", style="bold"))
    for event in status.events:
        console.print(event_line(event))
    console.print(f"{len(status.events)} events; phase {status.phase.value}")


_SA_APP = SearchAttributeKey.for_keyword(k.SA_APP)
_SA_PHASE = SearchAttributeKey.for_keyword(k.SA_PHASE)
_SA_GREEN = SearchAttributeKey.for_int(k.SA_GREEN_WEIGHT)


class ListedMigration(BaseModel):
    app: str
    workflow_id: str
    run_id: str
    status: str
    phase: str | None
    green_weight: int | None
    started: str | None
    closed: str | None


async def list_migrations(settings: TemporalSettings, include_closed: bool) -> list[ListedMigration]:
    client = await _client(settings)
    query = f"WorkflowType = '{k.WORKFLOW_TYPE}'"
    if not include_closed:
        query += " AND ExecutionStatus = 'Running'"
    found: list[ListedMigration] = []
    async for execution in client.list_workflows(query):
        attrs = execution.typed_search_attributes
        app = attrs.get(_SA_APP) or k.app_name_from_workflow_id(execution.id)
        found.append(
            ListedMigration(
                app=app,
                workflow_id=execution.id,
                run_id=execution.run_id,
                status=execution.status.name if execution.status else "UNKNOWN",
                phase=attrs.get(_SA_PHASE),
                green_weight=attrs.get(_SA_GREEN),
                started=execution.start_time.isoformat() if execution.start_time else None,
                closed=execution.close_time.isoformat() if execution.close_time else None,
            )
        )
    return found


def print_list(rows: list[ListedMigration], include_closed: bool, console: Console) -> None:
    if not rows:
        console.print("no running migrations" + ("" if include_closed else " (`--all` includes finished ones)"))
        return
    table = Table("app", "phase", "green", "status", "started (UTC)", "workflow id")
    for row in rows:
        table.add_row(
            row.app,
            row.phase or "-",
            f"{row.green_weight}%" if row.green_weight is not None else "-",
            row.status.lower(),
            row.started[:19].replace("T", " ") if row.started else "-",
            row.workflow_id,
        )
    console.print(table)


# --- messages -----------------------------------------------------------------------------------


async def send_message(
    settings: TemporalSettings,
    name: str,
    update: str,
    signal: str,
    payload: BaseModel,
    console: Console,
    answer_timeout: float = DEFAULT_ANSWER_TIMEOUT,
) -> CommandResult | None:
    """Send ``payload`` through the update (an answer at once), else the signal (with a warning).

    Returns the workflow's answer, or None when the signal was sent instead. A refusal raises
    ``CommandFailed`` carrying the workflow's reason.
    """
    client = await _client(settings)
    handle = await _handle(client, name, settings)
    description = await handle.describe()
    if description.status is not WorkflowExecutionStatus.RUNNING:
        state = description.status.name.lower() if description.status else "closed"
        fail(f"the migration of {name!r} is not running (it is {state}); nothing was sent")
    try:
        result: CommandResult = await asyncio.wait_for(
            handle.execute_update(update, payload, result_type=CommandResult), answer_timeout
        )
    except TimeoutError:
        fail(
            f"no answer from {handle.id} within {answer_timeout:g}s: is a meshshift worker running on task queue "
            f"{description.task_queue!r}? The update was not applied."
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
        fail(f"refused: {reason}")
    except RPCError as exc:
        if not _updates_unavailable(exc):
            raise
        _err().print(
            Text.assemble(
                ("warning: ", "yellow"),
                f"updates are not available here ({exc.message}); sending the {signal!r} signal instead. "
                f"The workflow records whether it was accepted: check `meshshift history {name}`.",
            )
        )
        await handle.signal(signal, payload)
        console.print(f"sent signal {signal} to {handle.id}")
        return None
    console.print(Text.assemble(("accepted: ", "bold green"), result.reason))
    console.print(f"  phase {result.phase.value}, green {result.green_weight}%" + (", paused" if result.paused else ""))
    return result


def _updates_unavailable(exc: RPCError) -> bool:
    if exc.status is RPCStatusCode.UNIMPLEMENTED:
        return True
    return exc.status is RPCStatusCode.PERMISSION_DENIED and "update" in exc.message.lower()


# --- registration -------------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    @app.command(name="start")
    def start(
        spec_file: SpecArg,
        watch: Annotated[bool, typer.Option("--watch", help="Follow the migration live after starting")] = False,
        ui_url: Annotated[
            str, typer.Option("--ui-url", envvar=UI_URL_ENV, help="Base URL of the Temporal Web UI for the link")
        ] = DEFAULT_UI_URL,
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
        task_queue: TaskQueueOpt = None,
    ) -> None:
        """Validate a spec and start its migration (workflow id mesh-migration-NAME).

        A second start while the app's migration runs is refused with the running workflow's id."""
        run(lambda: start_migration(settings_from(address, namespace, task_queue), spec_file, ui_url, watch, _out()))

    @app.command(name="plan")
    def plan(spec_file: SpecArg, as_json: JsonOpt = False) -> None:
        """Dry run: discover blue (read-only AWS calls), translate it and print the ramp plan.

        Needs no Temporal and changes nothing. AWS comes from boto3's standard configuration."""
        try:
            plan_migration(spec_file, as_json, _out())
        except CommandFailed as exc:
            _err().print(Text.assemble(("error: ", "bold red"), str(exc)))
            raise typer.Exit(exc.code) from None

    snapshot = typer.Typer(help="Save what App Mesh still answers, for migrations after its end of support.")
    app.add_typer(snapshot, name="snapshot")

    @snapshot.command(name="appmesh")
    def snapshot_appmesh(
        mesh: Annotated[str, typer.Option("--mesh", help="App Mesh mesh name")],
        output: Annotated[Path, typer.Option("--output", "-o", help="JSON file to write")],
        mesh_owner: Annotated[str | None, typer.Option("--mesh-owner", help="Account id owning a shared mesh")] = None,
        region: Annotated[str | None, typer.Option("--region", help="AWS region (default: AWS_REGION)")] = None,
    ) -> None:
        """Write every describe output of a mesh (nodes, services, routers, routes, gateways, gateway
        routes) as versioned JSON; set blue.appmesh_snapshot to the file in the spec."""
        try:
            take_appmesh_snapshot(mesh, mesh_owner, region, output, _out())
        except CommandFailed as exc:
            _err().print(Text.assemble(("error: ", "bold red"), str(exc)))
            raise typer.Exit(exc.code) from None

    @app.command(name="status")
    def status(
        name: NameArg,
        events: Annotated[int, typer.Option("--events", "-n", help="How many recent events to show")] = 10,
        as_json: JsonOpt = False,
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
    ) -> None:
        """Show a migration's phase, weights per shifter, open gate, countdown and last events."""
        run(lambda: show_status(settings_from(address, namespace, None), name, events, as_json, _out()))

    @app.command(name="watch")
    def watch(
        name: NameArg,
        interval: Annotated[float, typer.Option("--interval", help="Seconds between status queries")] = 1.0,
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
    ) -> None:
        """Follow a migration live (ramp bar, countdowns, events) until it ends."""
        run(lambda: watch_migration(settings_from(address, namespace, None), name, interval, _out()))

    @app.command(name="approve")
    def approve(
        name: NameArg,
        who: AsOpt,
        step: Annotated[
            int | None, typer.Option("--step", help="Green percent being approved (default: the gate open now)")
        ] = None,
        comment: Annotated[str | None, typer.Option("--comment", help="Recorded with the approval")] = None,
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
    ) -> None:
        """Approve the open gate (a ramp step, or the decommission of blue)."""
        run(
            lambda: _message(
                address,
                namespace,
                name,
                k.UPDATE_APPROVE,
                k.SIGNAL_APPROVE,
                ApprovePayload(approver=who, step=step, comment=comment),
            )
        )

    @app.command(name="reject")
    def reject(
        name: NameArg,
        who: AsOpt,
        reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail)")],
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
    ) -> None:
        """Reject the migration: every shifter goes back to 100% blue."""
        run(
            lambda: _message(
                address, namespace, name, k.UPDATE_REJECT, k.SIGNAL_REJECT, RejectPayload(approver=who, reason=reason)
            )
        )

    @app.command(name="rollback")
    def rollback(
        name: NameArg,
        who: AsOpt,
        reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail)")],
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
    ) -> None:
        """Roll the migration back to 100% blue (possible until decommission starts)."""
        run(
            lambda: _message(
                address,
                namespace,
                name,
                k.UPDATE_ROLLBACK,
                k.SIGNAL_ROLLBACK,
                RollbackPayload(requested_by=who, reason=reason),
            )
        )

    @app.command(name="pause")
    def pause(
        name: NameArg,
        who: AsOpt,
        reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded in the audit trail)")] = None,
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
    ) -> None:
        """Pause the migration: weights are held and timers stop until resumed."""
        run(
            lambda: _message(
                address, namespace, name, k.UPDATE_PAUSE, k.SIGNAL_PAUSE, PausePayload(requested_by=who, reason=reason)
            )
        )

    @app.command(name="resume")
    def resume(
        name: NameArg,
        who: AsOpt,
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
    ) -> None:
        """Resume a paused migration (the requester or an approver)."""
        run(
            lambda: _message(
                address, namespace, name, k.UPDATE_RESUME, k.SIGNAL_RESUME, ResumePayload(requested_by=who)
            )
        )

    @app.command(name="list")
    def list_command(
        include_closed: Annotated[bool, typer.Option("--all", help="Include finished migrations")] = False,
        as_json: JsonOpt = False,
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
    ) -> None:
        """List migrations by app and phase (running ones; --all for every one)."""
        rows = run(lambda: list_migrations(settings_from(address, namespace, None), include_closed))
        if as_json:
            _out().print_json(json.dumps([r.model_dump() for r in rows]))
        else:
            print_list(rows, include_closed, _out())

    @app.command(name="history")
    def history(
        name: NameArg,
        as_json: JsonOpt = False,
        address: AddressOpt = None,
        namespace: NamespaceOpt = None,
    ) -> None:
        """Show a migration's audit trail: who did what, when and why; refused messages are marked."""
        run(lambda: show_history(settings_from(address, namespace, None), name, as_json, _out()))


async def _message(
    address: str | None, namespace: str | None, name: str, update: str, signal: str, payload: BaseModel
) -> CommandResult | None:
    return await send_message(settings_from(address, namespace, None), name, update, signal, payload, _out())


__all__ = [
    "CommandFailed",
    "ListedMigration",
    "event_line",
    "list_migrations",
    "load_spec_document",
    "register",
    "send_message",
    "start_migration",
    "ui_link",
]
