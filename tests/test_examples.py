"""Every script in examples/ runs to completion and exits 0."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests._subprocess import ROOT, run_python

if TYPE_CHECKING:
    from pathlib import Path

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path) -> None:
    done = run_python(str(script))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip(), f"{script.name} printed nothing"
