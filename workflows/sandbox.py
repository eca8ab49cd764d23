"""The sandbox every worker and replayer runs MeshMigration in.

``meshshift.migration`` is pure, deterministic domain code (spec, plan, analysis, state, the
payload models): no clock, no randomness, no I/O but the spec file the CLI reads
(``loading.read_spec_file``), and no temporalio or boto3 (an import-linter contract in
pyproject.toml keeps it so). Temporal's advice for deterministic model modules is to
pass them through rather than let the sandbox import a fresh copy for every workflow run:
passed through, each pydantic model class exists once, inside and outside the sandbox, so a model
built on one side is an instance of the class the other side checks, and no run pays again for
building the models' validators. The whole package is listed, so a module added to it later is
covered without touching this file.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSTHROUGH_MODULES = ("meshshift.migration",)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )
