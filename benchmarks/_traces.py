"""Moved to :mod:`trio_orch.bench.suites._traces`; ``python -m benchmarks._traces`` still works."""

from __future__ import annotations

import runpy

if __name__ == "__main__":
    runpy.run_module("trio_orch.bench.suites._traces", run_name="__main__")
else:
    from trio_orch.bench.suites._traces import *  # noqa: F403 - the old import path
