"""The sandbox every worker and replayer runs MeshMigration in.

``migration`` is pure, deterministic domain code (spec, plan, analysis, state). It is passed
through the sandbox as a whole: some of its modules import others lazily (to break import
cycles), and a lazy import inside the sandbox would otherwise load a second copy of the models,
whose classes pydantic would not recognise as the same ones.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSTHROUGH_MODULES = ("meshshift.migration",)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )
