"""The command loop, driven through memory streams."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from trio_orch import Command, CommandLoop, Reply


def _streams(
    text: str, *, eof: bool = True
) -> tuple[trio.testing.MemoryReceiveStream, trio.testing.MemorySendStream]:
    source = trio.testing.MemoryReceiveStream()
    source.put_data(text.encode())
    if eof:
        source.put_eof()
    return source, trio.testing.MemorySendStream()


@attrs.frozen
class AddArgs:
    a: int
    b: int = 0


def _loop() -> CommandLoop:
    loop = CommandLoop(prompt="> ", intro="welcome")

    @loop.command("greet", help="greet NAME")
    async def greet(command: Command[None], reply: Reply) -> str:
        return f"hello {' '.join(command.args)}"

    @loop.command("add", help="add A B", params=AddArgs)
    async def add(command: Command[AddArgs], reply: Reply) -> str:
        assert command.params is not None
        return str(command.params.a + command.params.b)

    @loop.command("count", help="count to N, one reply at a time")
    async def count(command: Command[None], reply: Reply) -> None:
        for n in range(1, int(command.args[0]) + 1):
            await reply(f"{n}")
            await trio.sleep(1)

    @loop.command("boom")
    async def boom(command: Command[None], reply: Reply) -> None:
        raise RuntimeError("it broke")

    return loop


async def test_commands_help_unknown_and_eof(autojump_clock: trio.abc.Clock) -> None:
    source, sink = _streams(
        "greet big world\n\nadd 2 3\nadd 2\nadd x y\nadd 1 2 3\nhelp\ngreat\nzzz\nboom\n"
        "count 3\n'unclosed\n"
    )
    ran = await _loop().run(source, sink)
    out = sink.get_data_nowait().decode()
    assert ran == 5  # greet, add twice, boom, count; the two bad adds never run
    assert out.startswith(
        "welcome\n> hello big world\n> > 5\n> 2\n> usage: add A B\n> usage: add A B\n"
    )
    assert "commands:\n  add    add A B\n  boom\n  count  count to N, one reply at a time\n" in out
    assert "unknown command 'great'; did you mean 'greet'?\n" in out
    assert "unknown command 'zzz'; type 'help' for the list\n" in out
    assert "> error: it broke\n" in out
    assert "> 1\n2\n3\n" in out
    assert "error: No closing quotation\n" in out
    assert out.endswith("> \n")  # EOF (Ctrl-D) ends the loop on a fresh line
    assert trio.current_time() == 3


async def test_exit_stops_reading() -> None:
    source, sink = _streams("greet a\nexit\ngreet b\n", eof=False)
    loop = _loop()
    assert await loop.run(source, sink) == 1
    assert b"hello b" not in sink.get_data_nowait()


async def test_cancel_ends_the_loop(autojump_clock: trio.abc.Clock) -> None:
    source, sink = _streams("count 100\n", eof=False)
    with trio.move_on_after(2.5) as scope:
        await _loop().run(source, sink)
    assert scope.cancelled_caught
    assert sink.get_data_nowait().decode().endswith("1\n2\n3\n")


def test_bad_registrations() -> None:
    loop = _loop()

    async def handler(command: Command[None], reply: Reply) -> None:
        return None

    with pytest.raises(ValueError, match=r"^name must be a new command name, got 'help'$"):
        loop.command("help")(handler)
    with pytest.raises(ValueError, match=r"^name must be a new command name, got 'greet'$"):
        loop.command("greet")(handler)
    with pytest.raises(
        TypeError, match=r"^params must be an attrs class or None, got <class 'int'>$"
    ):
        loop.command("x", params=int)
    with pytest.raises(TypeError, match=r"^handler must be callable, got 3$"):
        loop.command("y")(3)  # type: ignore[arg-type]
    assert loop.commands == ("add", "boom", "count", "greet")
