"""A terminal app on the event layer: user input -> command actor -> UI updates at <= 60 fps.

    UserInput events --flow--> CommandHandler actor --publish--> UiUpdate events
    UiUpdate events --flow: batch(256, 1/60) then throttle(60)--> Screen actor (one frame per batch)

The keyboard is simulated (a script of keystrokes) and the run uses trio's MockClock with
autojump so that the output is instant and the same on every run; a real app reads stdin and
drops the ``clock=`` argument.  Run it: ``python examples/terminal_app.py``.
"""

from __future__ import annotations

import attrs
import trio
import trio.testing

from trio_orch import (
    Actor,
    Event,
    EventBus,
    EventsDropped,
    HandlerFailed,
    open_choreographer,
    open_event_bus,
)


@attrs.frozen
class UserInput(Event):
    """A line the user typed."""

    text: str


@attrs.frozen
class UiUpdate(Event):
    """One line for the screen."""

    line: str


@attrs.define
class CommandHandler(Actor[UserInput]):
    """Turns commands into UI updates: ``echo TEXT``, ``count N``; anything else is unknown."""

    bus: EventBus

    async def handle(self, event: UserInput) -> None:
        command, _, arg = event.text.partition(" ")
        if command == "echo":
            await self.bus.publish(UiUpdate(arg))
        elif command == "count":
            # A burst of updates, far faster than the screen refreshes.
            for i in range(1, int(arg) + 1):
                await self.bus.publish(UiUpdate(f"progress {i}/{arg}"))
                await trio.sleep(0.001)
        else:
            await self.bus.publish(UiUpdate(f"unknown command: {event.text!r}"))


@attrs.define
class Screen(Actor[tuple[UiUpdate, ...]]):
    """Renders one frame per batch of updates (at most 60 a second)."""

    frames: int = 0
    lines: int = 0

    async def handle(self, event: tuple[UiUpdate, ...]) -> None:
        self.frames += 1
        self.lines += len(event)
        last = event[-1].line
        print(
            f"t={trio.current_time():6.3f}s frame {self.frames:3}: {len(event):3} update(s), last: {last}"
        )
        await trio.lowlevel.checkpoint()


async def keyboard(bus: EventBus) -> None:
    """The simulated user."""
    for text, pause in [
        ("echo hello", 0.1),
        ("", 0.05),  # an empty line: filtered out by the flow's where=
        ("count 100", 0.5),
        ("echo bye", 0.2),
        ("frobnicate", 0.1),
    ]:
        print(f"t={trio.current_time():6.3f}s > {text}")
        await bus.publish(UserInput(text))
        await trio.sleep(pause)


async def main() -> None:
    screen = Screen()
    async with open_event_bus() as bus:
        bus.on(HandlerFailed, lambda e: print(f"handler failed: {e.handler}: {e.error!r}"))
        bus.on(EventsDropped, lambda e: print(f"dropped {e.count} event(s) at {e.subscriber}"))
        async with open_choreographer(bus) as choreo:
            commands = await choreo.spawn(CommandHandler(bus), inbox=16, name="commands")
            ui = await choreo.spawn(screen, inbox=4, name="screen")
            choreo.flow(UserInput, to=commands, where=lambda e: e.text.strip() != "")
            # Collect updates for at most one frame (1/60 s), then render at most 60 frames/s.
            flow = choreo.flow(UiUpdate, to=ui).batch(256, 1 / 60).throttle(60)
            await keyboard(bus)
        print(
            f"rendered {screen.lines} updates in {screen.frames} frames; "
            f"batch {flow.operators[0].stats}, throttle {flow.operators[1].stats}; "
            f"screen inbox {ui.stats.inbox}"
        )


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
