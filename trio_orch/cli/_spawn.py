"""How ``trio-orch run`` starts a step's process and waits for it to exit.

Two ways, with the same result for the step:

* the fast one (Linux): :func:`os.posix_spawn` (``vfork`` + ``exec`` in glibc, as make does)
  straight from the event loop, and a pidfd that Trio watches for the exit.  Starting a
  process this way saves the Python side of :func:`subprocess.Popen` and the hand-over to a
  worker thread that :func:`trio.lowlevel.open_process` makes (about a quarter of a
  millisecond a step on a small VM; the kernel's part is the same);
* :func:`trio.lowlevel.open_process` otherwise: when the step runs in another directory than
  the current one (``posix_spawn`` has no ``cwd`` in Python 3.11), when this process holds
  inheritable descriptors above 2 (``Popen`` closes them in the child; ``posix_spawn`` would
  pass them on: the ``trio-orch`` script makes them close-on-exec first, see
  :func:`keep_descriptors_here`), or where there is no pidfd (not Linux, an old kernel, a
  sandbox).

Either way the child runs in a new session (its own process group), with stdin from
``/dev/null``, stdout and stderr on one pipe, the environment it is given, SIGPIPE and
SIGXFSZ at their defaults (Python ignores them; ``Popen`` restores them too), and a program
without a ``/`` looked up on the ``PATH`` of that environment (by ``posix_spawnp`` when it is
this process's ``PATH``, the usual case; by :func:`find_program` otherwise).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

__all__ = ["Child", "Spawner", "find_program", "inherited_descriptors", "keep_descriptors_here"]

#: signals Python ignores that a child must get at their defaults (as Popen's restore_signals)
_DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)


def inherited_descriptors() -> list[int] | None:
    """The descriptors above 2 that a child would inherit (None: cannot tell, no ``/proc``)."""
    try:
        numbers = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # pragma: no cover - no /proc
        return None
    found = []
    for fd in numbers:
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:  # the descriptor listdir itself used, closed by now
                continue
    return found


def keep_descriptors_here() -> None:
    """Make the descriptors above 2 this process inherited close-on-exec.

    ``trio-orch run`` calls it when it owns the process (the ``trio-orch`` script): its steps
    never got those descriptors (``Popen`` closes them in the child), and with them
    close-on-exec ``posix_spawn`` can start the steps (see :class:`Spawner`).
    """
    for fd in inherited_descriptors() or ():
        with contextlib.suppress(OSError):
            os.set_inheritable(fd, False)


def find_program(program: str, env: Mapping[str, str]) -> str:
    """The file ``execvp`` would run for ``program`` with ``env``'s ``PATH``.

    A name with a ``/`` is returned as it is.

    Raises:
        PermissionError: a candidate exists but is not an executable file (``EACCES``).
        FileNotFoundError: no directory of the ``PATH`` has it (``ENOENT``).
    """
    if "/" in program:
        return program
    denied = False
    for directory in os.get_exec_path(env):
        path = os.path.join(directory, program)
        try:
            mode = os.stat(path).st_mode
        except (OSError, ValueError):
            continue
        if (mode & 0o170000) == 0o100000 and os.access(path, os.X_OK):  # a regular file
            return path
        denied = True
    if denied:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


class Child:
    """A started step process: its pid, its output, its exit.

    Attributes:
        pid: the process id (also its process group's id: it leads a new session).
    """

    __slots__ = ("_output", "_pidfd", "_process", "pid")

    def __init__(
        self, pid: int, output: int, *, pidfd: int = -1, process: trio.Process | None = None
    ) -> None:
        self.pid = pid
        # The read end of its stdout/stderr pipe, open until close(): a step stopped by a
        # cancellation may still print while it shuts down, and must not die of SIGPIPE.
        self._output = trio.lowlevel.FdStream(output)
        self._pidfd = pidfd
        self._process = process

    async def pass_output(
        self, feed: Callable[[bytes], object], exited: Callable[[], object]
    ) -> None:
        """Give each chunk of the output to ``feed``; call ``exited`` once the process exited.

        Returns when the process has exited and its output reached its end (what is still
        running of its process group keeps the pipe open: ``exited`` may kill it).  On the
        fast path the process is not reaped yet when ``exited`` is called (see :meth:`reap`).

        Cancellation:
            Cancellable; the process goes on running and the pipe stays open (see
            :meth:`drain`).
        """

        async def pump() -> None:
            async for chunk in self._output:
                feed(bytes(chunk))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump)
            await self.exited()
            exited()

    def drain(self, feed: Callable[[bytes], object]) -> None:
        """Give ``feed`` what is waiting in the pipe now, without blocking (after a stop)."""
        fd = self._output.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # nothing more for now (EAGAIN), or the pipe failed
                return
            if not chunk:
                return
            feed(chunk)

    async def exited(self) -> None:
        """Return once the process has exited.

        On the fast path it is not reaped yet, so its pid (and process group id) cannot be
        reused until :meth:`reap`.

        Cancellation:
            Cancellable; the process goes on running.
        """
        if self._process is not None:
            await self._process.wait()
        else:
            await trio.lowlevel.wait_readable(self._pidfd)

    def reap(self, *, block: bool = False) -> int | None:
        """The exit status (negative: killed by that signal), or None while it runs.

        Args:
            block: wait for the exit (only after :meth:`exited` returned: it is immediate).
        """
        if self._process is not None:
            return self._process.poll()
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # pragma: no cover - reaped already: nobody else does it
            return None
        if pid == 0:
            return None
        self._close_pidfd()
        return os.waitstatus_to_exitcode(status)

    def _close_pidfd(self) -> None:
        if self._pidfd >= 0:
            trio.lowlevel.notify_closing(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1

    def close(self) -> None:
        """Close the pipe (and the pidfd); the process itself is left alone."""
        self._output.close()
        self._close_pidfd()


class Spawner:
    """Starts the processes of one run (the checks for the fast path are made once).

    Args:
        fast: use ``posix_spawn`` where it gives the same child as ``Popen``; None: decide
            by looking at this process (:meth:`fast_path_available`).
    """

    __slots__ = ("_cwd", "fast")

    def __init__(self, *, fast: bool | None = None) -> None:
        self.fast = self.fast_path_available() if fast is None else fast
        self._cwd = os.getcwd() if self.fast else ""

    @staticmethod
    def fast_path_available() -> bool:
        """True when ``posix_spawn`` and pidfds work here and no descriptor would leak."""
        if not (hasattr(os, "posix_spawn") and hasattr(os, "pidfd_open")):
            return False  # pragma: no cover - not Linux
        try:
            os.close(os.pidfd_open(os.getpid()))
        except OSError:  # pragma: no cover - an old kernel, a sandbox
            return False
        if signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
            return False  # the kernel reaps the children: no exit status to wait for
        return inherited_descriptors() == []

    async def start(self, argv: list[str], cwd: Path, env: Mapping[str, str]) -> Child:
        """Start ``argv`` in ``cwd`` with ``env``.

        Raises:
            OSError: the program cannot be started (``ENOENT``: not found, ``EACCES``: not
                executable, ``ENOEXEC``: not a format the kernel runs, ...).

        Cancellation:
            A cancellation before the process starts raises ``Cancelled``; once it has
            started the process is returned, and the caller's next checkpoint sees it.
        """
        read, write = os.pipe()
        try:
            if self.fast and read > 2 and write > 2 and str(cwd) == self._cwd:
                await trio.lowlevel.checkpoint_if_cancelled()
                child = self._posix_spawn(argv, env, read, write)
                await trio.lowlevel.cancel_shielded_checkpoint()
                return child
            process = await trio.lowlevel.open_process(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=write,
                stderr=write,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
            return Child(process.pid, read, process=process)
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)

    def _posix_spawn(self, argv: list[str], env: Mapping[str, str], read: int, write: int) -> Child:
        program = argv[0]
        path = env.get("PATH")
        if "/" not in program and path is not None and path == os.environ.get("PATH"):
            # posix_spawnp searches this process's PATH, in the child (no stat calls here)
            spawn = os.posix_spawnp
        else:
            spawn, program = os.posix_spawn, find_program(program, env)
        pid = spawn(
            program,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, write, 1),
                (os.POSIX_SPAWN_DUP2, write, 2),
            ],
            setsid=True,
            setsigdef=_DEFAULT_SIGNALS,
        )
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # pragma: no cover - out of descriptors: stop it, report the error
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        return Child(pid, read, pidfd=pidfd)
