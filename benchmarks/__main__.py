"""Run every benchmark suite: ``python -m benchmarks [--quick] [SUITE ...]``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import benchmarks


def suites() -> list[str]:
    """Names of the ``bench_*`` modules, sorted."""
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="small workloads (smoke test)")
    parser.add_argument("suite", nargs="*", choices=[[], *suites()], help="suites to run")
    args = parser.parse_args(argv)
    for name in args.suite or suites():
        importlib.import_module(f"benchmarks.bench_{name}").main(quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
