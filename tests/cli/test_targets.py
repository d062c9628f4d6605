"""``trio-orch run [FILE] [STEP ...]``: targets, finding the file, ``--list``, -j/-k/-e."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.cli.conftest import write
from trio_orch.cli._spec import find_workflow_file

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest

    from tests.cli.conftest import Done

GRAPH = """
[steps.lint]
run = "echo lint"
description = "check the style"
[steps.build]
run = "echo build"
depends_on = ["lint"]
[steps.test]
run = "echo test"
description = "run the tests"
depends_on = ["build", "build"]
[steps.docs]
run = "echo docs"
"""


def ran(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith("==> ")]


def test_targets_run_their_dependencies_only(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(tmp_path, GRAPH)
    done = run_cli("run", str(wf), "test", "--no-progress", "-j", "1")
    assert done.status == 0, done.out + done.err
    assert ran(done.out) == ["lint", "build", "test"]
    assert "docs" not in done.out
    assert run_cli("run", str(wf), "docs", "lint").status == 0


def test_unknown_target_exits_2(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(tmp_path, GRAPH)
    done = run_cli("run", str(wf), "tset")
    assert done.status == 2
    assert done.err == f"error: {wf}: no step 'tset'; did you mean 'test'?\n"


def test_the_file_is_found_in_a_parent(
    tmp_path: Path, run_cli: Callable[..., Done], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, GRAPH, name="trio-orch.toml")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_workflow_file(deep) == tmp_path / "trio-orch.toml"
    done = run_cli("run", "build")
    assert done.status == 0, done.err
    assert ran(done.out) == ["lint", "build"]
    # a name that is no file and does not end in .toml is a step
    assert run_cli("run", "docs").status == 0


def test_no_file_anywhere_exits_2(
    tmp_path: Path, run_cli: Callable[..., Done], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_workflow_file(tmp_path) is None  # no trio-orch.toml above the temporary dir
    done = run_cli("run")
    assert done.status == 2
    assert done.err == (
        f"error: no trio-orch.toml in {tmp_path} or its parents; name the file to run\n"
    )


def test_list_shows_descriptions_and_dependencies(
    tmp_path: Path, run_cli: Callable[..., Done]
) -> None:
    wf = write(tmp_path, GRAPH)
    done = run_cli("run", str(wf), "--list")
    assert done.status == 0
    assert done.out.splitlines() == [
        f"steps of 'wf' ({wf}):",
        "  lint   check the style",
        "  build  echo build  [after lint]",
        "  test   run the tests  [after build]",
        "  docs   echo docs",
    ]


def test_jobs_limits_concurrency(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    # Each step records how many steps were running when it started.
    steps = "".join(
        f"""
[steps.s{i}]
run = 'mkdir -p running; touch running/s{i}; ls running | wc -l >> counts; sleep 0.05; rm running/s{i}'
"""
        for i in range(6)
    )
    wf = write(tmp_path, steps)
    assert run_cli("run", str(wf), "-j", "2").status == 0
    counts = [int(c) for c in (tmp_path / "counts").read_text().split()]
    assert len(counts) == 6
    assert max(counts) <= 2


def test_keep_going_runs_independent_steps(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(
        tmp_path,
        """
[steps.bad]
run = "exit 1"
[steps.after]
run = "echo after"
depends_on = ["bad"]
[steps.other]
run = "sleep 0.2; echo other"
""",
    )
    fail_fast = run_cli("run", str(wf))
    assert fail_fast.status == 1
    assert "other | other" not in fail_fast.out
    assert "│ other │ cancelled │" in fail_fast.out
    assert "cancelled: step 'bad' failed" in fail_fast.out
    kept = run_cli("run", str(wf), "-k")
    assert kept.status == 1
    assert "other | other" in kept.out
    assert "skipped: dependency 'bad' failed" in kept.out


def test_every_file_problem_at_once(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(
        tmp_path,
        """
[steps.a]
run = "true"
timeout = "soon"
depends_on = ["nope", "b"]
[steps.b]
run = "true"
depends_on = ["a"]
""",
    )
    done = run_cli("run", str(wf))
    assert done.status == 2
    assert done.err.splitlines() == [
        f"error: {wf}:4: steps.a.timeout: must be a number, got a string ('soon')",
        f"error: {wf}:5: steps.a.depends_on[0]: unknown step 'nope'",
        f"error: {wf}:5: steps.a.depends_on: dependency cycle: a -> b -> a",
    ]
