"""The docs say only what exists: links resolve, commands and flags are the CLI's, names are the code's.

These tests read README.md and docs/*.md and compare them with the code they describe, so a
renamed flag, a moved file or a new command shows up as a failing test instead of a wrong doc.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from meshshift.migration import constants, contracts
from meshshift.migration.state import Phase
from tests.docs.docs_text import (
    DOCS,
    REPO,
    cli_options,
    code_blocks,
    heading_anchors,
    inline_code,
    links,
    markdown_files,
    meshshift_invocations,
    rel,
    without_code_blocks,
)

DOCS_WE_WROTE = ["architecture.md", "operations.md", "scale.md", "security.md", "migration-guide.md"]


@cache
def commands() -> dict[str, set[str]]:
    return cli_options()


def doc_ids() -> list[str]:
    return [rel(p) for p in markdown_files()]


# --- links ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", doc_ids())
def test_every_relative_link_resolves(doc: str) -> None:
    path = REPO / doc
    broken: list[str] = []
    for target in links(path.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(
                f"{target} (no such file {resolved.relative_to(REPO) if resolved.is_relative_to(REPO) else resolved})"
            )
            continue
        if anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved.read_text()):
            broken.append(f"{target} (no heading with anchor #{anchor} in {rel(resolved)})")
    assert not broken, f"{doc}: broken links: {broken}"


def test_the_index_links_every_document() -> None:
    index = (DOCS / "README.md").read_text()
    linked = {target.partition("#")[0] for target in links(index)}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p.name != "README.md" and p.name not in linked]
    assert not missing, f"docs/README.md does not link {missing}"
    assert "iam-policy.json" in linked


def test_the_documents_this_issue_promised_exist() -> None:
    for name in DOCS_WE_WROTE:
        assert (DOCS / name).is_file(), f"docs/{name} is missing"


# --- repository paths -----------------------------------------------------------------------------

TOP_LEVEL = (
    "package/",
    "migration/",
    "activities/",
    "workflows/",
    "workers/",
    "sim/",
    "tests/",
    "docker/",
    "docs/",
    "bench/",
    "examples/",
)


def _repo_path_candidates(text: str) -> list[str]:
    out = []
    for span in inline_code(text):
        word = span.strip().split()[0] if span.strip() else ""
        if word.startswith(TOP_LEVEL) and " " not in span.strip():
            # `workers/worker.py:GRACEFUL_SHUTDOWN`, `tests/x.py::test` name a file and something in it.
            out.append(re.split(r"::|:(?=[A-Za-z_])", word)[0])
    return out


def _generated(candidate: str) -> bool:
    """A path that a run makes (screenshots, figures) is git-ignored: it need not exist in a clone."""
    done = subprocess.run(
        ["git", "check-ignore", "--quiet", "--no-index", candidate],
        cwd=REPO,
        check=False,
    )
    return done.returncode == 0


def test_only_git_ignored_paths_count_as_generated() -> None:
    assert _generated("tests/.artifacts/browser/")
    assert not _generated("docs/web-ui.md") and not _generated("docs/no-such-file.md")


@pytest.mark.parametrize("doc", doc_ids())
def test_every_repository_path_in_backticks_exists(doc: str) -> None:
    missing = []
    for candidate in _repo_path_candidates((REPO / doc).read_text()):
        if _generated(candidate):
            continue
        if any(ch in candidate for ch in "*?["):
            if not list(REPO.glob(candidate)):
                missing.append(candidate)
        elif not (REPO / candidate).exists():
            missing.append(candidate)
    assert not missing, f"{doc} names paths that do not exist: {missing}"


# --- the meshshift CLI ----------------------------------------------------------------------------


def test_docs_mention_meshshift_commands_at_all() -> None:
    # Guards the parser: if it found nothing, the checks below would pass vacuously.
    assert len(meshshift_invocations()) > 30


def test_every_documented_meshshift_command_exists() -> None:
    known = set(commands())
    wrong = [f"{i.doc}: {i.text.strip()}" for i in meshshift_invocations() if any(c not in known for c in i.commands)]
    assert not wrong, f"commands that `meshshift --help` does not list: {wrong}"


def test_every_documented_flag_exists_on_its_command() -> None:
    wrong = []
    for inv in meshshift_invocations():
        if len(inv.commands) != 1 or inv.commands[0] not in commands():
            continue  # reported by the test above
        allowed = commands()[inv.commands[0]]
        wrong += [f"{inv.doc}: {inv.text.strip()} ({flag})" for flag in inv.flags if flag not in allowed]
    assert not wrong, f"flags the command does not have: {wrong}"


def test_readme_lists_every_command() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [name for name in commands() if f"`{name}`" not in readme]
    assert not missing, f"README.md's command table lacks {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    first_block = code_blocks(readme)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make demo", "make test"]
    before = readme[: readme.index("```")]
    assert before.strip() == "# meshshift", "the two commands come first"


def test_every_make_target_mentioned_exists() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    wrong = []
    for path in markdown_files():
        text = path.read_text()
        spans = inline_code(text) + [line for block in code_blocks(text) for line in block.splitlines()]
        for span in spans:
            for target in re.findall(r"(?:^|\s)make ([a-z][a-z-]*)", span):
                if target not in targets:
                    wrong.append(f"{rel(path)}: make {target}")
    assert not wrong, f"make targets not in the Makefile: {wrong}"


# --- names the code defines -------------------------------------------------------------------------

# The test harnesses read a few variables of their own (browser, chaos), documented with them; the
# simulation reads its own (sim/aws/appmesh.py).
CODE_DIRS = (
    "migration",
    "activities",
    "workflows",
    "workers",
    "sim",
    "docker",
    "tests/browser",
    "tests/reliability",
    "bench",
)


@cache
def code_text() -> str:
    parts = []
    for top in CODE_DIRS:
        for path in sorted((REPO / top).rglob("*")):
            if (
                path.is_file()
                and path.suffix in (".py", ".sh", ".yml", ".yaml", "")
                and "__pycache__" not in path.parts
            ):
                parts.append(path.read_text(errors="replace"))
    parts.append((REPO / "Makefile").read_text())
    parts.append((REPO / ".ci" / "run").read_text())
    return "\n".join(parts)


@pytest.mark.parametrize("doc", doc_ids())
def test_every_meshshift_environment_variable_exists_in_the_code(doc: str) -> None:
    text = (REPO / doc).read_text()
    names = set(re.findall(r"\bMESHSHIFT_[A-Z0-9_]*[A-Z0-9]\b", text))
    unknown = sorted(n for n in names if n not in code_text())
    assert not unknown, f"{doc} mentions environment variables no code reads: {unknown}"


def test_architecture_names_every_activity_and_only_real_ones() -> None:
    text = (DOCS / "architecture.md").read_text()
    names = {definition.name for definition in contracts.ACTIVITIES}
    assert len(names) >= 16
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert not missing, f"docs/architecture.md does not list activities {missing}"
    table = re.search(r"<!-- activities -->(.*?)<!-- /activities -->", text, flags=re.S)
    assert table, "docs/architecture.md: the activity table is marked with <!-- activities --> comments"
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", table.group(1), flags=re.M))
    assert listed == names, f"activity table differs from migration/contracts.py: {sorted(listed ^ names)}"
    models = set(re.findall(r"`([A-Z][A-Za-z]+)`", table.group(1)))
    unknown_models = sorted(m for m in models if not hasattr(contracts, m))
    assert not unknown_models, f"payload models not in migration/contracts.py: {unknown_models}"


def test_every_phase_is_in_the_architecture_and_runbook() -> None:
    for doc in ("architecture.md", "operations.md"):
        text = (DOCS / doc).read_text()
        missing = [p.value for p in Phase if p.value not in text]
        assert not missing, f"docs/{doc} does not mention phases {missing}"


def test_signal_update_and_query_names_match_the_contract() -> None:
    text = (DOCS / "architecture.md").read_text()
    for name, value in vars(constants).items():
        if name.startswith(("SIGNAL_", "UPDATE_", "QUERY_")):
            assert f"`{value}`" in text, f"docs/architecture.md does not name {name} ({value})"


SEARCH_ATTRIBUTE_TYPES = {constants.SA_APP: "Keyword", constants.SA_PHASE: "Keyword", constants.SA_GREEN_WEIGHT: "Int"}


def test_search_attribute_commands_create_one_attribute_each_with_its_type() -> None:
    seen: dict[str, str] = {}
    for path in markdown_files():
        for block in code_blocks(path.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                if "search-attribute create" not in line:
                    continue
                names = re.findall(r"--name[ =](\S+)", line)
                types = re.findall(r"--type[ =](\S+)", line)
                # `--type` takes one value: three --name with three --type would make all three the last type.
                assert len(names) == 1 and len(types) == 1, f"{rel(path)}: one attribute per command: {line.strip()}"
                assert names[0] in SEARCH_ATTRIBUTE_TYPES, f"{rel(path)}: unknown search attribute {names[0]}"
                assert types[0] == SEARCH_ATTRIBUTE_TYPES[names[0]], f"{rel(path)}: {line.strip()}"
                seen[names[0]] = types[0]
    assert seen == SEARCH_ATTRIBUTE_TYPES


def test_no_doc_still_says_the_product_is_not_built() -> None:
    stale = re.compile(r"not built yet|not written yet|is being built in parts", re.I)
    hits = [rel(p) for p in markdown_files() if stale.search(without_code_blocks(p.read_text()))]
    assert not hits, f"stale 'not built yet' text in {hits}"


def test_replay_histories_are_described_as_they_are() -> None:
    """architecture.md names every stored history, or says plainly that there is none."""
    text = (DOCS / "architecture.md").read_text()
    stored = sorted(p.name for p in (REPO / "tests" / "histories").glob("*.json"))
    if stored:
        missing = [name for name in stored if f"tests/histories/{name}" not in text]
        assert not missing, f"docs/architecture.md does not describe stored histories {missing}"
    else:
        assert "no stored histories yet" in text


def test_workflow_patches_are_described_as_they_are() -> None:
    text = " ".join((DOCS / "architecture.md").read_text().split())
    # The workflow is split over several modules (migration.py, base.py, watching.py, ...).
    source = "\n".join(path.read_text() for path in sorted((REPO / "workflows").glob("*.py")))
    # Literal ids, and ids held in PATCH_* constants (workflow.patched(PATCH_...)).
    patched = re.findall(r"workflow\.patched\(\s*[\"']([^\"']+)", source)
    patched += re.findall(r"^PATCH_\w+\s*=\s*[\"']([^\"']+)", source, re.MULTILINE)
    if patched:
        missing = [p for p in patched if p not in text]
        assert not missing, f"docs/architecture.md does not list workflow patches {missing}"
    else:
        assert "no `workflow.patched()` call yet" in text


def test_iam_policy_actions_named_in_security_doc_exist() -> None:
    import json

    policy = json.loads((DOCS / "iam-policy.json").read_text())
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    spans = inline_code((DOCS / "security.md").read_text())
    named = {span for span in spans if re.fullmatch(r"[a-z0-9-]+:[A-Z][A-Za-z]+", span)}
    unknown = sorted(named - actions)
    assert not unknown, f"docs/security.md names IAM actions that docs/iam-policy.json does not grant: {unknown}"


def _doc_path(name: str) -> Path:
    return DOCS / name


def test_the_simulation_page_lists_every_knob_and_flag() -> None:
    """docs/simulation.md's knob table names every SimSettings field and every `meshshift sim` flag."""
    import dataclasses

    from meshshift.sim.aws.settings import PROFILES, SimSettings

    spans = set(inline_code((DOCS / "simulation.md").read_text()))
    words = {word for span in spans for word in span.replace("/", " ").split()}
    fields = [f.name for f in dataclasses.fields(SimSettings) if f.name != "clock"]
    missing = [f"`{name}`" for name in fields if name not in spans and name not in words]
    missing += [flag for flag in commands()["sim"] if flag not in words and flag != "--help"]
    missing += [f"`{name}`" for name in PROFILES if name not in spans]
    assert not missing, f"docs/simulation.md does not document {missing}"
