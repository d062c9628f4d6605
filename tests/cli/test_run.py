"""``trio-orch run``: end to end, in a few subprocesses and mostly in process."""

from __future__ import annotations

import json
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cli.conftest import CLI, ENV, ROOT, gone, started_cli, write
from trio_orch import CannotStart, CommandFailed, OrchError, SpecError
from trio_orch.cli import main
from trio_orch.cli._main import build_parser
from trio_orch.cli._run import command_argv, log_file_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.cli.conftest import Done

# --- in a subprocess ---------------------------------------------------------------------------


def test_example_build_succeeds_with_a_retry(run_cli: Callable[..., Done]) -> None:
    done = run_cli("run", str(ROOT / "examples" / "build.toml"), "--force")
    assert done.status == 0, done.out + done.err
    out = done.out
    assert "fetch-deps | fetch-deps: mirror timed out (attempt 1)" in out
    assert "✗ fetch-deps attempt 1/3 failed: exit status 75; retrying" in out
    assert "✓ fetch-deps succeeded in" in out
    assert "test | ok 3 - greet('') raises ValueError" in out
    assert "::progress" not in out  # progress lines are consumed, not printed
    assert "│ fetch-deps │ succeeded │        2 │" in out
    assert "workflow 'sample-build' succeeded in" in out
    assert done.err == ""


def test_failure_exits_1_with_json_logs_and_log_files(
    tmp_path: Path, run_cli: Callable[..., Done]
) -> None:
    wf = write(
        tmp_path,
        """
[steps.boom]
run = "echo about to fail; exit 3"
[steps.after]
run = "echo never"
depends_on = ["boom"]
[steps."a/b"]
run = "echo slash"
[steps.a_b]
run = "echo underscore"
""",
    )
    logs = tmp_path / "logs"
    done = run_cli("run", str(wf), "--json", "--logs", str(logs), "-k")
    assert done.status == 1, done.out + done.err
    events = [json.loads(line) for line in done.out.splitlines()]
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
        "reason": "dependency 'boom' failed",
    }
    assert (logs / "boom.log").read_text() == "--- boom: attempt 1 ---\nabout to fail\n"
    assert not (logs / "after.log").exists()
    # two step names that look alike never share a log file
    slash, underscore = final["steps"]["a/b"]["log"], final["steps"]["a_b"]["log"]
    assert slash != underscore
    assert Path(slash).read_text().endswith("slash\n")
    assert Path(underscore).read_text().endswith("underscore\n")


def test_bad_file_exits_2_naming_file_line_and_key(
    tmp_path: Path, run_cli: Callable[..., Done]
) -> None:
    wf = write(tmp_path, '[steps.a]\nrun = "true"\ntimout = 5\n')
    done = run_cli("run", str(wf))
    assert done.status == 2
    assert done.out == ""
    assert done.err == f"error: {wf}:3: steps.a.timout: unknown key; did you mean 'timeout'?\n"


