"""How ``trio-orch run`` starts commands: directly (as make does) or with ``sh -c``, through
``posix_spawn`` (the fast path) or ``trio.lowlevel.open_process``, with the same result."""

from __future__ import annotations

import errno
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
import trio

from tests.cli.conftest import ENV, gone, started_cli, write
from trio_orch.cli import console_main
from trio_orch.cli._output import MAX_LINE
from trio_orch.cli._run import _not_started, _Output, command_argv
from trio_orch.cli._spawn import (
    Spawner,
    find_program,
    inherited_descriptors,
    keep_descriptors_here,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.cli.conftest import Done

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the fast path is Linux's")


@pytest.fixture
def own_descriptors() -> Iterator[None]:
    """What the ``trio-orch`` script does first: inherited descriptors made close-on-exec
    (pytest, or whatever started it, may have left some); restored afterwards."""
    inherited = inherited_descriptors()
    assert inherited is not None
    keep_descriptors_here()
    try:
        yield
    finally:
        for fd in inherited:
            os.set_inheritable(fd, True)


@pytest.fixture(params=["fast", "fallback"])
def spawn_path(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    own_descriptors: None,
) -> str:
    """Each test twice: with ``posix_spawn`` (in the current directory) and without."""
    monkeypatch.chdir(tmp_path)
    if request.param == "fallback":
        monkeypatch.setattr(Spawner, "fast_path_available", staticmethod(lambda: False))
    else:
        assert Spawner.fast_path_available()
    return str(request.param)


def _row(out: str, name: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(f"│ {name} "))
    return [cell.strip() for cell in line.split("│")[1:-1]]


# --- which commands run directly -------------------------------------------------------------


def test_command_argv_splits_on_blanks_only() -> None:
    assert command_argv("  echo\ta  b ") == ["echo", "a", "b"]
    # sh splits on spaces and tabs only: a no-break space is part of a word
    assert command_argv("echo a\xa0b") == ["echo", "a\xa0b"]
    assert command_argv("echo a\rb") == ["echo", "a\rb"]


@pytest.mark.parametrize(
    "run",
    [
        "echo a && echo b",
        "echo ~",
        "echo a^b",
        "echo 'quoted'",
        "echo \\n",
        "echo {a,b}",
        "x=1",
        "echo a\necho b",
        "test -f x",
        "times",
        "export A",
        "[[ -f x ]]",
        "in x",
    ],
)
def test_shell_syntax_builtins_and_keywords_use_sh(run: str) -> None:
    assert command_argv(run) == ["/bin/sh", "-c", run]


def test_find_program_uses_the_path_of_the_steps_environment(tmp_path: Path) -> None:
    tool = tmp_path / "bin" / "tool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho tool\n")
    tool.chmod(0o755)
    plain = tmp_path / "plain" / "tool"
    plain.parent.mkdir()
    plain.write_text("not executable\n")
    path = f"{tmp_path / 'nowhere'}:{plain.parent}:{tool.parent}"
    assert find_program("tool", {"PATH": path}) == str(tool)
    assert find_program("./x/tool", {"PATH": ""}) == "./x/tool"
    with pytest.raises(PermissionError):
        find_program("tool", {"PATH": str(plain.parent)})
    with pytest.raises(FileNotFoundError):
        find_program("tool", {"PATH": str(tmp_path / "nowhere")})
    (tmp_path / "dir" / "tool").mkdir(parents=True)
    with pytest.raises(PermissionError):  # a directory is found, but it cannot be run
        find_program("tool", {"PATH": str(tmp_path / "dir")})


# --- what a step sees, on both paths -----------------------------------------------------------


def test_a_direct_command_runs_as_under_sh(
    tmp_path: Path, run_cli: Callable[..., Done], spawn_path: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "tool"
    tool.write_text('#!/bin/sh\necho "tool $1 in $(pwd) stdin=$(cat)"\n')
    tool.chmod(0o755)
    script = tmp_path / "noshebang"
    script.write_text('echo "run by sh: $0"\n')
    script.chmod(0o755)
    wf = write(
        tmp_path,
        f"""
[steps.tool]
run = "tool arg"
env = {{ PATH = "{bin_dir}:/usr/bin:/bin" }}
[steps.script]
run = "./noshebang"
[steps.signals]
run = "grep -E ^SigIgn /proc/self/status"
[steps.status]
run = "false"
""",
    )
    done = run_cli("run", str(wf), "-k")
    assert done.status == 1, done.out + done.err
    assert f"tool | tool arg in {tmp_path} stdin=\n" in done.out
    assert "script | run by sh: ./noshebang\n" in done.out
    # SIGPIPE (13) and SIGXFSZ (25) are back at their defaults, as Popen leaves them
    ignored = int(done.out.split("signals | SigIgn:\t")[1].split()[0], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1))
    assert _row(done.out, "status")[:3] == ["status", "failed", "1"]
    assert "✗ status attempt 1/1 failed: exit status 1" in done.out


