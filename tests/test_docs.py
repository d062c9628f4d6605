"""The docs can be pasted: each component page opens with a complete program, and it runs.

Every Python block that is a complete program (imports first, compiles as a module, so no
top-level ``await``) runs in a fresh interpreter and must exit 0; every component page's
*first* block must be one (an ``async`` program also calls ``trio.run``), and the example
files a page names must exist.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests._subprocess import ROOT, run_python

if TYPE_CHECKING:
    from pathlib import Path

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
#: Pages about one component (or one concern, like logging): all but the indexes.
COMPONENT_PAGES = [p for p in DOCS if p.name not in {"README.md", "index.md"}]
#: Pages about the command line open with a command, not a Python program.
COMMAND_LINE_PAGES = {"cli.md"}
PROGRAM_PAGES = [p for p in COMPONENT_PAGES if p.name not in COMMAND_LINE_PAGES]


def _is_program(block: str) -> bool:
    """A block that starts with its imports and compiles as a module (no top-level await)."""
    if not block.lstrip().startswith(("import ", "from ")):
        return False
    try:
        compile(block, "<docs>", "exec")
    except SyntaxError:
        return False
    return True


def _is_complete_program(block: str) -> bool:
    """A program that does something when pasted: an async one ends in ``trio.run``."""
    uses_async = re.search(r"\basync\b|\bawait\b", block) is not None
    return _is_program(block) and (not uses_async or "trio.run(" in block)


PROGRAMS = [
    pytest.param(block, id=f"{page.name}:{number}")
    for page in DOCS
    for number, block in enumerate(BLOCK.findall(page.read_text()), start=1)
    if _is_program(block)
]


@pytest.mark.parametrize("block", PROGRAMS)
def test_docs_program_runs(block: str) -> None:
    done = run_python("-c", block)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("page", PROGRAM_PAGES, ids=[p.name for p in PROGRAM_PAGES])
def test_component_page_opens_with_a_complete_program(page: Path) -> None:
    blocks = BLOCK.findall(page.read_text())
    assert blocks, f"{page.name} has no python block"
    first = blocks[0]
    assert _is_complete_program(first), (
        f"the first python block of {page.name} is not a complete program "
        "(imports first, no top-level await, trio.run(main) for async code):\n" + first
    )


@pytest.mark.parametrize("page", COMPONENT_PAGES, ids=[p.name for p in COMPONENT_PAGES])
def test_component_page_names_existing_examples(page: Path) -> None:
    named = re.findall(r"examples/[\w/]+\.(?:py|toml)", page.read_text())
    assert all((ROOT / name).exists() for name in named), named


@pytest.mark.parametrize(
    ("block", "complete"),
    [
        (
            "import trio\n\nasync def main() -> None:\n    await trio.sleep(0)\n\n\ntrio.run(main)\n",
            True,
        ),
        ("from x import y\n\nprint(y)\n", True),
        ("from x import y\n\nawait y()\n", False),  # top-level await: SyntaxError
        ("import trio\n\nasync def main() -> None: ...\n", False),  # never runs main
        ("x = 1\nimport trio\n", False),  # imports do not come first
    ],
)
def test_what_counts_as_a_complete_program(block: str, complete: bool) -> None:
    assert _is_complete_program(block) is complete
