"""Quiet under a user's defaults: the normal path of every component logs nothing it shouldn't.

A fresh interpreter, with no logging configured at all, imports trio_orch and runs the normal
path of every component: a workflow, a retry that retries once, the limiter, bounded
channels, the event bus and actors, the progress tracker, the store with a debouncer and a
throttler, ``cancel_on``, and a WebSocket connection with one reconnect.  stdout must stay empty (the library never prints) and stderr may only hold
records of WARNING or above from trio_orch's loggers, for the unusual happenings the program
provokes on purpose (the retry, the reconnect).  Python's last-resort handler, which prints
WARNING and above when nothing is configured, is given a format that shows each record's
level and logger; nothing else about the defaults is changed.
"""

from __future__ import annotations

import re
import textwrap

from tests._subprocess import run_python

PROGRAM = textwrap.dedent(
    """
    import logging

    # Only the format of Python's default handler: show the level and the logger.
    logging.lastResort.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    import attrs
    import trio

    import trio_orch
    from trio_orch import (
        Actor,
        ConcurrencyLimiter,
        ConnectionState,
        DropPolicy,
        Event,
        Jitter,
        ReconnectPolicy,
        RetryPolicy,
        StepContext,
        Store,
        Workflow,
        cancel_on,
        open_bounded_channel,
        open_choreographer,
        open_debouncer,
        open_event_bus,
        open_progress_tracker,
        open_throttler,
        open_ws_client,
        retry,
    )
    from trio_orch.testing import open_ws_test_server

    LIMIT = 10.0


    @attrs.frozen
    class Ping(Event):
        n: int


    @attrs.define
    class Counter(Actor[Ping]):
        seen: list[int] = attrs.Factory(list)

        async def handle(self, event: Ping) -> None:
            self.seen.append(event.n)


    async def workflow() -> None:
        wf = Workflow("defaults")

        @wf.step()
        async def fetch(ctx: StepContext) -> int:
            ctx.progress(0.5)
            return 20

        @wf.step(depends_on=[fetch])
        async def double(ctx: StepContext, fetch: int) -> int:
            return fetch * 2 + 2

        result = await wf.run()
        assert result["double"].value == 42, result


    async def retry_once() -> None:
        calls = 0

        async def flaky() -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionResetError("peer went away")
            return "ok"

        policy = RetryPolicy(initial_delay=0.001, jitter=Jitter.NONE)
        assert await retry(flaky, policy=policy) == "ok"
        assert calls == 2


    async def limiter() -> None:
        async def job(i: int) -> int:
            await trio.sleep(0)
            return i

        lim = ConcurrencyLimiter(max_concurrent=2, queue_limit=10)
        async with lim.map(job, range(5)) as results:
            assert sorted([r async for r in results]) == [0, 1, 2, 3, 4]
        assert await lim.run(job, 7) == 7


    async def channels() -> None:
        send, receive = open_bounded_channel[int](max_size=10, drop=DropPolicy.BLOCK)
        async with send, receive:
            for i in range(5):
                await send.send(i)
            assert [receive.receive_nowait() for _ in range(5)] == [0, 1, 2, 3, 4]


    async def bus_and_actors() -> None:
        counter = Counter()
        got: list[int] = []
        async with open_event_bus() as bus, open_choreographer(bus) as choreo:
            bus.on(Ping, lambda event: got.append(event.n))
            ref = await choreo.spawn(counter, inbox=10)
            choreo.flow(Ping, to=ref)
            for n in range(3):
                await bus.publish(Ping(n))
            await ref.send(Ping(3))
            with trio.fail_after(LIMIT):
                while len(counter.seen) < 4:
                    await trio.sleep(0.001)
        assert got == [0, 1, 2]
        assert counter.seen == [0, 1, 2, 3]


    async def progress() -> None:
        async with open_progress_tracker(tick=0.001) as tracker:
            task = tracker.track("download", total=100)
            for _ in range(10):
                task.advance(10)
                await trio.sleep(0.001)
            await trio.sleep(0.01)
            assert tracker.snapshot("download") is not None


    async def store_and_timing() -> None:
        store = Store(0)
        seen: list[int] = []
        async with open_debouncer(seen.append, 0.001) as debounced:
            async with open_throttler(seen.append, per_second=1000) as throttled:
                for i in range(3):
                    debounced(store.update(lambda s: s + 1))
                    throttled(i)
        assert store.state == 3
        assert 3 in seen


    async def cancellation() -> None:
        stop = trio.Event()
        stop.set()
        async with cancel_on(stop) as scope:
            await trio.sleep(1)
        assert scope.cancelled_caught


    async def websocket() -> None:
        states: list[ConnectionState] = []
        changed = trio.Event()

        def on_state(state: ConnectionState) -> None:
            nonlocal changed
            states.append(state)
            changed.set()
            changed = trio.Event()

        async def wait_open(count: int) -> None:
            while states.count(ConnectionState.OPEN) < count:
                await changed.wait()

        fast = ReconnectPolicy(
            max_attempts=None, initial_delay=0.001, max_delay=0.01, jitter=Jitter.NONE
        )
        with trio.fail_after(LIMIT):
            async with open_ws_test_server() as server:
                async with open_ws_client(
                    server.url, reconnect=fast, on_state_change=on_state
                ) as client:
                    await wait_open(1)
                    await client.send("hello", {"n": 1})
                    assert (await client.receive()).data == {"n": 1}
                    await server.drop_all()  # the one reconnect
                    await wait_open(2)
                    await client.send("hello", {"n": 2})
                    assert (await client.receive()).data == {"n": 2}


    async def main() -> None:
        await workflow()
        await retry_once()
        await limiter()
        await channels()
        await bus_and_actors()
        await progress()
        await store_and_timing()
        await cancellation()
        await websocket()


    trio.run(main)
    """
)

#: A record the last-resort handler printed: level, logger, then the message.
RECORD = re.compile(r"^(WARNING|ERROR|CRITICAL) (trio_orch(?:\.\w+)*) (trio_orch\.[\w.]+)\b")


def test_normal_paths_under_default_logging_configuration() -> None:
    done = run_python("-c", PROGRAM, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "", "the library wrote to stdout"
    records = [RECORD.match(line) for line in done.stderr.splitlines()]
    assert all(records), f"stderr holds something else than trio_orch warnings:\n{done.stderr}"
    events = {m.group(3) for m in records if m}
    # The only unusual happenings provoked on purpose: the retry and the reconnect.
    assert "trio_orch.retry.scheduled" in events, done.stderr
    unexpected = {
        e for e in events if e != "trio_orch.retry.scheduled" and not e.startswith("trio_orch.ws.")
    }
    assert not unexpected, done.stderr
    # The retry is logged once, at WARNING, on its area's logger.
    retries = [m for m in records if m and m.group(3) == "trio_orch.retry.scheduled"]
    assert [(m.group(1), m.group(2)) for m in retries] == [("WARNING", "trio_orch.retry")]
