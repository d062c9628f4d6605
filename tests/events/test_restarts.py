"""RestartPolicy on the one backoff schedule, and the restart intensity behind it."""

from __future__ import annotations

import itertools
import random

import attrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from trio_orch import (
    Actor,
    ActorRestarted,
    Backoff,
    Event,
    Jitter,
    RestartIntensity,
    RestartPolicy,
    RetryPolicy,
    open_choreographer,
    open_event_bus,
)


@attrs.frozen
class Crash(Event):
    pass


@attrs.define
class Crashy(Actor[Crash]):
    starts: list[float] = attrs.Factory(list)

    async def on_start(self) -> None:
        self.starts.append(trio.current_time())
        await trio.lowlevel.checkpoint()

    async def handle(self, event: Crash) -> None:
        await trio.lowlevel.checkpoint()
        raise RuntimeError("crash")


def test_every_backoff_field_is_used() -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=5.0, multiplier=3.0, jitter=Jitter.NONE)
    policy = RestartPolicy(max_restarts=4, backoff=backoff)
    assert policy.backoff is backoff
    assert policy.delays() == [1.0, 3.0, 5.0, 5.0]  # multiplier 3, capped at max_delay


def test_a_retry_policy_stands_for_its_backoff() -> None:
    retry = RetryPolicy(initial_delay=0.5, max_delay=1.0, multiplier=4.0, jitter=Jitter.NONE)
    policy = RestartPolicy(max_restarts=3, backoff=retry)
    assert policy.backoff == retry.backoff
    assert policy.delays() == [0.5, 1.0, 1.0]
    assert RestartPolicy().backoff == Backoff(
        initial_delay=0.1, max_delay=5.0, multiplier=2.0, jitter=Jitter.NONE
    )


def test_jitter_is_applied_and_reproducible() -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=8.0, jitter=Jitter.FULL)
    policy = RestartPolicy(max_restarts=3, backoff=backoff)
    delays = policy.delays(random.Random(7))
    assert delays == policy.delays(random.Random(7))
    assert all(0.0 <= d <= cap for d, cap in zip(delays, [1.0, 2.0, 4.0], strict=True))


def test_intensity_slides_its_window() -> None:
    intensity = RestartIntensity(RestartPolicy(max_restarts=2, window=10.0))
    assert intensity.record_crash(0.0) == 0.1
    assert intensity.record_crash(1.0) == 0.2
    assert intensity.in_window == 2
    assert intensity.record_crash(2.0) is None  # a third restart within 10 s: give up
    assert intensity.record_crash(10.0) == 0.2  # the restart at 0.0 left the window
    assert intensity.in_window == 2
    assert intensity.total == 3
    assert intensity.give_up_note("actor 'x'") == (
        "actor 'x' gave up after 2 restarts within 10.0 s"
    )


def test_zero_restarts_never_restarts() -> None:
    intensity = RestartIntensity(RestartPolicy(max_restarts=0))
    assert intensity.record_crash(0.0) is None


def test_intensity_bad_input() -> None:
    with pytest.raises(TypeError, match=r"^policy must be a RestartPolicy, got 3$"):
        RestartIntensity(3)  # type: ignore[arg-type]


def test_decorrelated_jitter_gets_the_previous_delay() -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=100.0, jitter=Jitter.DECORRELATED)
    rng = random.Random(3)
    intensity = RestartIntensity(RestartPolicy(max_restarts=5, backoff=backoff), rng=rng)
    delays = [intensity.record_crash(float(t)) for t in range(5)]
    # Step by step, the same schedule as Backoff.delays() with the same seed.
    assert delays == list(itertools.islice(backoff.delays(random.Random(3)), 5))


async def test_actor_restarts_wait_the_backoff_delays(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=2.5, multiplier=3.0, jitter=Jitter.NONE)
    actor = Crashy()
    restarted: list[ActorRestarted] = []

    async def scenario() -> None:
        async with open_event_bus() as bus, open_choreographer(bus) as choreo:
            bus.on(ActorRestarted, restarted.append)
            ref = await choreo.spawn(
                actor, name="c", restart=RestartPolicy(max_restarts=3, backoff=backoff)
            )
            for _ in range(4):
                ref.send_nowait(Crash())
            await trio.sleep_forever()

    with capture_logs() as logs, pytest.raises(RuntimeError) as info:
        await scenario()
    # Crashes at 0, 1, 3.5 and 6: restarts after 1, 2.5 (3 capped), 2.5; the 4th gives up.
    assert actor.starts == [0.0, 1.0, 3.5, 6.0]
    assert [(r.restarts, r.delay) for r in restarted] == [(1, 1.0), (2, 2.5), (3, 2.5)]
    assert "actor 'c' gave up after 3 restarts within 60.0 s" in info.value.__notes__
    events = [(e["event"], e["log_level"]) for e in logs]
    assert events.count(("trio_orch.actor.failed", "error")) == 4
    assert events.count(("trio_orch.actor.restarted", "warning")) == 3
