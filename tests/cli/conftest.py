"""Helpers for the ``trio-orch`` tests: in-process runs (fd-level capture) and subprocesses."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest

from trio_orch.cli import main

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent.parent
CLI = [sys.executable, "-m", "trio_orch"]
_COLOR_VARS = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")
ENV = {k: v for k, v in os.environ.items() if k not in _COLOR_VARS}


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _COLOR_VARS:
        monkeypatch.delenv(name, raising=False)


@attrs.frozen
class Done:
    status: int
    out: str
    err: str


@pytest.fixture
def run_cli(capfd: pytest.CaptureFixture[str]) -> Callable[..., Done]:
    """``run_cli("run", ...)``: the CLI in this process; stdout/stderr captured at fd level."""

    def run(*args: str) -> Done:
        capfd.readouterr()
        status = main(list(args))
        out, err = capfd.readouterr()
        return Done(status, out, err)

    return run


def cli(
    *args: str, cwd: Path = ROOT, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``trio-orch ARGS`` in a subprocess (``python -m trio_orch``)."""
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=ENV | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write(tmp_path: Path, text: str, name: str = "wf.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def started_cli(*args: str, cwd: Path, ready: Path) -> Iterator[subprocess.Popen[str]]:
    """``trio-orch ARGS`` in a subprocess, handed over once ``ready`` exists (a step of the
    run creates it); killed on the way out if it is still running."""
    proc = subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not ready.exists():  # a real wait: the subprocess has to start
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.02)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def gone(pid: int) -> bool:
    """True once process ``pid`` has exited (a zombie waiting for its reaper counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
