"""An interactive command loop whose commands are handled by actors.

Lines become typed ``Command`` events; each command's handler runs as an actor and its
replies are printed as they come.  ``build`` runs a small workflow and shows its progress.

Run it interactively: ``python examples/command_loop.py -i`` (``help``, Ctrl-D to leave).
Without ``-i`` it plays a short scripted session, so that it also runs unattended.
"""

from __future__ import annotations

import sys

import attrs
import trio
import trio.testing

from trio_orch import (
    Command,
    CommandLoop,
    Reply,
    StepContext,
    StepProgress,
    Workflow,
    open_event_bus,
)

loop = CommandLoop(prompt="orch> ", intro="trio_orch command loop: type 'help'")


@attrs.frozen
class AddArgs:
    a: float
    b: float


@loop.command("add", help="add A B: add two numbers", params=AddArgs)
async def add(command: Command[AddArgs], reply: Reply) -> str:
    assert command.params is not None
    return f"{command.params.a + command.params.b:g}"


@loop.command("build", help="build: run a two-step workflow, showing its progress")
async def build(command: Command[None], reply: Reply) -> str:
    wf = Workflow("build")

    @wf.step()
    async def compile_(ctx: StepContext) -> int:
        for n in range(1, 5):
            await trio.sleep(0.01)
            ctx.progress(n / 4)
        return 4

    @wf.step(depends_on=[compile_])
    async def test(ctx: StepContext) -> str:
        await trio.sleep(0.01)
        return "42 passed"

    async with (
        open_event_bus() as bus,
        bus.subscribe(StepProgress, max_buffer=100) as progress,
        trio.open_nursery() as nursery,
    ):

        async def show() -> None:
            async for event in progress:
                await reply(f"  {event.step}: {event.fraction:4.0%}")

        nursery.start_soon(show)
        result = await wf.run(bus=bus)
        nursery.cancel_scope.cancel()
    return f"build {result.status.name.lower()}: {result.steps['test'].value}"


SCRIPT = "help\nadd 2 40\nbuild\nbiuld\n"


async def main() -> None:
    if "-i" in sys.argv:
        await loop.run()
        return
    source = trio.testing.MemoryReceiveStream()
    source.put_data(SCRIPT.encode())
    source.put_eof()
    sink = trio.testing.MemorySendStream()
    await loop.run(source, sink)
    print(sink.get_data_nowait().decode(), end="")


if __name__ == "__main__":
    trio.run(main)
