"""``python -m benchmarks [SUITE|FILE ...] [--quick] ...``: the same as ``trio-orch bench``.

The harness and the suites moved into the package (:mod:`trio_orch.bench`), so that
``trio-orch bench`` works from an install; this shim keeps the old command working in a
checkout.
"""

from __future__ import annotations

import sys

from trio_orch.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
