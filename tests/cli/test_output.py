"""Step output is shown verbatim and fast: bytes as written, ANSI only on a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from tests.cli.conftest import CLI, ENV, ROOT, write
from trio_orch import ProgressSnapshot
from trio_orch.cli._display import LiveDisplay, _snapshot_eta
from trio_orch.cli._output import MAX_LINE, Colors, Writer, split_long_line, strip_ansi

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_markup_emoji_codes_and_invalid_utf8_pass_verbatim(
    tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    script = tmp_path / "say.py"
    script.write_bytes(
        b"import sys\n"
        b"out = sys.stdout.buffer\n"
        b"out.write(b'[red]not markup[/red] :x: :smile: \\xff\\xfe end\\n')\n"
        b"out.write(b'\\x1b[31mred\\x1b[0m plain\\r\\n')\n"
        b"out.write(b'no newline at the end')\n"
    )
    wf = write(tmp_path, f'[steps.say]\nrun = ["{os.sys.executable}", "{script}"]\n')
    from trio_orch.cli import main

    capfdbinary.readouterr()
    assert main(["run", str(wf)]) == 0
    out = capfdbinary.readouterr().out
    assert b"say | [red]not markup[/red] :x: :smile: \xff\xfe end\n" in out
    assert b"say | red plain\r\n" in out  # piped: ANSI stripped, the rest as written
    assert b"say | no newline at the end\n" in out
    assert b"\x1b" not in out


def test_a_long_multibyte_line_is_split_on_a_character_boundary(
    tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    text = "é" * 40_000  # 80,000 bytes, no newline until the end
    (tmp_path / "long.txt").write_text(text + "\n", encoding="utf-8")
    wf = write(tmp_path, '[steps.long]\nrun = "cat long.txt"\n')
    from trio_orch.cli import main

    capfdbinary.readouterr()
    assert main(["run", str(wf)]) == 0
    lines = [
        line[len(b"long | ") :]
        for line in capfdbinary.readouterr().out.split(b"\n")
        if line.startswith(b"long | ")
    ]
    assert [len(line) for line in lines] == [MAX_LINE, 80_000 - MAX_LINE]
    assert b"".join(lines).decode("utf-8") == text  # every piece decodes on its own too
    assert all(line.decode("utf-8") for line in lines)


def test_split_long_line() -> None:
    assert split_long_line(b"abcdef", 4) == [b"abcd", b"ef"]
    euro = "€".encode()  # 3 bytes
    assert split_long_line(b"a" + euro + euro, 4) == [b"a" + euro, euro]
    assert split_long_line(b"\x80" * 9, 4) == [b"\x80" * 4, b"\x80" * 4, b"\x80"]
    assert split_long_line(b"", 4) == [b""]


def test_strip_ansi_and_colors() -> None:
    assert strip_ansi(b"\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok\x1b[2K") == b"red ok"
    assert strip_ansi(b"plain") == b"plain"
    tty = Colors(tty=True, env={})
    assert (tty.enabled, tty.keep_ansi) == (True, True)
    assert tty.paint("x", "31") == "\x1b[31mx\x1b[0m"
    pipe = Colors(tty=False, env={})
    assert (pipe.enabled, pipe.keep_ansi, pipe.paint("x", "31")) == (False, False, "x")
    forced = Colors(tty=False, env={"FORCE_COLOR": "1"})
    assert (forced.enabled, forced.keep_ansi) == (True, True)
    no_color = Colors(tty=True, env={"NO_COLOR": "1"})
    assert (no_color.enabled, no_color.keep_ansi) == (False, True)
    assert Colors(tty=True, env={"FORCE_COLOR": "0"}).enabled is False


def test_writer_batches_and_goes_quiet_on_a_closed_pipe() -> None:
    read, write_end = os.pipe()
    closed: list[bool] = []
    writer = Writer(write_end, on_closed=lambda: closed.append(True))
    writer.step_output(b"s | ", b"1\n2\n")
    writer.line("done")
    assert select.select([read], [], [], 0)[0] == []  # nothing written before the flush
    writer.flush()
    assert os.read(read, 100) == b"s | 1\ns | 2\ndone\n"
    os.close(read)
    writer.line("lost")
    writer.flush()
    writer.flush(force=True)
    assert (closed, writer.closed) == ([True], True)
    os.close(write_end)


def test_the_display_shows_the_eta_range() -> None:
    def snap(eta: float | None, low: float | None = None, high: float | None = None) -> str:
        return _snapshot_eta(ProgressSnapshot(0.5, 0.5, 0.1, eta, 1.0, False, low, high))

    assert snap(None) == "eta ?"
    assert snap(45.0) == "eta 45 s"
    assert snap(300, 120.0, 330.0) == "eta 2\u20136 min"


def test_live_block_never_has_more_rows_than_the_terminal() -> None:
    read, write_end = os.pipe()
    writer = Writer(write_end, keep_ansi=True)
    display = LiveDisplay(writer, Colors(tty=True, env={}), 6, size=lambda: (40, 8))
    display.set_total(20)
    for i in range(20):
        display.step_started(f"s{i}", 1, 1)
    display.refresh(None)
    written = os.read(read, 100_000).decode()
    rows = written.split("\n")[:-1][-display._drawn :]  # the block is drawn last
    assert 0 < len(rows) <= 8 - 1
    assert any(row.startswith("… 15 more running: s5, s6") for row in rows)
    assert all(len(strip_ansi(row.encode()).decode()) < 40 for row in rows)
    display.step_succeeded("s0", 1, 0.5)
    display.step_output("s1", b"hello\n")
    display.refresh(None)
    again = os.read(read, 100_000)
    assert again.startswith(b"\r\x1b[7A\x1b[J")  # the old block (7 rows) is erased first
    assert b"s0 succeeded in 0.50s" in again
    display.close()
    os.close(read)
    os.close(write_end)


def _run_on_a_pty(args: list[str], env: dict[str, str], rows: int = 24) -> bytes:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, 100, 0, 0))
    proc = subprocess.Popen(
        [*CLI, *args], cwd=ROOT, env=env, stdout=follower, stderr=follower, stdin=follower
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child side closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(leader)
    assert proc.returncode == 0, b"".join(chunks)
    return b"".join(chunks)


def test_on_a_terminal_ansi_passes_and_bars_are_drawn(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
[steps.work]
run = 'printf "\\033[31mred\\033[0m\\n"; for p in 25 50 75; do echo "::progress $p%"; sleep 0.12; done'
weight = 3
[steps.after]
run = "echo done"
depends_on = ["work"]
""",
    )
    out = _run_on_a_pty(["run", str(wf)], ENV)
    assert b" work |\x1b[0m \x1b[31mred\x1b[0m\r\n" in out  # the step's colours pass through
    assert b"overall" in out  # the live block was drawn
    assert b"::progress" not in out
    assert b"workflow 'wf' succeeded in" in out


