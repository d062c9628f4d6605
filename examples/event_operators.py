"""Stream operators on a plain channel, and an actor kept alive by a restart policy.

1. A noisy sensor feed goes through ``dedupe`` (repeated readings) and ``debounce`` (bursts)
   with :func:`trio_orch.open_pipeline`, on a plain trio memory channel.
2. A parser actor crashes on bad input; its :class:`trio_orch.RestartPolicy` restarts it
   (with backoff) and the bus reports ``ActorFailed``/``ActorRestarted`` events.

Runs on trio's MockClock (autojump), so it is instant and prints the same every time.
"""

from __future__ import annotations

import logging

import attrs
import trio
import trio.testing

from trio_orch import (
    Actor,
    ActorEvent,
    ActorFailed,
    ActorRestarted,
    Backoff,
    Event,
    Jitter,
    RestartPolicy,
    debounce,
    dedupe,
    open_choreographer,
    open_event_bus,
    open_pipeline,
)


@attrs.frozen
class Line(Event):
    text: str


async def sensor_feed() -> None:
    send, receive = trio.open_memory_channel[tuple[str, int]](10)
    readings = [("t1", 20), ("t1", 20), ("t2", 31), ("t1", 20), ("t2", 32), ("t2", 33)]

    async def produce() -> None:
        async with send:
            for reading in readings:
                await send.send(reading)
                await trio.sleep(0.1)
            await trio.sleep(1.0)
            await send.send(("t1", 21))

    ops = (dedupe(None, 0.5), debounce(0.25))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async with open_pipeline(receive, *ops) as settled:
            async for sensor, value in settled:
                print(f"t={trio.current_time():.2f}s settled reading: {sensor}={value}")
    print(f"dedupe {ops[0].stats}; debounce {ops[1].stats}")


@attrs.define
class Parser(Actor[Line]):
    parsed: list[int] = attrs.Factory(list)

    async def on_start(self) -> None:
        print(f"t={trio.current_time():.2f}s parser started")
        await trio.lowlevel.checkpoint()

    async def handle(self, event: Line) -> None:
        self.parsed.append(int(event.text))  # "oops" raises ValueError: a crash
        await trio.lowlevel.checkpoint()


async def supervised_parser() -> None:
    parser = Parser()
    policy = RestartPolicy(
        max_restarts=3,
        window=60.0,
        backoff=Backoff(initial_delay=0.5, multiplier=2.0, max_delay=5.0, jitter=Jitter.NONE),
    )
    async with open_event_bus() as bus:

        def report(event: ActorEvent) -> None:
            if isinstance(event, ActorFailed):
                print(f"  {event.actor} failed: {event.error!r} (restarting: {event.restarting})")
            elif isinstance(event, ActorRestarted):
                print(f"  {event.actor} restarted after {event.delay} s")

        bus.on(ActorEvent, report)
        async with open_choreographer(bus) as choreo:
            ref = await choreo.spawn(parser, name="parser", restart=policy)
            choreo.flow(Line, to=ref)
            for text in ["1", "2", "oops", "3", "nope", "4"]:
                await bus.publish(Line(text))
                await trio.sleep(1)
        print(f"parsed {parser.parsed}; {ref.stats}")


async def main() -> None:
    # Keep the library's own log lines (the actor crashes, on the stdlib logger
    # "trio_orch.actor") off this demo's output: the bus reports them as events below.
    logging.getLogger("trio_orch.actor").setLevel(logging.CRITICAL)
    print("-- stream operators on a plain channel --")
    await sensor_feed()
    print("-- an actor with a restart policy --")
    await supervised_parser()


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
