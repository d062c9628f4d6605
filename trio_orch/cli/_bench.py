"""``trio-orch bench``: run the benchmark suites of a trio_orch checkout."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse


def add_parser(commands: Any) -> None:
    """Add the ``bench`` sub-command to ``commands`` (an argparse sub-parsers action)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "bench", help="run the benchmark harness and print ratios against raw Trio and peers"
    )
    parser.add_argument("--quick", action="store_true", help="small workloads (smoke test)")
    parser.add_argument("suite", nargs="*", help="suites to run (default: all)")
    parser.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """Import ``benchmarks`` from the current checkout and run the chosen suites."""
    sys.path.insert(0, str(Path.cwd()))
    try:
        runner = importlib.import_module("benchmarks.__main__")
    except ImportError:
        print(
            "trio-orch bench: no benchmarks/ package here; run it from a trio_orch checkout",
            file=sys.stderr,
        )
        return 2
    argv = ["--quick"] if args.quick else []
    status: int = runner.main([*argv, *args.suite])
    return status
