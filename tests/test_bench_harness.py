"""The benchmark harness: ``trio-orch bench`` from an install, user files, JSON, --compare.

The end-to-end tests run the installed console script with the working directory in a
temporary directory (outside the checkout, where no ``benchmarks/`` package exists), and
check the shape of what it writes, never its speed.  The rest test the pieces in process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from trio_orch import BenchmarkSkipped
from trio_orch.bench import (
    Baseline,
    BenchResults,
    Figure,
    Skipped,
    _format,
    _worker,
    benchmark,
    exponent,
    marginal_exponent,
    measures,
    render,
    require,
    run_here,
    scaling,
)
from trio_orch.bench._api import higher_is_better_for, install_hint, marked
from trio_orch.bench._compare import compare, regressions, verdict
from trio_orch.bench._results import Spread, SuiteResult, aggregate, suite_from_json
from trio_orch.bench._runner import SuiteRef, builtin_suites, describe, resolve, run_suite
from trio_orch.bench._targets import target_met
from trio_orch.cli import main as cli_main

CONSOLE_SCRIPT = Path(sys.executable).with_name("trio-orch")
_COLOR_VARS = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")

USER_FILE = '''\
"""A user's benchmarks: a nursery against a loop."""

import trio

from trio_orch.bench import Baseline, Figure, benchmark, measures, require


async def loop(n):
    for _ in range(n):
        await trio.lowlevel.checkpoint()


def with_a_missing_peer(n):
    require("no_such_peer_library")


@benchmark(
    n=200,
    quick_n=100,
    unit="tasks/s",
    baseline=[Baseline(loop, name="a loop of checkpoints"), with_a_missing_peer],
    target=">= 0.01x",
)
async def nursery(n):
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(trio.lowlevel.checkpoint)


@benchmark
def summing():
    sum(range(1000))


@measures
def custom(quick):
    return [Figure("a figure of its own", 2.0, "x", target="<= 5")]
