"""The Temporal Web UI journey in a real browser (headless chromium), against `meshshift server`'s UI
with the real worker and the seeded simulated AWS:

1. start a migration from the UI's Start Workflow form, with the spec as JSON input;
2. find it in the workflow list by filtering on the app's search attribute;
3. run the `status` query on the workflow's page (the first ramp gate is open), and read the same
   gate, with its `meshshift approve` command, in the workflow's current details;
4. approve step 1 from the UI's "Send a Signal" dialog;
5. see green at 1% in `status`, the weight write's activity summary in the event history, and read
   the same weights back from the simulated AWS.

Each step leaves a screenshot in tests/.artifacts/browser/; docs/web-ui.md shows the same journey.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from meshshift.migration.constants import SA_APP, SA_GREEN_WEIGHT, SA_PHASE, SIGNAL_APPROVE, WORKFLOW_TYPE
from meshshift.migration.state import Phase
from tests.browser.conftest import VIEWPORT
from tests.browser.stack import Stack, running_stack

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(240)]

# Generous for a shared 2-core machine, but bounded: a step that cannot happen fails with its name.
UI_TIMEOUT_MS = 20_000
EVENTUALLY_SECONDS = 40.0
APPROVAL = {"approver": "alice", "step": 1}
OTHER_APP = "catalog"
# migration/summaries.py's line for the weight write of step 1 (the stack's spec has both shifters).
WEIGHT_SUMMARY = "ALB listener, Route 53 record → 1% green"


@pytest.fixture
async def stack(aws_server_env: str, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path / "temporal") as running:
        yield running


async def eventually(action: Callable[[], Awaitable[Any]], check: Callable[[], Awaitable[Any]], what: str) -> None:
    """Repeat ``action`` (a UI refresh) until ``check`` (a Playwright expectation with a short
    timeout of its own) passes: the list and the query result only change when asked again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EVENTUALLY_SECONDS
    while True:
        await action()
        try:
            await check()
            return
        except AssertionError as err:
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {EVENTUALLY_SECONDS:.0f}s waiting for {what}: {err}") from None


async def leave_editor(elsewhere: Any) -> None:
    """Click outside a JSON editor, as a user does before submitting: the UI takes the editor's text
    when it loses focus (a Submit clicked while the editor still has focus only reformats the JSON)."""
    await elsewhere.click()


async def start_decoy(stack: Stack) -> None:
    """Another app's migration, on a queue nobody polls (it never runs, so it sets its app attribute
    at start, as `temporal workflow start --search-attribute` would): the filtered list must leave it out."""
    await stack.client.start_workflow(
        WORKFLOW_TYPE,
        {"name": OTHER_APP},
        id=f"mesh-migration-{OTHER_APP}",
        task_queue=f"{stack.task_queue}-nobody",
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(SearchAttributeKey.for_keyword(SA_APP), OTHER_APP)]
        ),
    )