def test_a_missing_program_is_sh_s_127_and_is_retried(
    tmp_path: Path, run_cli: Callable[..., Done], spawn_path: str
) -> None:
    denied = tmp_path / "denied"
    denied.write_text("echo never\n")
    wf = write(
        tmp_path,
        """
[steps.missing]
run = "no-such-program --flag"
retry = 2
[steps.denied]
run = "./denied"
[steps.listed]
run = ["no-such-program"]
""",
    )
    done = run_cli("run", str(wf), "-k")
    assert done.status == 1, done.out + done.err
    out = done.out
    assert out.count("missing | trio-orch: no-such-program: not found\n") == 2
    assert "✗ missing attempt 1/2 failed: exit status 127; retrying" in out
    assert "✗ missing attempt 2/2 failed: exit status 127" in out
    assert "denied | trio-orch: ./denied: Permission denied\n" in out
    assert "✗ denied attempt 1/1 failed: exit status 126" in out
    # a list never went through sh: it cannot start, and is not retried
    assert "✗ listed attempt 1/1 failed: cannot start 'no-such-program': No such file" in out


def test_inherited_descriptors_do_not_reach_the_steps(
    tmp_path: Path,
    run_cli: Callable[..., Done],
    monkeypatch: pytest.MonkeyPatch,
    own_descriptors: None,
) -> None:
    monkeypatch.chdir(tmp_path)
    read, write_end = os.pipe()
    try:
        os.set_inheritable(write_end, True)
        assert not Spawner.fast_path_available()
        wf = write(tmp_path, '[steps.fds]\nrun = "ls /proc/self/fd"\n')
        done = run_cli("run", str(wf))
    finally:
        os.close(read)
        os.close(write_end)
    assert done.status == 0, done.out + done.err
    fds = {int(line.split("| ")[1]) for line in done.out.splitlines() if line.startswith("fds |")}
    assert fds <= {0, 1, 2, 3}  # 3: the directory ls reads
    assert write_end not in fds or write_end == 3


