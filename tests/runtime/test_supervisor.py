"""Supervisor: OTP strategies, restart types, intensity and backoff, on virtual time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_orch import (
    Backoff,
    ChildRestart,
    ChildRestarted,
    Jitter,
    RestartIntensityExceeded,
    RestartPolicy,
    Supervisor,
    SupervisorEscalated,
    SupervisorStrategy,
    open_event_bus,
)

NO_WAIT = RestartPolicy(
    max_restarts=3, window=60.0, backoff=Backoff(initial_delay=0.0, jitter=Jitter.NONE)
)


class Log:
    def __init__(self) -> None:
        self.starts: list[str] = []
        self.crash = {}  # name -> trio.Event that makes it crash when set

    def child(self, name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            self.starts.append(name)
            crash = self.crash[name] = trio.Event()
            await crash.wait()
            raise RuntimeError(f"{name} crashed")

        return run


async def _settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


@pytest.mark.parametrize(
    ("strategy", "restarted"),
    [
        (SupervisorStrategy.ONE_FOR_ONE, ["b"]),
        (SupervisorStrategy.ONE_FOR_ALL, ["a", "b", "c"]),
        (SupervisorStrategy.REST_FOR_ONE, ["b", "c"]),
    ],
)
async def test_strategies_restart_the_right_children(
    strategy: SupervisorStrategy, restarted: list[str], autojump_clock: trio.abc.Clock
) -> None:
    log = Log()
    async with open_event_bus() as bus:
        events: list[ChildRestarted] = []
        bus.on(ChildRestarted, events.append)
        async with Supervisor(strategy, NO_WAIT, bus=bus, name="sup") as sup:
            for name in "abc":
                await sup.start_child(name, log.child(name))
            await _settle()
            assert sorted(log.starts) == ["a", "b", "c"]
            log.crash["b"].set()
            await _settle()
            # restarted ones start again (trio does not promise the order tasks first run)
            assert sorted(log.starts[3:]) == restarted
            assert sup.children() == ("a", "b", "c")
            assert sup.restarts("b") == 1
            assert sup.stats.restarts == len(restarted)
            assert sup.stats.running == 3
        assert [e.name for e in events] == restarted
        assert [type(e.error) for e in events if e.name == "b"] == [RuntimeError]


async def test_restart_types(autojump_clock: trio.abc.Clock) -> None:
    runs = {"perm": 0, "trans": 0, "temp": 0, "trans_crash": 0}
    stop = trio.Event()

    def make(name: str, crash: bool):  # type: ignore[no-untyped-def]
        async def run() -> None:
            runs[name] += 1
            if runs[name] > 2:
                await stop.wait()
                return
            if crash:
                raise ValueError(name)

        return run

    budget = RestartPolicy(max_restarts=10, window=60.0, backoff=NO_WAIT.backoff)
    async with Supervisor(restart=budget) as sup:
        await sup.start_child("perm", make("perm", False), restart=ChildRestart.PERMANENT)
        await sup.start_child("trans", make("trans", False), restart=ChildRestart.TRANSIENT)
        await sup.start_child("temp", make("temp", True), restart=ChildRestart.TEMPORARY)
        await sup.start_child(
            "trans_crash", make("trans_crash", True), restart=ChildRestart.TRANSIENT
        )
        await _settle()
        # permanent: restarted after a normal return; transient: only after a crash;
        # temporary: never.
        assert runs["trans"] == 1
        assert runs["temp"] == 1
        assert sup.children() == ("perm", "trans_crash")
        assert (runs["perm"], runs["trans_crash"]) == (3, 3)
        assert sup.stats.restarts == 4
        stop.set()


async def test_intensity_escalates_out_of_the_block(autojump_clock: trio.abc.Clock) -> None:
    policy = RestartPolicy(
        max_restarts=2,
        window=10.0,
        backoff=Backoff(initial_delay=1.0, multiplier=2.0, jitter=Jitter.NONE),
    )
    starts: list[float] = []

    async def crashy() -> None:
        starts.append(trio.current_time())
        raise OSError("boom")

    async with open_event_bus() as bus:
        escalations: list[SupervisorEscalated] = []
        bus.on(SupervisorEscalated, escalations.append)

        async def supervise() -> None:
            async with Supervisor(restart=policy, bus=bus, name="sup") as sup:
                await sup.start_child("crashy", crashy)
                await trio.sleep_forever()

        with pytest.raises(RestartIntensityExceeded) as info:
            await supervise()
        # start at 0, restart 1 after 1 s of backoff, restart 2 after 2 s more; the third
        # crash within 10 s escalates
        assert starts == [0.0, 1.0, 3.0]
        assert isinstance(info.value.__cause__, OSError)
        assert str(info.value) == (
            "supervisor 'sup' gave up: child 'crashy' needed more than 2 restarts within 10 s"
        )
        assert (info.value.child, info.value.max_restarts, info.value.window) == ("crashy", 2, 10.0)
        assert [e.name for e in escalations] == ["crashy"]


async def test_the_window_slides(autojump_clock: trio.abc.Clock) -> None:
    policy = RestartPolicy(
        max_restarts=1, window=5.0, backoff=Backoff(initial_delay=0.0, jitter=Jitter.NONE)
    )
    crashes = 0

    async def every_ten_seconds() -> None:
        nonlocal crashes
        await trio.sleep(10)
        crashes += 1
        raise RuntimeError("periodic")

    with trio.move_on_after(45):
        async with Supervisor(restart=policy) as sup:
            await sup.start_child("p", every_ten_seconds)
            await trio.sleep_forever()
    assert crashes == 4  # never two within 5 s, so never escalated


async def test_block_exit_cancels_children_and_terminate_child() -> None:
    cancelled: list[str] = []

    async def forever(name: str) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.append(name)

    async with Supervisor() as sup:
        await sup.start_child("a", forever, "a")
        await sup.start_child("b", forever, "b")
        await _settle()
        await sup.terminate_child("a")
        assert cancelled == ["a"]
        assert sup.children() == ("b",)
        with pytest.raises(KeyError):
            await sup.terminate_child("a")
    assert cancelled == ["a", "b"]
    with pytest.raises(trio.ClosedResourceError):
        await sup.start_child("c", forever, "c")


async def test_bad_input() -> None:
    with pytest.raises(TypeError, match=r"^strategy must be a SupervisorStrategy, got 'x'$"):
        Supervisor("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^restart must be a RestartPolicy or None, got 3$"):
        Supervisor(restart=3)  # type: ignore[arg-type]

    async def noop() -> None:
        await trio.lowlevel.checkpoint()

    async with Supervisor() as sup:
        await sup.start_child("a", noop, restart=ChildRestart.TEMPORARY)
        with pytest.raises(ValueError, match=r"^name must be unique, got 'a' twice$"):
            await sup.start_child("a", noop)
        with pytest.raises(TypeError, match=r"^fn must be callable, got 3$"):
            await sup.start_child("b", 3)  # type: ignore[arg-type]
    sup2 = Supervisor()
    with pytest.raises(trio.ClosedResourceError):
        await sup2.start_child("a", noop)


async def test_body_error_propagates_as_itself() -> None:
    with pytest.raises(KeyError):
        async with Supervisor():
            raise KeyError("body")
