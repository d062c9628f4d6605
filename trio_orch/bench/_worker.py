"""The process of one suite: ``python -m trio_orch.bench._worker --out FILE SUITE|FILE``.

``trio-orch bench`` starts one per suite, so that each suite runs in a fresh interpreter
(no state, caches or imports left over from another suite).  It loads the suite (one of
:mod:`trio_orch.bench.suites` by name, or a user's file by path), measures it with
:func:`trio_orch.bench._measure.run_namespace`, and writes the :class:`SuiteResult` as JSON
to ``FILE``.  Whatever the benchmarks print goes to this process's stdout and stderr.
Logging is left as Python's defaults: the figures are what a user gets.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from trio_orch._exceptions import BenchmarkSkipped
from trio_orch.bench._api import install_hint
from trio_orch.bench._measure import _error, run_namespace
from trio_orch.bench._results import Skipped, SuiteResult, suite_to_json

if TYPE_CHECKING:
    from types import ModuleType

SUITES_PACKAGE = "trio_orch.bench.suites"


def load_file(path: Path) -> ModuleType:
    """Import the Python file at ``path`` as a module (its directory first on ``sys.path``).

    Raises:
        ImportError: it cannot be loaded; anything its top level raises.
    """
    path = path.resolve()
    name = f"trio_orch_bench_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        msg = f"cannot load {path} as a Python module"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    sys.modules[name] = module  # attrs, dataclasses and pickle look classes up here
    spec.loader.exec_module(module)
    return module


def load(kind: str, ref: str) -> ModuleType:
    """The suite module: ``kind`` ``"suite"`` (a name) or ``"file"`` (a path)."""
    if kind == "suite":
        return importlib.import_module(f"{SUITES_PACKAGE}.{ref}")
    return load_file(Path(ref))


def measure(
    kind: str, ref: str, *, name: str, quick: bool, repeat: int, only: list[str] | None = None
) -> SuiteResult:
    """Load and measure one suite; a peer missing at import skips it, an error fails it."""
    start = time.perf_counter()
    try:
        module = load(kind, ref)
    except BenchmarkSkipped as exc:
        skipped = (Skipped(name, exc.reason, exc.hint),)
        return SuiteResult(name, ref, "skipped", skipped=skipped, repeat=repeat)
    except ModuleNotFoundError as exc:
        missing = exc.name or str(exc)
        if kind == "suite" and missing == f"{SUITES_PACKAGE}.{ref}":
            error = f"no suite named {ref!r}"
            return SuiteResult(name, ref, "failed", errors=(error,), repeat=repeat)
        why = Skipped(name, f"{missing} is not installed", install_hint(missing))
        return SuiteResult(name, ref, "skipped", skipped=(why,), repeat=repeat)
    except Exception as exc:
        error = _error(f"loading {ref}", exc)
        return SuiteResult(
            name, ref, "failed", errors=(error,), seconds=time.perf_counter() - start
        )
    return run_namespace(
        vars(module), name=name, source=ref, quick=quick, repeat=repeat, only=only or ()
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, measure the suite, write its JSON; the exit status is 0."""
    parser = argparse.ArgumentParser(prog="python -m trio_orch.bench._worker")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--name", required=True)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("kind", choices=["suite", "file"])
    parser.add_argument("ref")
    args = parser.parse_args(argv)
    result = measure(
        args.kind, args.ref, name=args.name, quick=args.quick, repeat=args.repeat, only=args.only
    )
    args.out.write_text(suite_to_json(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