def test_version_and_python_m(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["python -m trio_orch", "--version"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("trio_orch", run_name="__main__")
    assert info.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith("trio-orch ")
    assert err == ""


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_terminates_children_and_prints_the_summary(
    tmp_path: Path, signum: int, status: int
) -> None:
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
    with started_cli("run", str(wf), "--grace", "2", cwd=ROOT, ready=pidfile) as proc:
        child = int(pidfile.read_text())
        assert not gone(child)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == status, out + err
    deadline = time.monotonic() + 5
    while not gone(child):
        assert time.monotonic() < deadline, f"child {child} survived"
        time.sleep(0.02)
    assert f"{signal.Signals(signum).name}: cancelling the run" in out
    assert "│ slow  │ cancelled │" in out
    assert "workflow cancelled" in out
    assert "│ later │ skipped   │" in out
    assert "workflow 'wf' was interrupted after" in out
    assert "Traceback" not in err


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    wf = write(tmp_path, '[steps.many]\nrun = "seq 1 1000000"\n')
    shell = f"{' '.join(CLI)} run {wf} | head -n 3"
    done = subprocess.run(
        ["/bin/sh", "-c", shell],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.stdout.splitlines()[:3] == ["==> many started", "many | 1", "many | 2"]
    assert done.stderr == ""


# --- in process --------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_in_order(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(
        tmp_path,
        """
max_concurrent = 2
[steps.package]
run = ["zip", "-r", "out dir.zip", "."]
depends_on = ["test"]
[steps.test]
run = "pytest -q"
depends_on = ["lint", "lint"]
retry = { attempts = 3, delay = 1 }
timeout = 60
cwd = "tests"
env = { B = "1", A = "2" }
[steps.lint]
run = "ruff check ."
""",
    )
    done = run_cli("run", str(wf), "--dry-run")
    assert done.status == 0
    assert done.out.splitlines() == [
        f"workflow 'wf' from {wf}: 3 steps, max_concurrent 2, failure fail-fast",
        "  1. lint     $ ruff check .",
        "              would run: it declares no inputs or outputs",
        "  2. test     $ pytest -q",
        f"              (after lint; retry 3 attempts, delay 1s; timeout 60s; cwd {tmp_path}/tests; "
        "env A, B)",
        "              would run: dependency 'lint' would run",
        "  3. package  $ zip -r 'out dir.zip' .",
        "              (after test)",
        "              would run: dependency 'test' would run",
    ]


def test_dry_run_json(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    wf = write(
        tmp_path,
        '[steps.a]\nrun = "true"\ndescription = "first"\n'
        '[steps.b]\nrun = ["echo", "x"]\ndepends_on = ["a"]\n',
    )
    done = run_cli("run", str(wf), "b", "--dry-run", "--json")
    assert done.status == 0
    plan = json.loads(done.out)
    assert plan["workflow"] == "wf"
    assert [(s["name"], s["would_run"], s["reason"]) for s in plan["steps"]] == [
        ("a", True, "it declares no inputs or outputs"),
        ("b", True, "dependency 'a' would run"),
    ]
    assert plan["steps"][0]["description"] == "first"
    assert plan["steps"][1]["command"] == ["echo", "x"]


def test_missing_file_exits_2(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    done = run_cli("run", str(tmp_path / "nope.toml"))
    assert done.status == 2
    assert done.err == (
        f"error: {tmp_path}/nope.toml: cannot read the file: No such file or directory\n"
    )


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for args, message in [
        (["run", "x.toml", "--grace", "soon"], "--grace: must be a number of seconds >= 0"),
        (["run", "x.toml", "-j", "0"], "-j/--jobs: must be an integer >= 1, got '0'"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2
        assert message in capsys.readouterr().err


def test_help_lists_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--help"], ["run", "--help"]):
        with pytest.raises(SystemExit):
            main(args)
        out = capsys.readouterr().out
        for status in ("0 ", "1 ", "2 ", "130", "141", "143"):
            assert f"\n  {status}" in out, (args, status)
    assert "stdin is /dev/null" in out


def test_huge_retry_backoff_runs(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    # delay * backoff ** (attempts - 1) overflows a float: it must not crash the run.
    wf = write(tmp_path, '[steps.a]\nrun = "true"\nretry = { attempts = 2000, backoff = 10 }\n')
    done = run_cli("run", str(wf))
    assert done.status == 0
    assert "│ a    │ succeeded │        1 │" in done.out


def test_timeout_retry_env_and_cwd(tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    (tmp_path / "sub").mkdir()
    wf = write(
        tmp_path,
        """
failure = "continue"
env = { GREETING = "hello" }
[steps.where]
run = 'echo "$GREETING from $(basename "$PWD") as $TRIO_ORCH_STEP, unbuffered=$PYTHONUNBUFFERED"; echo "::progress 50%"'
cwd = "sub"
[steps.slow]
run = "sleep 5"
timeout = 0.2
retry = { attempts = 2, delay = 0 }
[steps.missing]
run = ["/nonexistent/tool"]
[steps.nowhere]
run = "true"
cwd = "gone"
""",
    )
    done = run_cli("run", str(wf), "--grace", "1")
    assert done.status == 1
    out = done.out
    assert "where | hello from sub as where, unbuffered=1" in out
    assert "::progress" not in out
    assert "✗ slow attempt 1/2 failed: timed out after 0.2s; retrying" in out
    assert "✗ slow attempt 2/2 failed: timed out after 0.2s\n" in out
    assert "│ slow    │ failed    │        2 │" in out
    assert "│ missing │ failed    │        1 │" in out
    assert (
        "✗ missing attempt 1/1 failed: cannot start '/nonexistent/tool': No such file or "
        "directory" in out
    )
    assert f"cannot start '{tmp_path}/gone': no such directory (the step's cwd)" in out
    assert "│ where   │ succeeded │        1 │" in out


def test_env_override_and_pythonunbuffered_kept(
    tmp_path: Path, run_cli: Callable[..., Done], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONUNBUFFERED", "")
    wf = write(
        tmp_path,
        '[steps.a]\nrun = \'echo "[$A] [$B] [$PYTHONUNBUFFERED]"\'\nenv = { A = "file" }\n',
    )
    done = run_cli("run", str(wf), "-e", "A=cli", "-e", "B=x=y")
    assert done.status == 0, done.out + done.err
    assert "a | [cli] [x=y] []" in done.out
    bad = run_cli("run", str(wf), "-e", "novalue")
    assert (bad.status, bad.err) == (2, "error: -e must be KEY=VALUE, got 'novalue'\n")


def test_cli_exceptions_are_orch_errors() -> None:
    assert issubclass(CommandFailed, OrchError)
    assert issubclass(CannotStart, OrchError)
    assert issubclass(SpecError, OrchError)
    assert str(CommandFailed("s", 3)) == "exit status 3"
    assert str(CommandFailed("s", -9)) == "killed by SIGKILL"
    assert str(CommandFailed("s", -200)) == "killed by signal 200"


def test_command_argv_runs_plain_commands_directly() -> None:
    assert command_argv("echo hi  there") == ["echo", "hi", "there"]
    assert command_argv(["a b", "c"]) == ["a b", "c"]
    assert command_argv("echo $HOME") == ["/bin/sh", "-c", "echo $HOME"]
    assert command_argv("cd x") == ["/bin/sh", "-c", "cd x"]
    assert command_argv("A=1 env") == ["/bin/sh", "-c", "A=1 env"]


def test_log_file_names_never_collide() -> None:
    assert log_file_name("build") == "build.log"
    names = {log_file_name(n) for n in ("a/b", "a_b", "a b", ".hidden", "")}
    assert len(names) == 5
    assert all("/" not in n and not n.startswith(".") for n in names)


def test_every_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "bench", "worker", "jobs"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: trio-orch {command}")


def test_a_parser_for_one_command_shows_the_same_help() -> None:
    # `trio-orch run ...` builds only the run parser in full: the top-level help is the same
    full = build_parser().format_help()
    for command in ("run", "bench", "worker", "jobs", None):
        assert build_parser(command).format_help() == full
    args = build_parser("run").parse_args(["run", "wf.toml", "-j", "3"])
    assert (args.command, args.targets, args.jobs) == ("run", ["wf.toml"], 3)
    with pytest.raises(SystemExit):
        build_parser("run").parse_args(["bench", "--quick"])  # the stub takes no options