'''


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _COLOR_VARS}
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


def _bench(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "bench", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _check_results_shape(data: dict[str, Any]) -> None:
    assert data["schema"] == 1
    assert data["command"].startswith("trio-orch bench ")
    assert isinstance(data["quick"], bool)
    assert isinstance(data["repeat"], int)
    env = data["environment"]
    assert env["cpu_count"] == os.cpu_count()
    assert len(env["load_average"]) == 3
    assert env["python"].count(".") == 2
    assert env["packages"]["trio"] == trio.__version__
    assert "trio-orch" in env["packages"]
    for suite in data["suites"]:
        assert set(suite) >= {"name", "source", "status", "figures", "skipped", "errors"}
        for figure in suite["figures"]:
            spread = figure["spread"]
            assert spread["min"] <= spread["median"] <= spread["max"]
            assert figure["value"] == spread["median"]
            assert len(figure["samples"]) == spread["count"] == data["repeat"]
            assert isinstance(figure["unit"], str)


# ---- end to end, from the console script, outside the checkout ------------------------------


@pytest.fixture(scope="module")
def retry_without_peers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``trio-orch bench retry --quick`` with tenacity and stamina made not importable."""
    tmp = tmp_path_factory.mktemp("bench-retry")
    shadows = tmp / "shadows"
    for peer in ("tenacity", "stamina"):
        (shadows / peer).mkdir(parents=True)
        (shadows / peer / "__init__.py").write_text(
            f"raise ModuleNotFoundError({f'No module named {peer!r}'!r}, name={peer!r})\n"
        )
    done = _bench(
        "retry", "--quick", "--repeat", "2", "--json", "out.json", cwd=tmp, PYTHONPATH=str(shadows)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp / "benchmarks").exists()
    return {"stdout": done.stdout, "data": json.loads((tmp / "out.json").read_text())}


def test_a_suite_of_ours_runs_quick_from_outside_the_checkout(
    retry_without_peers: dict[str, Any],
) -> None:
    data = retry_without_peers["data"]
    _check_results_shape(data)
    assert data["command"] == "trio-orch bench retry --quick --repeat 2 --json out.json"
    assert data["quick"] is True
    assert data["repeat"] == 2
    [suite] = data["suites"]
    assert suite["name"] == "retry"
    assert suite["status"] == "ok"
    rows = {(f["name"], f["baseline"]): f for f in suite["figures"]}
    ours = rows["retry(fetch, x, policy=...)", "hand-rolled loop + checkpoint"]
    assert ours["unit"] == "µs/call"
    assert ours["target"] == "<= 2x"
    assert ours["ratio"] > 0
    assert ours["met"] in (True, False)
    assert "retry: retry() around a call" in retry_without_peers["stdout"]


def test_a_missing_peer_is_skipped_with_its_install_hint(
    retry_without_peers: dict[str, Any],
) -> None:
    [suite] = retry_without_peers["data"]["suites"]
    skipped = {s["name"]: s for s in suite["skipped"]}
    assert set(skipped) == {
        "retry() vs tenacity @retry(sleep=trio.sleep)",
        "retry() vs stamina @retry(on=TimeoutError)",
    }
    for item in skipped.values():
        assert item["hint"] == "pip install 'trio-orch[bench]'"
    assert skipped["retry() vs stamina @retry(on=TimeoutError)"]["reason"] == (
        "stamina is not installed"
    )
    assert not any("tenacity" in (f["baseline"] or "") for f in suite["figures"])
    out = retry_without_peers["stdout"]
    assert "skipped retry() vs tenacity @retry(sleep=trio.sleep): tenacity is not installed" in out


@pytest.fixture(scope="module")
def user_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("bench-user")
    (tmp / "my_bench.py").write_text(USER_FILE)
    done = _bench("my_bench.py", "--quick", "--repeat", "3", "--json", "out.json", cwd=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"dir": tmp, "stdout": done.stdout, "data": json.loads((tmp / "out.json").read_text())}


def test_a_user_file_runs_with_its_baselines(user_run: dict[str, Any]) -> None:
    data = user_run["data"]
    _check_results_shape(data)
    [suite] = data["suites"]
    assert suite["name"] == "my_bench"
    assert suite["source"] == str(user_run["dir"] / "my_bench.py")
    assert suite["title"] == "A user's benchmarks: a nursery against a loop."
    assert suite["status"] == "ok"
    nursery, summing, custom = suite["figures"]
    assert nursery["name"] == "nursery"
    assert nursery["unit"] == "tasks/s"
    assert nursery["baseline"] == "a loop of checkpoints"
    assert nursery["baseline_value"] > 0
    assert nursery["ratio"] > 0  # the median of each repetition's ratio
    assert nursery["met"] is True
    assert nursery["higher_is_better"] is True
    assert summing["name"] == "summing"
    assert summing["unit"] == "s"
    assert summing["baseline"] is None
    assert summing["higher_is_better"] is False
    assert custom["name"] == "a figure of its own"
    assert custom["value"] == 2.0
    assert custom["met"] is True
    [skipped] = suite["skipped"]
    assert skipped == {
        "name": "nursery vs with_a_missing_peer",
        "reason": "no_such_peer_library is not installed",
        "hint": "pip install no_such_peer_library",
    }
    assert "a loop of checkpoints" in user_run["stdout"]


def _doctored(data: dict[str, Any], factor: float) -> dict[str, Any]:
    """Every figure of ``data`` made ``factor`` times better than it was."""
    doctored = json.loads(json.dumps(data))
    for suite in doctored["suites"]:
        for figure in suite["figures"]:
            scale = factor if figure["higher_is_better"] is not False else 1 / factor
            for key in ("min", "median", "max"):
                figure["spread"][key] *= scale
            figure["value"] *= scale
    return doctored


def test_compare_flags_a_doctored_regression(
    user_run: dict[str, Any], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = user_run["dir"]
    (tmp / "better.json").write_text(json.dumps(_doctored(user_run["data"], 1000.0)))
    monkeypatch.chdir(tmp)
    for name in _COLOR_VARS:
        monkeypatch.delenv(name, raising=False)
    status = cli_main(
        ["bench", "my_bench.py", "--quick", "--repeat", "2", "--compare", "better.json"]
    )
    out = capfd.readouterr().out
    assert status == 1, out
    assert "regression" in out
    assert "before" in out
    # the same run compared with itself (no change beyond the spread) passes
    (tmp / "same.json").write_text(json.dumps(_doctored(user_run["data"], 1.0)))
    earlier = BenchResults.load(tmp / "same.json")
    assert regressions(earlier, earlier) == []


# ---- the CLI's usage errors and listing -----------------------------------------------------


def test_list_shows_every_suite_with_its_title(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "--list"]) == 0
    out = capfd.readouterr().out
    for name in builtin_suites():
        assert name in out
    assert describe("retry") in out
    assert describe("nope") == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope"], "trio-orch bench: unknown suite 'nope' (suites: "),
        (["missing.py"], "trio-orch bench: no such file: missing.py"),
        (["retry", "--compare", "missing.json"], "trio-orch bench: --compare missing.json: "),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str],
    message: str,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["bench", *argv]) == 2
    assert capfd.readouterr().err.startswith(message)


def test_repeat_must_be_a_positive_integer(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli_main(["bench", "--repeat", "0"])
    assert raised.value.code == 2
    assert "--repeat: must be an integer >= 1, got '0'" in capfd.readouterr().err


def test_resolve_names_files_and_suites(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text("")
    assert resolve([str(path), "retry"]) == [
        SuiteRef("mine", "file", str(path)),
        SuiteRef("retry", "suite", "retry"),
    ]
    assert [r.name for r in resolve([])] == builtin_suites()
    assert "scaling" in builtin_suites()
    assert "_traces" not in builtin_suites()


# ---- a suite's process ------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "b.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_file_missing_a_module_at_import_is_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, "import no_such_module_here\n")
    result = _worker.measure("file", str(path), name="b", quick=True, repeat=1)
    assert result.status == "skipped"
    assert result.skipped == (
        Skipped("b", "no_such_module_here is not installed", "pip install no_such_module_here"),
    )


def test_a_file_that_requires_a_missing_peer_is_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, "from trio_orch.bench import require\nrequire('pyee_x', hint='h')\n")
    result = _worker.measure("file", str(path), name="b", quick=True, repeat=1)
    assert result.status == "skipped"
    assert result.skipped == (Skipped("b", "pyee_x is not installed", "h"),)


def test_a_file_that_raises_at_import_fails(tmp_path: Path) -> None:
    path = _write(tmp_path, "raise RuntimeError('boom')\n")
    result = _worker.measure("file", str(path), name="b", quick=True, repeat=1)
    assert result.status == "failed"
    assert result.errors[0].startswith(f"loading {path}: RuntimeError: boom")


def test_an_unknown_suite_fails_in_its_process() -> None:
    result = _worker.measure("suite", "nope", name="nope", quick=True, repeat=1)
    assert (result.status, result.errors) == ("failed", ("no suite named 'nope'",))


def test_the_worker_writes_its_result(tmp_path: Path) -> None:
    path = _write(tmp_path, USER_FILE)
    out = tmp_path / "out.json"
    argv = ["--out", str(out), "--quick", "--repeat", "1", "--name", "u", "file", str(path)]
    assert _worker.main(argv) == 0
    result = suite_from_json(out.read_text())
    assert result.name == "u"
    assert [f.name for f in result.figures] == ["nursery", "summing", "a figure of its own"]


def test_a_process_that_dies_is_reported_failed(tmp_path: Path) -> None:
    path = _write(tmp_path, "import os, sys\nprint('dying', file=sys.stderr)\nos._exit(3)\n")
    result = run_suite(SuiteRef("b", "file", str(path)), quick=True, repeat=1)
    assert result.status == "failed"
    assert result.errors == ("b: its process exited with status 3\ndying",)


def test_a_process_that_hangs_is_killed(tmp_path: Path) -> None:
    path = _write(tmp_path, "import time\ntime.sleep(60)\n")
    result = run_suite(SuiteRef("b", "file", str(path)), timeout=0.5)
    assert result.status == "failed"
    assert result.errors == ("b: killed after 0.5 s (timeout)",)
    assert result.repeat == 3


# ---- measuring in process: run_here ---------------------------------------------------------


def _namespace(**functions: object) -> dict[str, object]:
    return {"__name__": "ns", "__doc__": "Title line.\n\nMore.", **functions}


def test_run_here_times_sync_and_async_benchmarks_against_baselines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[tuple[str, int]] = []

    async def base(n: int) -> None:
        calls.append(("base", n))
        await trio.lowlevel.checkpoint()

    @benchmark(n=50, baseline=Baseline(base, name="the base", target=">= 0x"))
    def ours(n: int) -> None:
        calls.append(("ours", n))

    result = run_here(_namespace(ours=ours), quick=True, repeat=2)
    assert calls == [("ours", 5), ("base", 5)] * 3  # the warm-up, then 2 repetitions
    assert result.title == "Title line."
    [row] = result.figures
    assert (row.name, row.unit, row.baseline, row.target, row.met) == (
        "ours",
        "ops/s",
        "the base",
        ">= 0x",
        True,
    )
    assert row.spread.count == 2
    assert "the base" in capsys.readouterr().out


def test_run_here_reports_what_cannot_run_and_what_fails() -> None:
    def missing() -> None:
        require("no_such_peer_at_all")

    def broken() -> None:
        raise ValueError("bad baseline")

    @benchmark(baseline=[missing, broken])
    def fine() -> None:
        pass

    @benchmark
    def skipped() -> None:
        raise BenchmarkSkipped("no database here", hint="start PostgreSQL")

    @benchmark
    async def failing() -> None:
        raise KeyError("nope")

    result = run_here(_namespace(a=fine, b=skipped, c=failing), repeat=1, show=False)
    assert result.status == "failed"
    assert [f.name for f in result.figures] == ["fine"]
    assert result.figures[0].baseline is None
    assert result.skipped == (
        Skipped(
            "fine vs missing",
            "no_such_peer_at_all is not installed",
            "pip install no_such_peer_at_all",
        ),
        Skipped("skipped", "no database here", "start PostgreSQL"),
    )
    assert result.errors[0].startswith("fine vs broken: ValueError: bad baseline")
    assert result.errors[1].startswith("failing: KeyError: 'nope'")


def test_a_benchmark_that_fails_later_keeps_its_repetitions() -> None:
    count = 0

    @benchmark
    def flaky() -> None:
        nonlocal count
        count += 1
        if count == 3:
            raise OSError("third time")

    result = run_here(_namespace(f=flaky), repeat=5, show=False)
    assert [f.spread.count for f in result.figures] == [1]
    assert result.errors[0].startswith("flaky: OSError: third time")


def test_measures_functions_repeat_and_report_skips() -> None:
    runs: list[bool] = []

    @measures
    async def figures(quick: bool) -> list[Figure | Skipped]:
        runs.append(quick)
        await trio.lowlevel.checkpoint()
        value = float(len(runs))
        return [
            Figure("a", value, "ms", "b", ratio=value / 2, target="<= 10 and <= 2x"),
            Figure("a", 1.0, "ms"),
            Figure("a", 2.0, "ms"),
            Skipped("peer row", "peer is not installed", "pip install peer"),
        ]

    @measures(name="never", warmup=False)
    def unavailable(quick: bool) -> list[Figure]:
        raise ModuleNotFoundError("No module named 'zzz'", name="zzz")

    @measures
    def wrong(quick: bool) -> list[object]:
        return ["not a figure"]

    ns = _namespace(f=figures, g=unavailable, h=wrong)
    result = run_here(ns, quick=False, repeat=3, show=False)
    assert runs == [True, False, False, False]
    first, second, third = result.figures
    assert (first.name, first.samples, first.ratio, first.met) == ("a", (2.0, 3.0, 4.0), 1.5, True)
    assert first.baseline_value == 2.0
    assert (second.name, second.key, third.name) == ("a", "a", "a #2")
    assert result.skipped == (
        Skipped("peer row", "peer is not installed", "pip install peer"),
        Skipped("never", "zzz is not installed", "pip install zzz"),
    )
    assert result.errors[0].startswith("wrong: TypeError: wrong must return Figure or Skipped")


def test_a_namespace_without_benchmarks_fails() -> None:
    result = run_here({"__name__": "empty"}, show=False)
    assert result.status == "failed"
    assert result.errors == ("empty: no function marked with @benchmark or @measures",)


async def test_run_here_refuses_to_run_inside_trio() -> None:
    with pytest.raises(
        RuntimeError,
        match=r"^run_here must be called outside trio\.run \(each async benchmark runs its own\)$",
    ):
        run_here({})


def test_marking_keeps_the_function_and_finds_it_once() -> None:
    def plain() -> int:
        return 7

    marked_fn = benchmark(name="seven")(plain)
    assert marked_fn is plain
    assert plain() == 7
    [spec] = marked({"a": plain, "b": plain, "c": 3})
    assert (spec.name, spec.kind, spec.figure_unit) == ("seven", "timed", "s")
    assert spec.size(quick=True) is None


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: benchmark(n=0), ValueError, r"^n must be >= 1, got 0$"),
        (lambda: benchmark(quick_n=1.5), TypeError, r"^quick_n must be an int or None, got 1\.5$"),
        (lambda: benchmark(name=""), ValueError, r"^name must not be empty, got ''$"),
        (lambda: measures(name=""), ValueError, r"^name must not be empty, got ''$"),
        (lambda: benchmark(3), TypeError, r"^fn must be callable, got 3$"),
        (lambda: measures(3), TypeError, r"^fn must be callable, got 3$"),
        (lambda: Baseline(3), TypeError, r"^fn must be callable, got 3$"),
        (
            lambda: benchmark(baseline="x"),
            TypeError,
            r"^baseline must be a callable, a Baseline or a sequence of them, got 'x'$",
        ),
    ],
)
def test_bad_arguments_are_rejected(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_require_imports_or_skips() -> None:
    assert require("json") is json
    with pytest.raises(BenchmarkSkipped) as raised:
        require("blinker_not_here.sub")
    assert (raised.value.reason, raised.value.hint) == (
        "blinker_not_here is not installed",
        "pip install blinker_not_here",
    )
    assert str(raised.value) == "blinker_not_here is not installed (pip install blinker_not_here)"
    assert str(BenchmarkSkipped("why")) == "why"
    assert install_hint("pyee.trio") == "pip install 'trio-orch[bench]'"


# ---- targets, aggregation, comparison ------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "value", "ratio", "met"),
    [
        (">= 0.8x", 1.0, 0.9, True),
        (">= 0.8x", 1.0, 0.7, False),
        (">= 0.8x", 1.0, None, None),
        (">= 100k/s and >= 2x", 150_000.0, 2.5, True),
        (">= 100k/s and >= 2x", 50_000.0, 2.5, False),
        (">= 1M calls/s", 2e6, None, True),
        ("<= 0.3 µs", 0.4, None, False),
        ("< 1", 0.99, None, True),
        ("> 1", 1.0, None, False),
        ("= 3", 3.0, None, True),
        ("~80", 85.0, None, True),
        ("~80", 70.0, None, False),
        (">= 0.5x raw", 1.0, 0.6, True),
        ("<= 1e-3", 0.002, None, False),
        ("<= 50 µs", 4e-5, None, True),
        ("<= 50 ms", 0.06, None, False),
        ("about fast", 1.0, 1.0, None),
        (None, 1.0, 1.0, None),
    ],
)
def test_targets(target: str | None, value: float, ratio: float | None, met: bool | None) -> None:
    assert target_met(target, value, ratio, "s") is met


def test_time_targets_convert_to_the_figures_unit() -> None:
    assert target_met("<= 0.3 µs", 250.0, None, "ns") is True
    assert target_met("<= 0.3 µs", 0.4, None, "µs/call") is False
    assert target_met("<= 2 s", 1500.0, None, "ms") is True


@pytest.mark.parametrize(
    ("unit", "target", "higher"),
    [
        ("msg/s", None, True),
        ("µs/call", None, False),
        ("s", None, False),
        ("x", "<= 1.3", False),
        ("%", ">= 80", True),
        ("%", None, None),
    ],
)
def test_which_way_is_better(unit: str, target: str | None, higher: bool | None) -> None:
    assert higher_is_better_for(unit, target) is higher


def test_spread() -> None:
    spread = Spread.of([3.0, 1.0, 2.0])
    assert attrs.astuple(spread) == (1.0, 2.0, 3.0, 3)
    assert spread.relative == 1.0
    assert Spread.of([0.0]).relative == 0.0


def test_aggregate_uses_the_median_and_keeps_the_order() -> None:
    runs = [
        [Figure("b", 1.0, "x/s"), Figure("a", 10.0, "x/s", "raw", 2.0)],
        [Figure("b", 3.0, "x/s"), Figure("a", 30.0, "x/s", "raw", 4.0)],
        [Figure("a", 20.0, "x/s", "raw", 3.0, higher_is_better=False)],
    ]
    b, a = aggregate(runs)
    assert (b.name, b.value, b.samples, b.ratio, b.baseline_value) == (
        "b",
        2.0,
        (1.0, 3.0),
        None,
        None,
    )
    assert (a.value, a.ratio, a.baseline_value) == (20.0, 3.0, 20.0 / 3.0)
    assert a.ratio_spread == Spread(2.0, 3.0, 4.0, 3)
    assert a.key == "a [vs raw]"
    assert a.higher_is_better is True


@pytest.mark.parametrize(
    ("before", "after", "higher", "expected"),
    [
        ((10, 11), (5, 6), True, "regression"),
        ((10, 11), (12, 13), True, "improvement"),
        ((10, 11), (12, 13), False, "regression"),
        ((10, 11), (5, 6), False, "improvement"),
        ((10, 12), (11, 13), True, "same"),
        ((10, 11), (5, 6), None, "changed"),
    ],
)
def test_verdicts_beyond_the_spread(
    before: tuple[float, float], after: tuple[float, float], higher: bool | None, expected: str
) -> None:
    def spread(low: float, high: float) -> Spread:
        return Spread(low, (low + high) / 2, high, 2)

    assert verdict(spread(*before), spread(*after), higher) == expected


def _results(*suites: SuiteResult) -> BenchResults:
    from trio_orch.bench._results import Environment

    return BenchResults("trio-orch bench", False, 2, Environment.current(), suites)


def _suite(name: str, *rows: tuple[str, list[float]], unit: str = "ops/s") -> SuiteResult:
    figures = aggregate([[Figure(n, v[i], unit) for n, v in rows] for i in range(2)])
    return SuiteResult(name, name, "ok", "Title", figures, repeat=2)


def test_compare_matches_rows_by_suite_and_name() -> None:
    before = _results(_suite("s", ("a", [10, 11]), ("b", [10, 11])), _suite("gone", ("a", [1, 1])))
    after = _results(_suite("s", ("a", [5, 6]), ("c", [1, 2])), _suite("new", ("a", [1, 1])))
    [change] = compare(after, before)
    assert (change.suite, change.key, change.verdict) == ("s", "a", "regression")
    assert change.change == pytest.approx(5.5 / 10.5 - 1)
    assert _format.change(change) == "-47.6% regression"
    assert regressions(after, before) == [change]
    zero = attrs.evolve(change, before=Spread(0, 0, 0, 1))
    assert zero.change is None
    assert _format.change(zero) == "n/a regression"


def test_results_round_trip_through_json(tmp_path: Path) -> None:
    results = _results(_suite("s", ("a", [1, 2])))
    path = tmp_path / "r.json"
    path.write_text(results.to_json())
    assert BenchResults.load(path) == results
    assert results.find("s") is results.suites[0]
    assert results.find("t") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", r"^not a results file: Expecting property name"),
        ('{"schema": 2}', r"^not a results file of schema 1: schema 2$"),
        ("[]", r"^not a results file of schema 1: schema 'list'$"),
        ('{"schema": 1}', r"^not a results file: "),
    ],
)
def test_unreadable_results_are_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BenchResults.from_json(text)


def test_an_unreadable_suite_result_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^not a suite result: "):
        suite_from_json("{}")


# ---- scaling ----------------------------------------------------------------------------------


def test_exponents() -> None:
    sizes = [10, 100, 1000]
    assert exponent(sizes, [n**1.5 for n in sizes]) == pytest.approx(1.5)
    with_overhead = [5.0 + 0.01 * n for n in sizes]
    assert exponent(sizes, with_overhead) < 0.8
    assert marginal_exponent(sizes, with_overhead) == pytest.approx(1.0)
    noisy = [1.0, 0.9, 2.0]  # a difference below 0: fall back to the totals
    assert marginal_exponent(sizes, noisy) == exponent(sizes, noisy)


@pytest.mark.parametrize(
    ("sizes", "seconds", "message"),
    [
        ([1], [1.0], r"^sizes and seconds must be two or more pairs, got 1 and 1$"),
        ([1, 2], [1.0], r"^sizes and seconds must be two or more pairs, got 2 and 1$"),
        ([0, 2], [1.0, 2.0], r"^sizes and seconds must be > 0, got \[0, 2\] and \[1\.0, 2\.0\]$"),
        ([2, 2], [1.0, 2.0], r"^sizes must not all be equal, got \[2, 2\]$"),
    ],
)
def test_exponent_rejects_bad_input(sizes: list[int], seconds: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        exponent(sizes, seconds)


def test_scaling_times_each_size_and_fits_the_exponent() -> None:
    seen: list[int] = []

    async def work(n: int) -> None:
        seen.append(n)
        await trio.lowlevel.checkpoint()
        sum(range(n * 100))

    figures = scaling("summing", work, [10, 40, 160], work="numbers", repeat=2, cpu=False)
    assert seen == [10, 10, 40, 40, 160, 160]
    assert [f.name for f in figures] == [
        "summing: per number at 10 numbers",
        "summing: per number at 40 numbers",
        "summing: per number at 160 numbers",
        "summing: time ∝ numbers^k, 10..160",
    ]
    assert [f.unit for f in figures] == ["µs", "µs", "µs", "exponent"]
    assert figures[-1].target == "<= 1.15"
    assert figures[-1].higher_is_better is False
    assert len(scaling("sync", lambda n: None, [1, 2, 3], repeat=1, target=None)) == 4
    with pytest.raises(ValueError, match=r"^sizes must be >= 1, got 0$"):
        scaling("bad", lambda n: None, [0, 1])
    with pytest.raises(ValueError, match=r"^repeat must be >= 1, got 0$"):
        scaling("bad", lambda n: None, [1, 2], repeat=0)


# ---- formatting and Markdown --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (0.000123, "0.000123"),
        (12.345, "12.3"),
        (1234.0, "1,234"),
        (45_600.0, "45.6k"),
        (1_500_000.0, "1.5M"),
        (2.5e9, "2.5G"),
        (float("inf"), "inf"),
    ],
)
def test_numbers(value: float, text: str) -> None:
    assert _format.number(value) == text


def test_quantities_and_spreads() -> None:
    assert _format.quantity(0.000172, "s") == "172 µs"
    assert _format.quantity(2.0, "s") == "2 s"
    assert _format.quantity(1e-12, "s") == "0.001 ns"
    assert _format.quantity(45_600.0, "msg/s") == "45.6k msg/s"
    assert _format.spread(Spread(1e-3, 2e-3, 3e-3, 3), "s") == "1 / 2 / 3 ms ±50%"
    assert _format.spread(Spread(10.0, 20.0, 30.0, 3), "x") == "10 / 20 / 30 ±50%"
    assert _format.spread(Spread(1.0, 1.0, 1.0, 1), "x") == "1 run"
    assert _format.ratio(None) == ""
    assert _format.ratio(1.234) == "1.23x"


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    rows = [
        [
            Figure("ours", 2e5, "msg/s", "raw", 0.9, ">= 0.8x"),
            Figure("slow", 1e-4, "s", target="<= 50 µs"),
            Figure("no target", 3.0, "x", "peer", 3.0),
            Figure("bus: time ∝ events^k, 1..100", 1.02, "exponent", target="<= 1.15"),
        ]
    ] * 2
    suites = (
        SuiteResult("chan", "chan", "ok", "Channels | pipes", aggregate(rows), repeat=2),
        SuiteResult("gone", "x.py", "skipped", skipped=(Skipped("gone", "y", "pip install y"),)),
        SuiteResult("bad", "b.py", "failed", errors=("b: boom\ntrace",)),
    )
    path = tmp_path / "results.json"
    path.write_text(_results(*suites).to_json())
    return path


def test_render_writes_the_environment_tables_and_exponents(results_file: Path) -> None:
    markdown = render.render(BenchResults.load(results_file))
    assert f"on {os.cpu_count()} CPUs" in markdown
    assert "```sh\ntrio-orch bench\n```" in markdown
    assert "### chan: Channels \\| pipes" not in markdown  # titles are headings, not cells
    assert "### chan: Channels | pipes" in markdown
    assert (
        "| ours | 200k msg/s | raw: 222k msg/s | 0.90x | 200k / 200k / 200k ±0% | >= 0.8x ✓ |"
        in markdown
    )
    assert "| slow | 100 µs |  |  | 100 / 100 / 100 µs ±0% | <= 50 µs **missed** |" in markdown
    assert "| no target | 3 x | peer: 1 x | 3.00x |" in markdown
    assert "- skipped gone: y (`pip install y`)" in markdown
    assert "Status: skipped." in markdown
    assert "- failed: b: boom" in markdown
    assert (
        "| chan | bus: time ∝ events^k, 1..100 | 1.02 | 1.02 / 1.02 / 1.02 ±0% | <= 1.15 ✓ |"
        in markdown
    )


def test_render_main_prints_or_fills_a_page(
    results_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render.main([str(results_file)]) == 0
    printed = capsys.readouterr().out
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\n{render.BEGIN}\nold\n{render.END}\n\nafter\n")
    assert render.main([str(results_file), "--into", str(page)]) == 0
    assert page.read_text() == f"# Title\n\n{render.BEGIN}\n{printed}{render.END}\n\nafter\n"
    page.write_text("no markers")
    assert render.main([str(results_file), "--into", str(page)]) == 2
    assert render.main([str(tmp_path / "missing.json")]) == 2
    assert "python -m trio_orch.bench.render: " in capsys.readouterr().err


def test_import_trio_orch_and_the_cli_do_not_load_the_harness() -> None:
    code = (
        "import sys, trio_orch, trio_orch.cli._main\n"
        "print(sorted(m for m in sys.modules if m.startswith(('trio_orch.bench', 'rich'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=_env()
    )
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


def test_ctrl_c_ends_the_run_with_status_130(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from trio_orch.bench import _runner

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_runner, "run_suites", interrupted)
    assert cli_main(["bench", "retry"]) == 130
    assert capfd.readouterr().err == "trio-orch bench: interrupted\n"
