"""An interactive command loop: lines in, typed command events to handler actors, replies out.

Each line read from a byte stream (stdin by default) is split like a shell would
(:func:`shlex.split`) into a command name and its arguments, and becomes a :class:`Command`
event.  The event goes to the handler actor registered for that name (one actor per command,
spawned in a choreographer for the loop's lifetime), whose replies are written to the output
stream as they come.  Commands run one at a time, in the order typed.

Built in: ``help`` (every command with its help text), ``exit`` / ``quit``, an unknown name
(answered with a "did you mean", never fatal), and end of input (Ctrl-D), which ends the
loop cleanly.  A handler that raises is answered with ``error: ...`` and logged; the loop
goes on.  Ctrl-C (``KeyboardInterrupt``) propagates as always.

Typed arguments: ``@loop.command("add", params=AddArgs)`` structures the words into the attrs
class ``AddArgs`` field by field with cattrs (``add 2 3`` -> ``AddArgs(a=2, b=3)``); words that
do not fit are answered with the usage line.
"""

from __future__ import annotations

import difflib
import os
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

import attrs
import trio

from trio_orch._log import get_logger
from trio_orch._validate import check_callable, check_nonempty_str
from trio_orch.events import Actor, Event, open_choreographer, open_event_bus

if TYPE_CHECKING:
    from trio_orch.events import ActorRef

__all__ = ["Command", "CommandLoop", "Reply"]

_logger = get_logger("commands")
_MAX_LINE = 64 * 1024
_BUILTINS = ("exit", "help", "quit")

P = TypeVar("P")

#: What a handler may send back: a line of text to print.
Reply = Callable[[str], Awaitable[None]]


@final
@attrs.frozen
class Command(Event, Generic[P]):
    """One command line, as a typed event.

    Attributes:
        name: the command's name (the first word).
        args: the words after it.
        line: the line as typed.
        params: ``args`` structured into the command's ``params`` class, or ``None``.
    """

    name: str
    args: tuple[str, ...]
    line: str
    params: P | None = None


@attrs.frozen
class _Done:
    """Marks the end of one command's replies."""


@attrs.frozen
class _Spec:
    name: str
    handler: Callable[[Command[Any], Reply], Awaitable[str | None]]
    help: str
    params: type | None


class _HandlerActor(Actor[Command[Any]]):
    """Runs one command's handler for each :class:`Command` sent to it."""

    def __init__(self, spec: _Spec, replies: trio.MemorySendChannel[str | _Done]) -> None:
        self._spec = spec
        self._replies = replies

    async def handle(self, event: Command[Any]) -> None:
        try:
            answer = await self._spec.handler(event, self._replies.send)
            if answer is not None:
                await self._replies.send(str(answer))
        except Exception as exc:
            _logger.warning(
                "trio_orch.commands.handler_failed", command=event.name, error=repr(exc)
            )
            await self._replies.send(f"error: {exc}")
        finally:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + 1.0
                await self._replies.send(_Done())