async def test_start_list_query_and_approve_a_migration_from_the_web_ui(
    browser: Any, stack: Stack, artifacts: Path
) -> None:
    # ``browser`` first: without one, the test is skipped before any server starts.
    from playwright.async_api import expect

    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    ui = f"{stack.ui_url}/namespaces/default"
    step = 0

    async def shot(name: str) -> None:
        nonlocal step
        step += 1
        await page.screenshot(path=artifacts / f"{step:02d}-{name}.png")

    try:
        await start_decoy(stack)
        weights_before = await stack.edge_weights()
        assert (weights_before.alb_green, weights_before.route53_green) == (0, 0), weights_before

        # 1. Start Workflow form: id, task queue, type, and the spec as the one JSON input.
        await page.goto(f"{ui}/workflows")
        await page.get_by_role("link", name="Start Workflow").click()
        await page.get_by_test_id("workflowId").fill(stack.workflow_id)
        await page.get_by_test_id("taskQueue").fill(stack.task_queue)
        await page.get_by_test_id("workflowType").fill(WORKFLOW_TYPE)
        data = page.get_by_role("textbox", name="Data")
        await data.fill(json.dumps(stack.spec, indent=2))
        # The editor scrolls to the end of what was pasted; show the form from its top instead.
        await data.press("Control+Home")
        await leave_editor(page.get_by_text("Single JSON payload supported."))
        await page.get_by_role("heading", name="Start Workflow").scroll_into_view_if_needed()
        await shot("start-workflow-form")
        await page.get_by_test_id("start-workflow-button").click()
        await expect(page.get_by_role("link", name="Workflow started successfully")).to_be_visible(
            timeout=UI_TIMEOUT_MS
        )
        description = await stack.handle().describe()
        assert description.workflow_type == WORKFLOW_TYPE
        assert description.task_queue == stack.task_queue

        # 2. The list: every workflow, then only this app's, filtered on the search attribute that
        # the workflow upserts itself.
        await page.goto(f"{ui}/workflows")
        ours = page.get_by_role("link", name=stack.workflow_id, exact=True)
        decoy = page.get_by_role("link", name=f"mesh-migration-{OTHER_APP}", exact=True)

        async def refresh_list() -> None:
            await page.get_by_role("button", name="Refresh", exact=True).click()

        async def both_listed() -> None:
            await expect(ours).to_be_visible(timeout=2_000)
            await expect(decoy).to_be_visible(timeout=2_000)

        await eventually(refresh_list, both_listed, "both workflows in the unfiltered list")
        await shot("list-all")
        await page.get_by_test_id("toggle-manual-query").click()
        query_box = page.get_by_test_id("workflow-manual-search-input")
        await query_box.fill(f'{SA_APP}="{stack.app}"')

        async def search() -> None:
            await page.get_by_test_id("workflow-manual-search-button").click()

        async def only_ours() -> None:
            await expect(ours).to_be_visible(timeout=2_000)
            await expect(decoy).to_have_count(0, timeout=2_000)

        await eventually(search, only_ours, "only this app's migration in the filtered list")
        await shot("list-filtered-by-app")

        # 3. The status query on the workflow's page: step 1's gate is open.
        await ours.click()
        await page.get_by_test_id("queries-tab").click()
        await expect(page.get_by_test_id("query-select")).to_have_value("status", timeout=UI_TIMEOUT_MS)
        result = page.get_by_role("textbox", name="Query Result")

        async def run_query() -> None:
            await page.get_by_role("button", name=re.compile(r"^(Run|Refresh) Query$")).click()

        gate_open = re.compile(r'"phase": "ramping".*"green_weight": 0,.*"awaiting_approval": \{\s*"step": 1,', re.S)
        await eventually(run_query, lambda: expect(result).to_have_text(gate_open, timeout=2_000), "step 1's gate")
        await shot("status-query-gate-open")

        # The workflow's current details say the same in words, with the command that moves it on,
        # on the workflow's "User Metadata" tab (the UI reads them with the metadata query).
        metadata_tab = page.get_by_test_id("user-metadata-tab")

        async def open_current_details() -> None:
            await page.reload()
            # After a reload the page is a skeleton until the workflow is loaded: wait for the tab.
            await metadata_tab.click(timeout=UI_TIMEOUT_MS)

        # The UI renders the details' markdown in a sandboxed frame of its own.
        details = page.frame_locator('iframe[title="output"]').locator("body")

        async def gate_explained() -> None:
            await expect(details).to_contain_text("Waiting for approval", timeout=2_000)
            await expect(details).to_contain_text(f"meshshift approve {stack.app} --step 1 --as", timeout=2_000)

        await eventually(open_current_details, gate_explained, "the current details of step 1's gate")
        await shot("current-details-gate-open")
        await page.get_by_test_id("queries-tab").click()

        # 4. approve from the "Send a Signal" dialog.
        await page.get_by_role("button", name="More Actions").click()
        await page.get_by_role("menuitem", name="Send a Signal").filter(visible=True).click()
        dialog = page.get_by_role("dialog", name="Send a Signal")
        await dialog.get_by_test_id("signal-select-button").click()
        await page.get_by_role("option", name=SIGNAL_APPROVE, exact=True).click()
        await dialog.get_by_role("textbox", name="Data").fill(json.dumps(APPROVAL))
        await leave_editor(dialog.get_by_text("Single JSON payload supported."))
        await shot("signal-dialog-approve")
        await dialog.get_by_test_id("confirm-modal-button").click()
        await expect(dialog).to_have_count(0, timeout=UI_TIMEOUT_MS)

        # 5. status shows green at 1% (after the write was verified by read-back) ...
        weight_one = re.compile(r'"green_weight": 1,')
        await eventually(run_query, lambda: expect(result).to_have_text(weight_one, timeout=2_000), "green at 1%")
        await shot("status-query-green-1")

        # The event history names each activity call by its summary, e.g. the weight write of step 1.
        async def open_history() -> None:
            await page.reload()
            await page.get_by_test_id("history-tab").click()

        async def summary_shown() -> None:
            await expect(page.get_by_text(WEIGHT_SUMMARY).first).to_be_visible(timeout=2_000)

        await eventually(open_history, summary_shown, f"the activity summary {WEIGHT_SUMMARY!r}")
        # Scrolled vertically only, so the screenshot keeps the event names beside the summary.
        await page.get_by_text(WEIGHT_SUMMARY).first.evaluate("e => e.scrollIntoView({block: 'center'})")
        await page.evaluate("window.scrollTo(0, window.scrollY)")
        await shot("history-activity-summaries")

        # The search attributes follow the migration too (phase and weight, for the list's filters).
        attributes = page.get_by_role("main")

        async def open_search_attributes() -> None:
            await page.reload()
            await page.get_by_test_id("search-attributes-tab").click()

        async def weight_published() -> None:
            await expect(attributes).to_contain_text(f'"{SA_GREEN_WEIGHT}": 1,', timeout=2_000)
            await expect(attributes).to_contain_text(f'"{SA_PHASE}": "ramping"', timeout=2_000)

        await eventually(open_search_attributes, weight_published, "the search attributes at 1%")
        await shot("search-attributes")
    except BaseException:
        with contextlib.suppress(Exception):
            await page.screenshot(path=artifacts / "failure.png")
            (artifacts / "failure.html").write_text(await page.content())
        raise
    finally:
        await context.close()

    # ... and the simulated AWS holds the same weights on both shifters.
    status = await stack.status()
    assert status.phase is Phase.RAMPING and status.green_weight == 1
    approvals = [e for e in status.events if e.kind == "approve"]
    assert [(e.actor, e.accepted) for e in approvals] == [("alice", True)], approvals
    weights = await stack.edge_weights()
    assert (weights.alb_blue, weights.alb_green) == (99, 1), weights
    assert (weights.route53_blue, weights.route53_green) == (99, 1), weights
    assert (await stack.handle().describe()).status is WorkflowExecutionStatus.RUNNING
