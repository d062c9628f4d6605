"""Up-to-date steps: inputs, outputs, the state file, ``--force`` and ``--dry-run``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.cli.conftest import write
from trio_orch.cli._state import StateFile

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.cli.conftest import Done

BUILD = """
[steps.gen]
run = "cp src/a.txt out/a.gen"
inputs = ["src/*.txt"]
outputs = ["out/a.gen"]
[steps.pack]
run = "cat out/a.gen > out/pack.txt"
inputs = ["out/a.gen"]
outputs = ["out/pack.txt"]
depends_on = ["gen"]
[steps.always]
run = "echo always"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "src" / "a.txt").write_text("one\n")
    return write(tmp_path, BUILD)


def statuses(out: str) -> dict[str, str]:
    rows = [line.split("│") for line in out.splitlines() if line.startswith("│ ")]
    return {r[1].strip(): r[2].strip() for r in rows[1:]}


def test_second_run_skips_up_to_date_steps(project: Path, run_cli: Callable[..., Done]) -> None:
    first = run_cli("run", str(project))
    assert first.status == 0, first.out + first.err
    assert statuses(first.out) == {"gen": "succeeded", "pack": "succeeded", "always": "succeeded"}
    state = json.loads((project.parent / ".wf.toml.state.json").read_text())
    assert sorted(state["steps"]) == ["gen", "pack"]
    second = run_cli("run", str(project))
    assert statuses(second.out) == {
        "gen": "up to date",
        "pack": "up to date",
        "always": "succeeded",
    }
    assert "= gen is up to date" in second.out


def test_an_input_change_reruns_the_step_and_its_dependents(
    project: Path, run_cli: Callable[..., Done]
) -> None:
    run_cli("run", str(project))
    (project.parent / "src" / "a.txt").write_text("two\n")
    dry = run_cli("run", str(project), "--dry-run")
    assert "would run: inputs changed: src/a.txt" in dry.out
    assert "would run: dependency 'gen' would run" in dry.out
    again = run_cli("run", str(project))
    assert statuses(again.out)["gen"] == "succeeded"
    assert statuses(again.out)["pack"] == "succeeded"  # its dependency ran
    assert (project.parent / "out" / "pack.txt").read_text() == "two\n"
    # a new input file is a change too
    (project.parent / "src" / "b.txt").write_text("new\n")
    assert "inputs changed: src/b.txt" in run_cli("run", str(project), "--dry-run").out


def test_a_command_or_env_change_reruns(project: Path, run_cli: Callable[..., Done]) -> None:
    run_cli("run", str(project))
    project.write_text(BUILD.replace("cp src/a.txt", "cp  src/a.txt"))
    assert "$ cp  src/a.txt" in run_cli("run", str(project), "--dry-run").out
    assert "would run: its command changed" in run_cli("run", str(project), "--dry-run").out
    run_cli("run", str(project))
    dry = run_cli("run", str(project), "--dry-run", "-e", "X=1")
    assert "would run: its environment changed" in dry.out


def test_a_missing_output_reruns(project: Path, run_cli: Callable[..., Done]) -> None:
    run_cli("run", str(project))
    (project.parent / "out" / "pack.txt").unlink()
    dry = run_cli("run", str(project), "--dry-run")
    assert "would run: outputs missing: out/pack.txt" in dry.out
    assert "up to date: would not run" in dry.out  # gen
    assert statuses(run_cli("run", str(project)).out)["pack"] == "succeeded"


def test_force_reruns_everything(project: Path, run_cli: Callable[..., Done]) -> None:
    run_cli("run", str(project))
    assert "would run: --force" in run_cli("run", str(project), "--dry-run", "--force").out
    forced = run_cli("run", str(project), "--force")
    assert statuses(forced.out) == {"gen": "succeeded", "pack": "succeeded", "always": "succeeded"}


def test_a_failed_step_is_not_recorded(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(tmp_path, '[steps.x]\nrun = "exit 1"\ninputs = ["wf.toml"]\n')
    assert run_cli("run", str(wf)).status == 1
    assert not (tmp_path / ".wf.toml.state.json").exists()


def test_a_corrupt_state_file_is_ignored(project: Path, run_cli: Callable[..., Done]) -> None:
    run_cli("run", str(project))
    state = project.parent / ".wf.toml.state.json"
    state.write_text('{"version": 1, "steps": {"gen": ')
    done = run_cli("run", str(project))
    assert done.status == 0
    assert done.err == f"warning: ignoring {state}: it is not valid JSON; every step will run\n"
    assert statuses(done.out)["gen"] == "succeeded"
    assert json.loads(state.read_text())["version"] == 1  # rewritten whole


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1]", "it is not a trio-orch state file of this version"),
        ('{"version": 99}', "it is not a trio-orch state file of this version"),
    ],
)
def test_state_file_problems(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    assert StateFile.load(path).problem == problem
    assert StateFile.load(tmp_path / "none.json").problem is None


def test_malformed_entries_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    good = {"command": "c", "env": "e", "cwd": "/", "inputs": {"a": "h"}}
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "steps": {
                    "good": good,
                    "list": [],
                    "short": {"command": "c"},
                    "typed": {**good, "cwd": 3},
                    "inputs": {**good, "inputs": {"a": 1}},
                },
            }
        )
    )
    assert list(StateFile.load(path).steps) == ["good"]


def test_state_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = StateFile.load(path)
    state.save()  # nothing recorded: nothing written
    assert not path.exists()
    loaded = StateFile.load(path)
    loaded.steps.clear()
    (tmp_path / "sub").mkdir()
    blocked = StateFile(tmp_path / "sub" / "missing-dir" / "state.json")
    from trio_orch.cli._state import Fingerprint

    blocked.record("x", Fingerprint("c", "e", "/", {}))
    with pytest.raises(OSError, match="No such file"):
        blocked.save()
    assert list(tmp_path.glob("**/*.tmp")) == []


def test_bad_input_globs_are_refused(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(
        tmp_path, '[steps.x]\nrun = "true"\ninputs = ["/etc/passwd", ""]\noutputs = ["../x"]\n'
    )
    done = run_cli("run", str(wf))
    assert done.status == 2
    assert done.err.splitlines() == [
        f"error: {wf}:3: steps.x.inputs[0]: must be relative to the step's cwd, got '/etc/passwd'",
        f"error: {wf}:3: steps.x.inputs[1]: must not be empty",
        f"error: {wf}:4: steps.x.outputs[0]: must be relative to the step's cwd, got '../x'",
    ]