def test_force_color_into_a_pipe_draws_no_bars(
    tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from trio_orch.cli import main

    monkeypatch.setenv("FORCE_COLOR", "1")
    wf = write(tmp_path, "[steps.a]\nrun = 'printf \"\\033[32mgreen\\033[0m\\n\"; sleep 0.3'\n")
    capfdbinary.readouterr()
    assert main(["run", str(wf)]) == 0
    out = capfdbinary.readouterr().out
    assert b"a |\x1b[0m \x1b[32mgreen\x1b[0m\n" in out  # FORCE_COLOR keeps colours
    assert b"overall" not in out  # but no live bars go into a pipe
    assert b"\x1b[J" not in out


@given(text=st.text(min_size=0, max_size=300), limit=st.integers(min_value=4, max_value=64))
def test_split_long_line_keeps_every_byte_and_every_character(text: str, limit: int) -> None:
    data = text.encode("utf-8")
    pieces = split_long_line(data, limit)
    assert b"".join(pieces) == data
    assert all(len(p) <= limit for p in pieces)
    assert all(p.decode("utf-8") is not None for p in pieces)  # never inside a character
    assert len(pieces) == 1 or all(pieces)


@given(data=st.binary(max_size=200), limit=st.integers(min_value=4, max_value=64))
def test_split_long_line_of_any_bytes(data: bytes, limit: int) -> None:
    pieces = split_long_line(data, limit)
    assert b"".join(pieces) == data
    assert all(len(p) <= limit for p in pieces)
