"""The docs' examples run: every complete Python block, and every example file they name."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
COMPONENT_PAGES = [p for p in DOCS if p.name not in {"README.md", "index.md", "logging.md"}]


def _is_program(block: str) -> bool:
    """A block that starts with its imports and compiles as a module (no top-level await)."""
    if not block.lstrip().startswith(("import ", "from ")):
        return False
    try:
        compile(block, "<docs>", "exec")
    except SyntaxError:
        return False
    return True


PROGRAMS = [
    pytest.param(block, id=f"{page.name}:{number}")
    for page in DOCS
    for number, block in enumerate(BLOCK.findall(page.read_text()), start=1)
    if _is_program(block)
]


@pytest.mark.parametrize("block", PROGRAMS)
def test_docs_program_runs(block: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", block],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("page", COMPONENT_PAGES, ids=[p.name for p in COMPONENT_PAGES])
def test_component_page_has_a_runnable_example(page: Path) -> None:
    text = page.read_text()
    named = re.findall(r"examples/[\w/]+\.(?:py|toml)", text)
    assert all((ROOT / name).exists() for name in named), named
    assert named or any(_is_program(b) for b in BLOCK.findall(text)), page.name
