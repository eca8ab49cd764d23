"""Reading the Markdown docs the way the tests in this package check them.

Only what a reader would copy is checked: fenced code blocks and inline code spans. Prose may
mention "meshshift" freely; a command in backticks must be one that exists.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def markdown_files() -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def code_blocks(text: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(text)]


def without_code_blocks(text: str) -> str:
    return FENCE.sub("", text)


def inline_code(text: str) -> list[str]:
    return INLINE.findall(without_code_blocks(text))


def links(text: str) -> list[str]:
    # Inline code may hold regexes like `[a-z](...)` that only look like links.
    return LINK.findall(INLINE.sub("", without_code_blocks(text)))


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors: lowercase, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for line in without_code_blocks(text).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        title = re.sub(r"`([^`]*)`", r"\1", m.group(1))
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
        slug = "".join(ch for ch in title.lower() if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N")).replace(
            " ", "-"
        )
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


@dataclass(frozen=True)
class Invocation:
    """One ``meshshift <command> ...`` written in a doc (``validate|plan|start`` names three)."""

    doc: str
    command: str
    flags: tuple[str, ...]
    text: str

    @property
    def commands(self) -> list[str]:
        return self.command.split("|") if self.command else []


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split()


def _invocation(doc: str, line: str) -> Invocation | None:
    words = _split(line.strip().removeprefix("$ "))
    # Leading VAR=value assignments and a venv path are part of how a command is typed.
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words = words[1:]
    if not words or words[0].rsplit("/", 1)[-1] != "meshshift" or len(words) < 2:
        return None
    command = words[1]
    if command.startswith("<"):  # `meshshift <command> --help`: a placeholder, not a command
        return None
    if command.startswith("-"):
        return Invocation(doc, "", tuple(w.split("=", 1)[0] for w in words[1:] if w.startswith("--")), line)
    flags = tuple(w.split("=", 1)[0] for w in words[2:] if w.startswith("-") and w != "-")
    return Invocation(doc, command, flags, line)


def meshshift_invocations() -> list[Invocation]:
    """Every meshshift command line in a code block, or an inline code span that starts with one."""
    found: list[Invocation] = []
    for path in markdown_files():
        text = path.read_text()
        lines: list[str] = []
        for block in code_blocks(text):
            lines += block.replace("\\\n", " ").splitlines()
        lines += inline_code(text)
        for line in lines:
            inv = _invocation(rel(path), line)
            if inv is not None:
                found.append(inv)
    return found


def cli_options() -> dict[str, set[str]]:
    """``meshshift`` command -> its option flags (``--help`` included), read from the Typer app."""
    import typer

    from meshshift.workers.cli import app

    # Typer vendors its own click, so the objects are duck-typed here rather than isinstance-checked.
    group = typer.main.get_command(app)
    commands: dict[str, object] = group.commands  # type: ignore[attr-defined]
    out: dict[str, set[str]] = {}
    for name, command in commands.items():
        opts = {"--help"}
        # A group (`snapshot appmesh`) documents its subcommands' flags after the group's name.
        subcommands = list(getattr(command, "commands", {}).values())
        for each in [command, *subcommands]:
            for param in each.params:  # type: ignore[attr-defined]
                if param.param_type_name == "option":
                    opts.update(param.opts)
                    opts.update(param.secondary_opts)
        out[name] = opts
    return out
