"""``trio-orch run``: end to end in a subprocess (few, fast, bounded) and in process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trio_orch.cli import main

ROOT = Path(__file__).resolve().parent.parent.parent
CLI = [sys.executable, "-c", "import sys; from trio_orch.cli import main; sys.exit(main())"]
# Rich reads these: plain output, 120 columns, whatever the CI machine's environment says.
_RICH_VARS = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")
ENV = {k: v for k, v in os.environ.items() if k not in _RICH_VARS} | {"COLUMNS": "120"}


@pytest.fixture(autouse=True)
def plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _RICH_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "120")


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write(tmp_path: Path, text: str, name: str = "wf.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- in a subprocess ---------------------------------------------------------------------------


def test_example_build_succeeds_with_a_retry() -> None:
    done = cli("run", "examples/build.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "fetch-deps | fetch-deps: mirror timed out (attempt 1)" in out
    assert "✗ fetch-deps attempt 1/3 failed: exit status 75; retrying" in out
    assert "✓ fetch-deps succeeded in" in out
    assert "test | ok 3 - greet('') raises ValueError" in out
    assert "::progress" not in out  # progress lines are consumed, not printed
    assert "│ fetch-deps │ succeeded │        2 │" in out
    assert "workflow 'sample-build' succeeded in" in out
    assert done.stderr == ""


def test_failure_exits_1_with_json_logs_and_log_files(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
[steps.boom]
run = "echo about to fail; exit 3"
[steps.after]
run = "echo never"
depends_on = ["boom"]
""",
    )
    logs = tmp_path / "logs"
    done = cli("run", str(wf), "--json", "--logs", str(logs))
    assert done.returncode == 1, done.stdout + done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert all("timestamp" in e and "level" in e for e in events)
    failed = next(e for e in events if e["event"] == "trio_orch.cli.attempt_failed")
    assert (failed["step"], failed["reason"], failed["will_retry"]) == (
        "boom",
        "exit status 3",
        False,
    )
    final = events[-1]
    assert (final["event"], final["status"]) == ("trio_orch.cli.finished", "failed")
    assert final["steps"]["boom"]["status"] == "failed"
    assert final["steps"]["after"] == {
        "status": "skipped",
        "attempts": 0,
        "duration": None,
        "error": None,
    }
    assert (logs / "boom.log").read_text() == "--- boom: attempt 1 ---\nabout to fail\n"
    assert not (logs / "after.log").exists()


def test_bad_file_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    wf = write(tmp_path, '[steps.a]\nrun = "true"\ntimout = 5\n')
    done = cli("run", str(wf))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"error: {wf}:3: steps.a.timout: unknown key; did you mean 'timeout'?\n"
    assert "Traceback" not in done.stderr


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" in status.read_text()  # a zombie waiting for its reaper
    except FileNotFoundError:
        return True


def test_sigint_terminates_children_and_prints_the_summary(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    wf = write(
        tmp_path,
        f"""
[steps.slow]
run = 'sleep 30 & echo $! > "{pidfile}.tmp"; mv "{pidfile}.tmp" "{pidfile}"; wait'
[steps.later]
run = "echo never"
depends_on = ["slow"]
""",
    )
    proc = subprocess.Popen(
        [*CLI, "run", str(wf), "--grace", "2"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not pidfile.exists():  # a real wait: the subprocess has to start
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.05)
        child = int(pidfile.read_text())
        assert not _gone(child)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out + err
    deadline = time.monotonic() + 5
    while not _gone(child):
        assert time.monotonic() < deadline, f"child {child} survived"
        time.sleep(0.05)
    assert "SIGINT: cancelling the run" in out
    assert "│ slow  │ cancelled │" in out
    assert "│ later │ skipped   │" in out
    assert "workflow 'wf' was interrupted after" in out
    assert "Traceback" not in err


# --- in process --------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = write(
        tmp_path,
        """
max_concurrent = 2
[steps.package]
run = ["zip", "-r", "out dir.zip", "."]
depends_on = ["test"]
[steps.test]
run = "pytest -q"
depends_on = ["lint"]
retry = { attempts = 3, delay = 1 }
timeout = 60
cwd = "tests"
env = { B = "1", A = "2" }
[steps.lint]
run = "ruff check ."
""",
    )
    assert main(["run", str(wf), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"workflow 'wf' from {wf}: 3 steps, max_concurrent 2, failure fail-fast",
        "  1. lint     $ ruff check .",
        "  2. test     $ pytest -q",
        f"              (after lint; retry 3 attempts, delay 1s; timeout 60s; cwd {tmp_path}/tests; "
        "env A, B)",
        "  3. package  $ zip -r 'out dir.zip' .",
        "              (after test)",
    ]


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path}/nope.toml: cannot read the file: No such file or directory\n"


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "x.toml", "--grace", "soon"])
    assert info.value.code == 2
    assert "--grace: must be a number of seconds >= 0, got 'soon'" in capsys.readouterr().err


def test_huge_retry_backoff_runs_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # delay * backoff ** (attempts - 1) overflows a float: it must not crash the run.
    wf = write(tmp_path, '[steps.a]\nrun = "true"\nretry = { attempts = 2000, backoff = 10 }\n')
    assert main(["run", str(wf)]) == 0
    assert "│ a    │ succeeded │        1 │" in capsys.readouterr().out


def test_timeout_retry_env_and_cwd_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    wf = write(
        tmp_path,
        """
failure = "continue"
env = { GREETING = "hello" }
[steps.where]
run = 'echo "$GREETING from $(basename "$PWD") as $TRIO_ORCH_STEP"; echo "::progress 50%"'
cwd = "sub"
[steps.slow]
run = "sleep 5"
timeout = 0.2
retry = { attempts = 2, delay = 0 }
[steps.missing]
run = ["/nonexistent/tool"]
""",
    )
    assert main(["run", str(wf), "--grace", "1"]) == 1
    out = capsys.readouterr().out
    assert "where | hello from sub as where" in out
    assert "::progress" not in out
    assert "✗ slow attempt 1/2 failed: timed out after 0.2s; retrying" in out
    assert "✗ slow attempt 2/2 failed: timed out after 0.2s\n" in out
    assert "│ slow    │ failed    │        2 │" in out
    assert "│ missing │ failed    │        1 │" in out
    assert (
        "✗ missing attempt 1/1 failed: cannot start '/nonexistent/tool': No such file or "
        "directory" in out
    )
    assert "│ where   │ succeeded │        1 │" in out


def test_live_bars_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich treats the captured stdout as a terminal
    wf = write(
        tmp_path,
        """
[steps.work]
run = 'for p in 25 50 75; do echo "::progress $p%"; echo "at $p"; sleep 0.1; done'
weight = 3
[steps.after]
run = "echo done"
depends_on = ["work"]
""",
    )
    assert main(["run", str(wf)]) == 0
    out = capsys.readouterr().out
    assert "overall" in out  # the live bar was drawn
    assert "eta" in out
    assert "at 75" in out
    assert "::progress" not in out
    assert "workflow 'wf' succeeded in" in out