def test_another_directory_takes_the_fallback(
    tmp_path: Path, run_cli: Callable[..., Done], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    wf = write(tmp_path, '[steps.here]\nrun = "pwd"\n[steps.there]\nrun = "pwd"\ncwd = "sub"\n')
    done = run_cli("run", str(wf))
    assert done.status == 0, done.out + done.err
    assert f"here | {tmp_path}\n" in done.out
    assert f"there | {tmp_path / 'sub'}\n" in done.out


async def test_a_cancelled_child_is_stopped_and_reaped(own_descriptors: None) -> None:
    spawner = Spawner()
    assert spawner.fast
    child = await spawner.start(["sleep", "30"], Path.cwd(), ENV)
    try:
        with trio.move_on_after(0.05):
            await child.exited()
        assert child.reap() is None  # still running
        os.killpg(child.pid, signal.SIGTERM)
        with trio.fail_after(5):
            await child.exited()
        assert child.reap() == -signal.SIGTERM
    finally:
        child.close()


async def test_a_start_that_fails_closes_the_pipe() -> None:
    before = sorted(os.listdir("/proc/self/fd"))
    for spawner in (Spawner(fast=True), Spawner(fast=False)):
        with pytest.raises(FileNotFoundError):
            await spawner.start(["no-such-program"], Path.cwd(), ENV)
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_console_main_exits_with_the_run_s_status(tmp_path: Path) -> None:
    wf = write(tmp_path, '[steps.a]\nrun = "echo hi"\n[steps.b]\nrun = "false"\n')
    program = "from trio_orch.cli import console_main; console_main()"
    done = subprocess.run(
        [sys.executable, "-c", program, "run", str(wf), "-k"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "a | hi\n" in done.stdout
    assert "workflow 'wf' failed after" in done.stdout
    assert done.stderr == ""
    version = subprocess.run(
        [sys.executable, "-c", program, "--version"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (version.returncode, version.stdout.startswith("trio-orch ")) == (0, True)
    many = write(tmp_path, '[steps.many]\nrun = "seq 1 1000000"\n', "many.toml")
    proc = subprocess.Popen(
        [sys.executable, "-c", program, "run", str(many)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"==> many started\n"
    proc.stdout.close()  # | head: the reader goes away
    _, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (141, b"")


def test_ctrl_c_twice_stops_a_step_that_ignores_sigterm(
    tmp_path: Path, run_cli: Callable[..., Done], spawn_path: str
) -> None:
    flag = tmp_path / "started"
    pidfile = tmp_path / "pid"
    # the step ignores SIGTERM and leaves a child in its group that ignores it too
    child = f"echo $$ > {pidfile}; touch {flag}; exec sleep 30"
    wf = write(
        tmp_path,
        f"""
[steps.stubborn]
run = \'\'\'trap "" TERM; sh -c '{child}' & wait\'\'\'
""",
    )

    def interrupt_twice() -> None:
        deadline = time.monotonic() + 15
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)  # the second one: SIGKILL now, not after --grace

    thread = threading.Thread(target=interrupt_twice, daemon=True)
    thread.start()
    started = time.monotonic()
    done = run_cli("run", str(wf), "--grace", "20")
    thread.join(timeout=5)
    assert time.monotonic() - started < 10  # not the 20 s grace
    assert done.status == 130, done.out + done.err
    assert _row(done.out, "stubborn")[:2] == ["stubborn", "cancelled"]
    assert gone(int(pidfile.read_text()))  # its whole group was killed


def test_output_is_cut_into_whole_lines() -> None:
    got: list[bytes] = []
    output = _Output(got.append)
    output.feed(b"a\nb")
    output.feed(b"c\nd\n")
    assert got == [b"a\n", b"bc\nd\n"]
    got.clear()
    output.feed(b"x" * (MAX_LINE + 10))  # no newline yet, but too long to keep waiting
    assert got == [b"x" * MAX_LINE + b"\n"]
    output.feed(b"yz")
    output.finish()
    assert got[1:] == [b"x" * 10 + b"yz\n"]
    output.finish()  # nothing more
    assert len(got) == 2


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (errno.ENOENT, 127, "trio-orch: prog: not found\n"),
        (errno.ENOTDIR, 127, "trio-orch: prog: not found\n"),
        (errno.EACCES, 126, "trio-orch: prog: Permission denied\n"),
        (errno.E2BIG, 126, f"trio-orch: prog: {os.strerror(errno.E2BIG)}\n"),
    ],
)
def test_what_sh_would_say(error: int, status: int, line: str) -> None:
    assert _not_started("prog", OSError(error, os.strerror(error))) == (status, line)


def test_console_main_in_process(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    own_descriptors: None,
) -> None:
    wf = write(tmp_path, '[steps.a]\nrun = "echo hi"\n')

    def exit_now(status: int) -> NoReturn:
        raise SystemExit(status)

    monkeypatch.setattr(os, "_exit", exit_now)
    monkeypatch.setattr(sys, "argv", ["trio-orch", "run", str(wf)])
    with pytest.raises(SystemExit) as info:
        console_main()
    assert info.value.code == 0
    assert gc.isenabled()
    assert "a | hi\n" in capfd.readouterr().out
    monkeypatch.setattr(sys, "argv", ["trio-orch", "bench", "--list"])
    with pytest.raises(SystemExit) as info:
        console_main()
    assert info.value.code == 0
    assert gc.isenabled()
    assert "run" in capfd.readouterr().out


async def test_a_start_in_a_cancelled_scope_starts_nothing(own_descriptors: None) -> None:
    spawner = Spawner()
    assert spawner.fast
    before = sorted(os.listdir("/proc/self/fd"))
    with trio.CancelScope() as scope:
        scope.cancel()
        await spawner.start(["sleep", "30"], Path.cwd(), ENV)
    assert scope.cancelled_caught
    # No pidfd (or pipe) left open, so no process started and left behind.
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_an_ignored_sigchld_takes_the_fallback(own_descriptors: None) -> None:
    assert Spawner.fast_path_available()
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        # The kernel would reap the children: no exit status for the fast path to wait for.
        assert not Spawner.fast_path_available()
    finally:
        signal.signal(signal.SIGCHLD, previous)


@pytest.mark.parametrize("where", ["here", "sub"])  # the fast path and the fallback
def test_a_cancelled_step_can_print_while_it_shuts_down(tmp_path: Path, where: str) -> None:
    (tmp_path / "sub").mkdir()
    ready, marker = tmp_path / "ready", tmp_path / "marker"
    wf = write(
        tmp_path,
        f"""
[steps.slow]
run = 'trap "echo cleaning; echo done > {marker}; exit 0" TERM; touch {ready}; while :; do sleep 0.05; done'
cwd = "{tmp_path / where if where == "sub" else tmp_path}"
""",
    )
    with started_cli("run", str(wf), "--grace", "5", cwd=tmp_path, ready=ready) as proc:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, out + err
    # Its pipe stayed open through the grace period: the trap's echo did not kill it.
    assert marker.read_text() == "done\n"
    assert "slow | cleaning\n" in out
