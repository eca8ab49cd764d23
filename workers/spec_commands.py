"""``meshshift validate`` and ``meshshift schema``: check a spec before anything touches AWS.

Exit codes of ``validate``: 0 the spec is valid; 1 the spec has problems (all of them are
listed); 2 the file could not be read or parsed (one line, never a traceback).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from meshshift.migration.durations import format_duration
from meshshift.migration.errors import SpecError
from meshshift.migration.loading import SpecLoadError, load_spec
from meshshift.migration.plan import describe_step_weights, ramp_steps, shifter_id, spec_warnings
from meshshift.migration.spec import MigrationSpec

EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def _console(stderr: bool = False) -> Console:
    # soft_wrap: long problem lines stay one line each, so they can be grepped and copied.
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _summary(spec: MigrationSpec, source: str) -> list[Text]:
    lines = [
        Text.assemble(("OK ", "bold green"), f"{source}: migration {spec.name!r} in {spec.region or '$AWS_REGION'}")
    ]
    blue, green = spec.blue, spec.green
    mesh = f" (App Mesh {blue.mesh!r})" if blue.mesh else ""
    lines.append(Text(f"  blue   cluster {blue.cluster}: {', '.join(blue.services)}{mesh}"))
    lines.append(
        Text(
            f"  green  cluster {green.cluster}, namespace {green.namespace}, provision {green.provision.value}, "
            f"names = blue + {green.service_suffix!r}"
        )
    )
    for edge in spec.edge:
        lines.append(Text(f"  edge   {shifter_id(edge)}"))
    for step in ramp_steps(spec):
        gate = "approval" if step.approval_required else "auto"
        bake = format_duration(step.bake)
        lines.append(Text(f"  step   {step.percent:>3}%  bake {bake:<6}  {gate:<8}  {describe_step_weights(step)}"))
    for worker in spec.async_workers:
        lines.append(Text(f"  worker {worker.blue_service} -> {worker.green_service} ({worker.desired_count} tasks)"))
    if spec.approvers:
        rule = "on" if spec.two_person_rule else "off"
        lines.append(
            Text(
                f"  approvers {', '.join(spec.eligible_approvers())} (requested by {spec.requested_by}, "
                f"two-person rule {rule})"
            )
        )
    if spec.dry_run:
        lines.append(Text("  dry_run: the workflow stops after the plan"))
    for warning in spec_warnings(spec):
        lines.append(Text.assemble(("  warning ", "yellow"), warning))
    return lines


def validate(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC", help="Migration spec, YAML or JSON")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout")] = False,
) -> None:
    """Validate a migration spec (YAML or JSON) and list every problem. Nothing touches AWS."""
    source = str(spec_file)
    try:
        spec = load_spec(spec_file)
    except SpecLoadError as exc:
        if as_json:
            typer.echo(json.dumps({"valid": False, "source": source, "error": str(exc)}))
        else:
            _console(stderr=True).print(Text.assemble(("error: ", "bold red"), str(exc)))
        raise typer.Exit(EXIT_UNREADABLE) from None
    except SpecError as exc:
        if as_json:
            problems = [p.model_dump() for p in exc.problems]
            typer.echo(json.dumps({"valid": False, "source": source, "problems": problems}, indent=2))
        else:
            err = _console(stderr=True)
            count = len(exc.problems)
            err.print(Text.assemble(("INVALID ", "bold red"), f"{source}: {count} problem{'s' if count != 1 else ''}"))
            for problem in exc.problems:
                err.print(Text(f"  {problem.message}"))
            err.print(Text("Nothing was changed in AWS. Fix the fields above and run `meshshift validate` again."))
        raise typer.Exit(EXIT_INVALID) from None
    if as_json:
        out = {"valid": True, "source": source, "spec": spec.model_dump(mode="json"), "warnings": spec_warnings(spec)}
        typer.echo(json.dumps(out, indent=2))
        return
    console = _console()
    for line in _summary(spec, source):
        console.print(line)


def schema() -> None:
    """Print the migration spec's JSON Schema (for editors, CI checks and the Web UI's input)."""
    typer.echo(json.dumps(MigrationSpec.model_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    app.command(name="validate")(validate)
    app.command(name="schema")(schema)
