"""Every suite of ``trio_orch.bench.suites`` runs in quick mode and reports figures.

Each suite's marked functions run once with ``quick=True`` in this process (what the
harness's warm-up does), so that coverage sees them; no timing is asserted.  The harness
itself (processes, repetitions, JSON, --compare) is tested in tests/test_bench_harness.py.
"""

from __future__ import annotations

import importlib
import math
import subprocess
import sys

import pytest

from tests._subprocess import ROOT
from trio_orch.bench import Figure, Skipped
from trio_orch.bench._api import is_async, marked
from trio_orch.bench._runner import builtin_suites


@pytest.mark.parametrize("suite", builtin_suites())
def test_benchmark_suite_runs_quick(suite: str) -> None:
    module = importlib.import_module(f"trio_orch.bench.suites.{suite}")
    specs = marked(vars(module))
    assert specs, f"{suite} marks no function"
    for spec in specs:
        assert not is_async(spec.fn)
        items = list(spec.fn(True))
        figures = [item for item in items if isinstance(item, Figure)]
        assert figures or items, f"{suite}: {spec.name} returned nothing"
        assert all(isinstance(item, Figure | Skipped) for item in items)
        assert all(math.isfinite(f.value) for f in figures), figures
        names = [(f.name, f.baseline) for f in figures]
        assert len(names) == len(set(names)), f"{suite}: a row is repeated"


#: The peers each suite compares against (the suites that have any).
PEERS = {
    "events": ["pyee", "blinker"],
    "limiter": ["aiometer"],
    "retry": ["tenacity", "stamina"],
    "monitor": ["hdrh"],
}


@pytest.mark.parametrize("suite", sorted(PEERS))
def test_a_suite_without_its_peers_skips_their_rows(
    suite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for peer in PEERS[suite]:
        for name in [m for m in sys.modules if m == peer or m.startswith(f"{peer}.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, peer, None)  # import peer -> ModuleNotFoundError
    module = importlib.import_module(f"trio_orch.bench.suites.{suite}")
    [spec] = marked(vars(module))
    items = list(spec.fn(True))
    skipped = [item for item in items if isinstance(item, Skipped)]
    assert {s.reason.partition(".")[0].split()[0] for s in skipped} == set(PEERS[suite])
    assert all(s.reason.endswith(" is not installed") for s in skipped)
    assert all(s.hint and s.hint.startswith("pip install ") for s in skipped)
    figures = [item for item in items if isinstance(item, Figure)]
    assert figures
    assert not any(peer in (f.baseline or "").lower() for f in figures for peer in PEERS[suite])


def test_python_m_benchmarks_is_trio_orch_bench() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()] == builtin_suites()
