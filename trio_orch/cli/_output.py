"""Where ``trio-orch run`` writes: verbatim, batched bytes on stdout.

A step's output is never decoded, re-encoded or interpreted: its bytes are written as they
came, with the step's name as a prefix, in batches (one ``write`` per chunk read from the
step, not one per line).  ANSI escape sequences pass through to a terminal and are stripped
when stdout is not one (unless ``FORCE_COLOR`` says otherwise).  A line longer than
:data:`MAX_LINE` bytes is split on a UTF-8 character boundary.  A closed pipe (``| head``)
calls ``on_closed`` once, after which every write is dropped.
"""

from __future__ import annotations

import errno
import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "MAX_LINE",
    "Colors",
    "Writer",
    "split_long_line",
    "strip_ansi",
]

#: the longest line written as one (bytes); longer ones are split on a UTF-8 boundary
MAX_LINE = 64 * 1024

#: CSI sequences (colours, cursor moves), OSC sequences (titles, links) and lone escapes
_ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def strip_ansi(data: bytes) -> bytes:
    """``data`` without ANSI escape sequences."""
    return _ANSI.sub(b"", data) if b"\x1b" in data else data


def split_long_line(line: bytes, limit: int = MAX_LINE) -> list[bytes]:
    """``line`` cut into pieces of at most ``limit`` bytes, never inside a UTF-8 character.

    Bytes that are not UTF-8 are cut at ``limit`` (there is no character to keep whole).
    """
    pieces = []
    while len(line) > limit:
        cut = limit
        # step back over continuation bytes (0b10xxxxxx) to the start of the character
        while cut > limit - 3 and (line[cut] & 0xC0) == 0x80:
            cut -= 1
        if (line[cut] & 0xC0) == 0x80:  # not UTF-8 after all: cut where the limit says
            cut = limit
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    return value not in ("0", "false", "no")


class Colors:
    """Whether to colour, following ``NO_COLOR`` and ``FORCE_COLOR``.

    ``NO_COLOR`` (any non-empty value) turns off trio-orch's own colours.  ``FORCE_COLOR``
    (non-empty, not ``0``) turns them on even when stdout is no terminal, and keeps the
    steps' own ANSI sequences there.  Neither ever draws live bars into a pipe.
    """

    __slots__ = ("enabled", "keep_ansi")

    def __init__(self, *, tty: bool, env: Mapping[str, str]) -> None:
        force = _flag(env, "FORCE_COLOR")
        no_color = bool(env.get("NO_COLOR"))
        self.enabled = not no_color and (tty if force is None else force)
        #: pass the steps' ANSI sequences through (a terminal, or FORCE_COLOR)
        self.keep_ansi = tty if force is None else force

    def paint(self, text: str, code: str) -> str:
        """``text`` in SGR colour ``code`` (``"31"``, ``"1;36"``...) when colours are on."""
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text


class Writer:
    """Batched writes of bytes to a file descriptor (stdout by default).

    Args:
        fd: the descriptor.
        keep_ansi: write ANSI sequences of the steps' output as they are (else stripped).
        on_closed: called once when the reader went away (``| head``); later writes are
            dropped.
    """

    __slots__ = ("_before_flush", "_chunks", "_closed", "_fd", "_size", "keep_ansi", "on_closed")

    def __init__(
        self, fd: int = 1, *, keep_ansi: bool = False, on_closed: Callable[[], object] | None = None
    ) -> None:
        self._fd = fd
        self.keep_ansi = keep_ansi
        self.on_closed = on_closed
        self._chunks: list[bytes] = []
        self._size = 0
        self._closed = False
        self._before_flush: Callable[[bytes], bytes] | None = None

    @property
    def closed(self) -> bool:
        """True once the reader of stdout went away."""
        return self._closed

    def set_wrapper(self, wrap: Callable[[bytes], bytes] | None) -> None:
        """Pass every batch through ``wrap`` before it is written (None: as it is)."""
        self._before_flush = wrap

    def step_output(self, prefix: bytes, data: bytes) -> None:
        """Add complete lines ``data`` (each ending in ``\\n``) from a step, each prefixed."""
        if not self.keep_ansi:
            data = strip_ansi(data)
        if prefix:
            data = prefix + data[:-1].replace(b"\n", b"\n" + prefix) + b"\n"
        self.add(data)

    def line(self, text: str) -> None:
        """Add one line of trio-orch's own text."""
        self.add(text.encode("utf-8", "replace") + b"\n")

    def add(self, data: bytes) -> None:
        """Add raw bytes; written at the next :meth:`flush` (at once past 256 KiB)."""
        if self._closed:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > 256 * 1024:
            self.flush()

    def flush(self, *, force: bool = False) -> None:
        """Write what is pending, in one go (``force``: also when nothing is, for the wrapper).

        A closed reader (``EPIPE``) calls ``on_closed`` once instead of raising.
        """
        if self._closed or not (self._chunks or force):
            return
        data = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        self._chunks.clear()
        self._size = 0
        if self._before_flush is not None:
            data = self._before_flush(data)
        view = memoryview(data)
        try:
            while view:
                try:
                    written = os.write(self._fd, view)
                except BlockingIOError:  # a non-blocking stdout that is full: wait for it
                    import select

                    select.select([], [self._fd], [])
                    continue
                view = view[written:]
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EINVAL):
                raise
            self._closed = True
            if self.on_closed is not None:
                self.on_closed()
