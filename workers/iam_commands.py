"""``meshshift iam-policy SPEC``: the least-privilege IAM policy for the worker of one migration.

The policy is built by ``migration.iam`` from the spec alone, or with ``--discover`` also from
read-only discovery (``workers/iam_discovery.py``), which makes task-definition families, roles
and Cloud Map ids exact. docs/security.md says when to use it and when the broad
``docs/iam-policy.json``.

Output: the policy document on stdout (``aws iam put-role-policy --policy-document file://...``
takes it as is); notes on where it is wider than it could be on stderr. ``--json`` prints one
object instead: the policy, the notes, where the resources are and the policy's size.

Exit codes: 0 printed; 1 the spec has problems; 2 the spec cannot be read, or the partition,
region or account cannot be found, or discovery failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from meshshift.migration.errors import SpecError
from meshshift.migration.iam import ArnHints, arn_hints, build_policy
from meshshift.migration.iam_model import ArnContext, IamFacts
from meshshift.migration.loading import SpecLoadError, load_spec
from meshshift.workers.iam_discovery import DiscoveryError, discover

EXIT_INVALID = 1
EXIT_UNUSABLE = 2
# IAM's limit for a customer managed policy (characters, whitespace not counted); an inline role
# policy may have 10,240 across all of a role's inline policies.
MANAGED_POLICY_LIMIT = 6144


def _fail(message: str, code: int) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text.assemble(("error: ", "bold red"), message))
    return typer.Exit(code)


def _context_without_discovery(hints: ArnHints) -> ArnContext:
    missing = [name for name in ("region", "account") if getattr(hints, name) is None]
    if missing:
        raise _fail(
            f"the spec does not say its {' or '.join(missing)} (no `region`, no ARN naming it): pass "
            f"{' and '.join('--' + m for m in missing)}, or --discover to ask STS",
            EXIT_UNUSABLE,
        )
    assert hints.region is not None and hints.account is not None
    return ArnContext(partition=hints.partition or "aws", region=hints.region, account=hints.account)


def iam_policy(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC", help="Migration spec, YAML or JSON")],
    do_discover: Annotated[
        bool,
        typer.Option(
            "--discover",
            help="Read blue's task definitions, roles and Cloud Map ids from AWS (read-only) to make the policy "
            "exact; the account and partition come from STS when the spec does not name them",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: policy, notes, partition/region/account, size")
    ] = False,
    region: Annotated[str | None, typer.Option(help="Region, when the spec has none")] = None,
    account: Annotated[str | None, typer.Option(help="Account id, when no ARN in the spec names it")] = None,
) -> None:
    """Print the least-privilege IAM policy for the worker that migrates SPEC."""
    try:
        spec = load_spec(spec_file)
    except SpecLoadError as exc:
        raise _fail(str(exc), EXIT_UNUSABLE) from None
    except SpecError as exc:
        problems = "\n  ".join(p.message for p in exc.problems)
        raise _fail(
            f"{spec_file} is not a valid spec (run `meshshift validate`):\n  {problems}", EXIT_INVALID
        ) from None
    found = arn_hints(spec)
    hints = ArnHints(partition=found.partition, region=found.region or region, account=found.account or account)
    facts = IamFacts()
    try:
        if do_discover:
            context, facts = discover(spec, hints)
        else:
            context = _context_without_discovery(hints)
    except DiscoveryError as exc:
        raise _fail(f"discovery failed: {exc}", EXIT_UNUSABLE) from None
    except ValueError as exc:  # an ArnContext field out of shape (e.g. --account 12345)
        raise _fail(str(exc), EXIT_UNUSABLE) from None
    policy = build_policy(spec, context, facts)
    document = policy.document()
    size = len(json.dumps(document, separators=(",", ":")))
    notes = list(policy.notes)
    if size > MANAGED_POLICY_LIMIT:
        notes.append(
            f"the policy has {size} characters, more than a managed policy's {MANAGED_POLICY_LIMIT}: attach it as an "
            "inline role policy (10,240 for all of a role's inline policies), or split its statements"
        )
    if as_json:
        out = {
            "policy": document,
            "notes": notes,
            "partition": context.partition,
            "region": context.region,
            "account": context.account,
            "discovered": do_discover,
            "size": size,
        }
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(json.dumps(document, indent=2))
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for note in notes:
        err.print(Text.assemble(("note: ", "yellow"), note))


def register(app: typer.Typer) -> None:
    app.command(name="iam-policy")(iam_policy)
