"""Every benchmark suite runs in quick mode and reports figures (no timing is asserted)."""

from __future__ import annotations

import importlib

import pytest

from benchmarks.__main__ import suites


@pytest.mark.parametrize("suite", suites())
def test_benchmark_suite_runs_quick(suite: str) -> None:
    module = importlib.import_module(f"benchmarks.bench_{suite}")
    figures = module.main(quick=True)
    assert figures
    assert all(f.value >= 0 for f in figures)
