"""Running suites, each in a fresh process: what ``trio-orch bench`` does between its output.

:func:`resolve` turns the command's words into :class:`SuiteRef` (a suite of ours by name,
or a user's ``.py`` file by path); :func:`run_suite` runs one in a fresh interpreter
(``python -m trio_orch.bench._worker``) and reads back its :class:`SuiteResult`;
:func:`run_suites` runs several in turn and returns the :class:`BenchResults` with the
environment.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from trio_orch.bench._results import BenchResults, Environment, SuiteResult, suite_from_json

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: Measured repetitions after the warm-up: ``--repeat``'s defaults.
DEFAULT_REPEAT: Final = 3
QUICK_REPEAT: Final = 3
#: The longest a suite's process may run before it is killed and reported failed.
DEFAULT_TIMEOUT: Final = 1800.0
QUICK_TIMEOUT: Final = 300.0
#: How much of a failed process's stderr a result keeps.
STDERR_TAIL: Final = 2000


@attrs.frozen
class SuiteRef:
    """A suite to run: ``kind`` ``"suite"`` (ours, ``ref`` is its name) or ``"file"``."""

    name: str
    kind: str
    ref: str


def builtin_suites() -> list[str]:
    """The names of our suites (the modules of :mod:`trio_orch.bench.suites`), sorted."""
    from trio_orch.bench import suites

    return sorted(m.name for m in pkgutil.iter_modules(suites.__path__) if m.name[0] != "_")


def describe(name: str) -> str:
    """The first line of our suite ``name``'s docstring, read without importing it."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(f"trio_orch.bench.suites.{name}")
    if spec is None or spec.origin is None:
        return ""
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def resolve(words: Sequence[str]) -> list[SuiteRef]:
    """The suites that ``words`` name; every suite of ours when ``words`` is empty.

    A word that ends in ``.py`` or names an existing file is a user's file; any other must
    be the name of one of our suites.

    Raises:
        ValueError: a word names neither an existing file nor a suite (the message lists
            the suites).
    """
    known = builtin_suites()
    if not words:
        return [SuiteRef(name, "suite", name) for name in known]
    refs = []
    for word in words:
        path = Path(word)
        if word.endswith(".py") or path.is_file():
            if not path.is_file():
                msg = f"no such file: {word}"
                raise ValueError(msg)
            refs.append(SuiteRef(path.stem, "file", str(path.resolve())))
        elif word in known:
            refs.append(SuiteRef(word, "suite", word))
        else:
            msg = f"unknown suite {word!r} (suites: {', '.join(known)}; or a path to a .py file)"
            raise ValueError(msg)
    return refs


def _tail(text: str) -> str:
    return text if len(text) <= STDERR_TAIL else "..." + text[-STDERR_TAIL:]


def run_suite(
    suite: SuiteRef, *, quick: bool = False, repeat: int | None = None, timeout: float | None = None
) -> SuiteResult:
    """Run ``suite`` in a fresh interpreter and return its result.

    The process inherits the environment and the working directory; what it prints is
    captured (and a failed one's stderr is kept in the result's ``errors``).

    Args:
        suite: what to run.
        quick: smaller workloads.
        repeat: measured repetitions (default 3).
        timeout: seconds before the process is killed (default 1800, or 300 with ``quick``).
    """
    if repeat is None:
        repeat = QUICK_REPEAT if quick else DEFAULT_REPEAT
    if timeout is None:
        timeout = QUICK_TIMEOUT if quick else DEFAULT_TIMEOUT
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trio-orch-bench-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "trio_orch.bench._worker", "--out", str(out)]
        argv += ["--repeat", str(repeat), "--name", suite.name]
        argv += ["--quick"] if quick else []
        argv += [suite.kind, suite.ref]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except subprocess.TimeoutExpired:
            error = f"{suite.name}: killed after {timeout:g} s (timeout)"
            return SuiteResult(suite.name, suite.ref, "failed", errors=(error,), repeat=repeat)
        if done.returncode == 0 and out.exists():
            try:
                result = suite_from_json(out.read_text(encoding="utf-8"))
            except ValueError as exc:
                error = f"{suite.name}: {exc}"
            else:
                return attrs.evolve(result, seconds=time.perf_counter() - start)
        else:
            error = f"{suite.name}: its process exited with status {done.returncode}"
        stderr = _tail(done.stderr.strip())
        errors = (f"{error}\n{stderr}" if stderr else error,)
        seconds = time.perf_counter() - start
        return SuiteResult(
            suite.name, suite.ref, "failed", errors=errors, seconds=seconds, repeat=repeat
        )


def run_suites(
    suites: Sequence[SuiteRef],
    *,
    quick: bool = False,
    repeat: int | None = None,
    command: str = "",
    on_start: Callable[[SuiteRef], object] | None = None,
    on_done: Callable[[SuiteResult], object] | None = None,
) -> BenchResults:
    """Run ``suites`` one after the other, each in its own process.

    ``on_start`` and ``on_done`` are called around each suite (for progress and output).
    The environment is recorded after the runs, so that its load average covers them.
    """
    if repeat is None:
        repeat = QUICK_REPEAT if quick else DEFAULT_REPEAT
    results = []
    for suite in suites:
        if on_start is not None:
            on_start(suite)
        result = run_suite(suite, quick=quick, repeat=repeat)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return BenchResults(
        command=command,
        quick=quick,
        repeat=repeat,
        environment=Environment.current(),
        suites=tuple(results),
    )