@final
class CommandLoop:
    """A read-eval-print loop whose commands are handled by actors.

    Args:
        prompt: written before each line is read ("" for none, e.g. when piped).
        intro: written once when the loop starts.

    Register commands with :meth:`command`, then ``await loop.run()``.
    """

    def __init__(self, *, prompt: str = "> ", intro: str | None = None) -> None:
        self._prompt = prompt
        self._intro = intro
        self._specs: dict[str, _Spec] = {}

    def command(
        self, name: str, *, help: str = "", params: type | None = None
    ) -> Callable[
        [Callable[[Command[Any], Reply], Awaitable[str | None]]],
        Callable[[Command[Any], Reply], Awaitable[str | None]],
    ]:
        """Register ``async def handler(command, reply) -> str | None`` for ``name``.

        The handler may ``await reply(text)`` any number of times while it runs (for
        progress); a returned string is printed last.

        Args:
            name: the command's name; ``help``, ``exit`` and ``quit`` are built in.
            help: one line shown by ``help``.
            params: an attrs class; the arguments are structured into it by cattrs.

        Raises:
            ValueError: the name is empty, built in, or registered already.
            TypeError: ``params`` is not an attrs class.
        """
        check_nonempty_str("name", name)
        if name in _BUILTINS or name in self._specs:
            msg = f"name must be a new command name, got {name!r}"
            raise ValueError(msg)
        if params is not None and not attrs.has(params):
            msg = f"params must be an attrs class or None, got {params!r}"
            raise TypeError(msg)

        def register(
            handler: Callable[[Command[Any], Reply], Awaitable[str | None]],
        ) -> Callable[[Command[Any], Reply], Awaitable[str | None]]:
            check_callable("handler", handler)
            self._specs[name] = _Spec(name, handler, help, params)
            return handler

        return register

    @property
    def commands(self) -> tuple[str, ...]:
        """The registered command names, sorted."""
        return tuple(sorted(self._specs))

    def help_text(self) -> str:
        """What ``help`` prints."""
        width = max((len(n) for n in (*self._specs, *_BUILTINS)), default=4)
        lines = [
            f"  {name:<{width}}  {spec.help}".rstrip() for name, spec in sorted(self._specs.items())
        ]
        lines.append(f"  {'help':<{width}}  show this list")
        lines.append(f"  {'exit':<{width}}  leave (also: quit, Ctrl-D)")
        return "commands:\n" + "\n".join(lines)

    def _usage(self, spec: _Spec) -> str:
        assert spec.params is not None
        fields = " ".join(a.name.upper() for a in attrs.fields(spec.params))
        return f"usage: {spec.name} {fields}"

    def _parse(self, spec: _Spec, args: list[str]) -> object:
        if spec.params is None:
            return None
        names = [a.name for a in attrs.fields(spec.params)]
        if len(args) > len(names):
            raise ValueError(self._usage(spec))
        import cattrs  # loaded on first use: `import trio_orch` stays light

        try:
            return cattrs.structure(dict(zip(names, args, strict=False)), spec.params)
        except Exception as exc:
            raise ValueError(self._usage(spec)) from exc

    async def run(
        self,
        input: trio.abc.ReceiveStream | None = None,
        output: trio.abc.SendStream | None = None,
    ) -> int:
        """Read and run commands until ``exit``, ``quit`` or the end of ``input``.

        Args:
            input: the byte stream to read lines from (default: this process's stdin).
            output: where prompts and replies go (default: this process's stdout).

        Returns:
            How many commands ran (built-ins and unknown names not counted).

        Raises:
            KeyboardInterrupt: Ctrl-C, as always.

        Cancellation: cancelling it ends the loop; the actors are cancelled with it.
        """
        owned: list[trio.lowlevel.FdStream] = []
        if input is None:
            input = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
            owned.append(input)
        if output is None:
            output = trio.lowlevel.FdStream(os.dup(sys.stdout.fileno()))
            owned.append(output)
        try:
            return await self._serve(input, output)
        finally:
            for stream in owned:
                stream.close()

    async def _serve(self, input: trio.abc.ReceiveStream, output: trio.abc.SendStream) -> int:
        async def write(text: str) -> None:
            await output.send_all(text.encode())

        send, receive = trio.open_memory_channel[str | _Done](16)
        ran = 0
        async with open_event_bus() as bus, open_choreographer(bus) as choreo:
            refs: dict[str, ActorRef[Command[Any]]] = {}
            for name, spec in self._specs.items():
                refs[name] = await choreo.spawn(
                    _HandlerActor(spec, send.clone()), inbox=1, name=f"command:{name}"
                )
            if self._intro:
                await write(self._intro + "\n")
            lines = _LineReader(input)
            while True:
                await write(self._prompt)
                line = await lines.next()
                if line is None:
                    await write("\n" if self._prompt else "")
                    break
                try:
                    words = shlex.split(line)
                except ValueError as exc:
                    await write(f"error: {exc}\n")
                    continue
                if not words:
                    continue
                name, args = words[0], words[1:]
                if name in {"exit", "quit"}:
                    break
                if name == "help":
                    await write(self.help_text() + "\n")
                    continue
                found = self._specs.get(name)
                if found is None:
                    await write(self._unknown(name) + "\n")
                    continue
                try:
                    params = self._parse(found, args)
                except ValueError as exc:
                    await write(f"{exc}\n")
                    continue
                ran += 1
                await refs[name].send(Command(name, tuple(args), line, params))
                async for reply in receive:
                    if isinstance(reply, _Done):
                        break
                    await write(reply + "\n")
        return ran

    def _unknown(self, name: str) -> str:
        close = difflib.get_close_matches(name, [*self._specs, *_BUILTINS], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; type 'help' for the list"
        return f"unknown command {name!r}{hint}"


class _LineReader:
    """Lines of a byte stream, one ``next()`` at a time; ``None`` at the end."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._pending = b""
        self._eof = False

    async def next(self) -> str | None:
        await trio.lowlevel.checkpoint()
        while b"\n" not in self._pending and not self._eof:
            chunk = await self._stream.receive_some(4096)
            if not chunk:
                self._eof = True
            self._pending += chunk
            if len(self._pending) > _MAX_LINE and b"\n" not in self._pending:
                self._pending += b"\n"  # an endless line is cut, not buffered without bound
        if not self._pending:
            return None
        line, sep, rest = self._pending.partition(b"\n")
        self._pending = rest if sep else b""
        return line.decode(errors="replace").rstrip("\r")
