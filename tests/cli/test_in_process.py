"""Paths usually seen on a terminal or with signals, driven in this process (fast, covered)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

import pytest

from tests.cli.conftest import write
from trio_orch.cli import _run

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.cli.conftest import Done


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI believe stdout is a 60x12 terminal."""
    monkeypatch.setattr(_run.os, "isatty", lambda fd: True)
    monkeypatch.setattr(_run.LiveDisplay, "_terminal", lambda self: (60, 12))


def test_live_display_run(tmp_path: Path, run_cli: Callable[..., Done], terminal: None) -> None:
    (tmp_path / "in.txt").write_text("x")
    wf = write(
        tmp_path,
        """
failure = "continue"
[steps.work]
run = 'for p in 20 40 60 80; do echo "::progress $p%"; echo "at $p"; sleep 0.06; done'
[steps.fresh]
run = "true"
inputs = ["in.txt"]
[steps.flaky]
run = 'test "$TRIO_ORCH_ATTEMPT" = 2 || exit 1'
retry = 2
[steps.bad]
run = "exit 4"
""",
    )
    run_cli("run", str(wf), "fresh")  # records it
    done = run_cli("run", str(wf))
    assert done.status == 1
    out = done.out
    assert "overall" in out
    assert "\x1b[J" in out  # the block was erased and redrawn
    assert "at 80" in out
    assert "fresh is up to date" in out
    assert "flaky attempt 1/2 failed: exit status 1; retrying" in out
    assert "bad attempt 1/1 failed: exit status 4" in out
    assert "workflow 'wf' failed after" in out


def test_json_reports_up_to_date_and_messages(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(tmp_path, '[steps.a]\nrun = "true"\noutputs = ["wf.toml"]\n')
    run_cli("run", str(wf))
    done = run_cli("run", str(wf), "--json", "--watch")  # nothing to watch: a message, then exit
    assert done.status == 0
    events = [json.loads(line) for line in done.out.splitlines()]
    names = [e["event"] for e in events]
    assert "trio_orch.cli.step_up_to_date" in names
    final = next(e for e in events if e["event"] == "trio_orch.cli.finished")
    assert final["steps"]["a"]["status"] == "up to date"
    assert final["steps"]["a"]["duration"] is None


def test_watch_with_nothing_to_watch(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(tmp_path, '[steps.a]\nrun = "true"\n')
    done = run_cli("run", str(wf), "--watch")
    assert done.status == 0
    assert "--watch: no step declares inputs; nothing to watch" in done.out


def _later(action: Callable[[], bool], timeout: float = 15) -> threading.Thread:
    """Call ``action`` in a thread until it returns True, then send SIGINT to this process."""

    def body() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not action():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_watch_and_ctrl_c_in_process(
    tmp_path: Path, run_cli: Callable[..., Done], terminal: None
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("one")
    wf = write(
        tmp_path,
        """
[steps.gen]
run = "cat src/a.txt > out.txt"
inputs = ["src/*.txt"]
[steps.after]
run = "true"
depends_on = ["gen"]
[steps.other]
run = "true"
inputs = ["wf.toml"]
""",
    )
    out = tmp_path / "out.txt"
    state: dict[str, float] = {}

    def step() -> bool:
        if not out.exists():
            return False
        if "changed" not in state:
            if "first" not in state:
                state["first"] = time.monotonic()
            if time.monotonic() - state["first"] < 1.0:  # let the watcher start
                return False
            (tmp_path / "src" / "a.txt").write_text("two")
            state["changed"] = time.monotonic()
            return False
        if out.read_text() != "two":
            return False
        # the re-run wrote out.txt; give it time to finish and print its table
        state.setdefault("rerun", time.monotonic())
        return time.monotonic() - state["rerun"] > 1.0

    thread = _later(step)
    done = run_cli("run", str(wf), "--watch", "--grace", "0.5")
    thread.join(timeout=5)
    assert done.status == 130
    assert out.read_text() == "two"
    assert "changed: gen" in done.out
    rerun = done.out.split("changed: gen")[1]
    assert "after started" in rerun  # its dependency ran
    assert "other started" not in rerun  # not affected
    assert "│ other │ \x1b[2mup to date\x1b[0m │" in rerun  # coloured: a terminal
    assert "SIGINT: cancelling the run" in done.out


def test_ctrl_c_during_a_run_in_process(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    flag = tmp_path / "started"
    wf = write(tmp_path, f'[steps.slow]\nrun = "touch {flag}; sleep 20"\n')
    thread = _later(flag.exists)
    done = run_cli("run", str(wf), "--grace", "0.2")
    thread.join(timeout=5)
    assert done.status == 130
    assert "│ slow │ cancelled │" in done.out
    assert "cancelled: workflow cancelled" in done.out


def test_logs_dir_that_cannot_be_made(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(tmp_path, '[steps.a]\nrun = "true"\n')
    (tmp_path / "file").write_text("")
    done = run_cli("run", str(wf), "--logs", str(tmp_path / "file" / "logs"))
    assert done.status == 2
    assert done.err == f"error: --logs {tmp_path}/file/logs: Not a directory\n"


def test_state_that_cannot_be_saved_is_a_warning(
    tmp_path: Path, run_cli: Callable[..., Done], monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = write(tmp_path, '[steps.a]\nrun = "true"\noutputs = ["wf.toml"]\n')

    def refuse(self: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_run.StateFile, "save", refuse)
    done = run_cli("run", str(wf))
    assert done.status == 0
    assert f"warning: cannot save {tmp_path}/.wf.toml.state.json: Permission denied" in done.out
