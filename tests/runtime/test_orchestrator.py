"""open_orchestrator: wiring, execute_plugin limits, health, components, bounded shutdown."""

from __future__ import annotations

import logging
import signal
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from tests.faults import hang_then_fail_in_a_child
from trio_orch import (
    ComponentHealth,
    ConfigManager,
    ConfigReloaded,
    ErrorPattern,
    ErrorRecoveryManager,
    Event,
    FallbackStrategy,
    HealthStatus,
    Orchestrator,
    OrchestratorEvent,
    OrchestratorShutdown,
    PerformanceMonitor,
    Plugin,
    PluginContext,
    PluginError,
    PluginFailed,
    PluginInitialized,
    Service,
    ServiceOrchestrator,
    SystemHealth,
    open_orchestrator,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping


class Base(Plugin):
    name = "base"
    version = "1.2.0"
    log: ClassVar[list[str]] = []

    async def setup(self, ctx: PluginContext) -> None:
        await trio.lowlevel.checkpoint()
        self.ctx = ctx
        Base.log.append("setup base")

    async def teardown(self) -> None:
        await trio.lowlevel.checkpoint()
        Base.log.append("teardown base")


class Work(Plugin):
    name = "work"
    version = "0.1"
    dependencies: ClassVar[dict[str, str]] = {"base": ">=1.0"}
    running = 0
    peak = 0

    async def sleep(self, seconds: float) -> float:
        Work.running += 1
        Work.peak = max(Work.peak, Work.running)
        try:
            await trio.sleep(seconds)
        finally:
            Work.running -= 1
        return seconds

    async def fail(self, payload: Any) -> Any:
        await trio.lowlevel.checkpoint()
        raise ValueError(payload)

    actions: ClassVar[dict[str, Any]] = {"sleep": sleep, "fail": fail}


@pytest.fixture(autouse=True)
def _reset() -> None:
    Base.log.clear()
    Work.running = Work.peak = 0


# --- wiring -------------------------------------------------------------------------------


async def test_open_wires_everything_and_publishes_start_and_end() -> None:
    events: list[Event] = []
    config = ConfigManager(_Settings, env={})
    base = Base()
    async with open_orchestrator(
        max_concurrency=2, memory_limit=1024, plugins=[Work, base], config=config
    ) as orch:
        orch.bus.on(Event, events.append)
        assert isinstance(orch, Orchestrator)
        assert orch.plugins.initialized == ("base", "work")
        assert orch.plugins.get("base") is base
        assert base.ctx.bus is orch.bus
        assert base.ctx.config is config
        assert base.ctx.resources is orch.resources
        assert base.ctx.nursery is orch.nursery
        assert orch.resources is not None
        assert orch.resources.memory_limit == 1024
        assert orch.config is config
        assert isinstance(orch.monitor, PerformanceMonitor)  # one is built on the bus
        assert (orch.recovery, orch.services) == (None, None)
        assert orch.limiter.max_concurrent == 2
        assert await orch.execute_plugin("work", "sleep", 0) == 0
        assert repr(orch) == "<Orchestrator open, 2 plugins>"
    assert Base.log == ["setup base", "teardown base"]
    assert isinstance(events[-1], OrchestratorShutdown)
    assert events[-1] == OrchestratorShutdown(
        uptime=0.0 + events[-1].uptime, errors=0, aborted=False
    )
    assert repr(orch) == "<Orchestrator closed, 2 plugins>"
    with pytest.raises(RuntimeError, match=r"^the orchestrator is shut down$"):
        await orch.execute_plugin("work", "sleep", 0)


@attrs.frozen
class _Settings:
    level: int = 1


async def test_initialized_comes_after_every_plugin_setup() -> None:
    seen: list[str] = []

    class Watcher(Plugin):
        name = "watcher"

        async def setup(self, ctx: PluginContext) -> None:
            assert ctx.bus is not None

            def record(event: Event) -> None:
                seen.append(type(event).__name__)

            ctx.bus.on(PluginInitialized, record)
            ctx.bus.on(OrchestratorEvent, record)
            await trio.lowlevel.checkpoint()

    async with open_orchestrator(plugins=[Watcher(), Base()]):
        pass
    assert seen == [
        "PluginInitialized",  # watcher's own
        "PluginInitialized",  # base's
        "OrchestratorInitialized",
        "OrchestratorShutdown",
    ]


async def test_no_memory_limit_means_no_resource_manager() -> None:
    async with open_orchestrator() as orch:
        assert orch.resources is None
        assert "resources" not in orch.system_health().components


# --- execute_plugin -----------------------------------------------------------------------


async def test_execute_plugin_runs_under_the_concurrency_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_orchestrator(max_concurrency=2, plugins=[Base, Work]) as orch,
        trio.open_nursery() as nursery,
    ):
        for _ in range(5):
            nursery.start_soon(orch.execute_plugin, "work", "sleep", 1.0)
    assert Work.peak == 2
    assert trio.current_time() == 3.0


async def test_timeout_bounds_each_action_not_the_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events: list[Event] = []
    handled: list[tuple[Exception, Mapping[str, Any]]] = []

    async def handler(error: Exception, context: Mapping[str, Any]) -> None:
        await trio.lowlevel.checkpoint()
        handled.append((error, context))

    async with open_orchestrator(
        max_concurrency=1, timeout=2.0, plugins=[Base, Work], error_handler=handler
    ) as orch:
        orch.bus.on(PluginFailed, events.append)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(orch.execute_plugin, "work", "sleep", 1.5)
            await trio.testing.wait_all_tasks_blocked()
            # waits 1.5 s for the slot, then runs 1.5 s: the timeout is per action
            assert await orch.execute_plugin("work", "sleep", 1.5) == 1.5
        assert trio.current_time() == 3.0
        with pytest.raises(trio.TooSlowError):
            await orch.execute_plugin("work", "sleep", 10)
        assert trio.current_time() == 5.0
    assert [(e.plugin, e.phase, e.action) for e in events if isinstance(e, PluginFailed)] == [
        ("work", "execute", "sleep")
    ]
    error, context = handled[0]
    assert isinstance(error, trio.TooSlowError)
    assert (context["plugin"], context["action"], context["payload"]) == ("work", "sleep", 10)


async def test_unknown_plugin_or_action_is_refused_before_a_slot() -> None:
    async with open_orchestrator(plugins=[Base]) as orch:
        with pytest.raises(PluginError, match=r"^no plugin named 'viz'$"):
            await orch.execute_plugin("viz", "render", None)
        with pytest.raises(PluginError, match=r"^plugin 'base' has no action 'render'$"):
            await orch.execute_plugin("base", "render", None)
        assert orch.limiter.stats.completed == 0


async def test_error_handler_sync_and_failing() -> None:
    calls: list[str] = []

    def handler(error: Exception, context: Mapping[str, Any]) -> None:
        calls.append(f"{context['action']}: {error}")
        raise RuntimeError("handler broke")

    async with open_orchestrator(plugins=[Base, Work], error_handler=handler) as orch:
        with pytest.raises(ValueError, match=r"^bad input\n") as info, capture_logs() as logs:
            await orch.execute_plugin("work", "fail", "bad input")
    assert calls == ["fail: bad input"]
    assert info.value.__notes__ == ["the error_handler also failed: RuntimeError('handler broke')"]
    assert logs[0]["event"] == "trio_orch.runtime.error_handler_failed"
    assert orch.system_health().components["executions"].detail["failed"] == 1


@attrs.frozen
class _Result:
    recovered: bool
    value: Any = None


@attrs.define
class _Recovery:
    """A recovery component: retries the operation once, else gives up."""

    seen: list[str] = attrs.Factory(list)
    started: bool = False
    closed: bool = False

    async def start(self, nursery: trio.Nursery) -> None:
        await trio.lowlevel.checkpoint()
        self.started = True

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        self.closed = True

    async def handle(self, error: Exception, context: Mapping[str, Any]) -> _Result:
        self.seen.append(repr(error))
        if context["payload"] == "recoverable":
            return _Result(True, "fallback")
        try:
            return _Result(True, await context["operation"]())
        except ValueError:
            return _Result(False)


async def test_error_recovery_component() -> None:
    recovery = _Recovery()
    async with open_orchestrator(
        plugins=[Base, Work], recovery=recovery, enable_error_recovery=True
    ) as orch:
        assert recovery.started
        assert orch.recovery is recovery
        assert await orch.execute_plugin("work", "fail", "recoverable") == "fallback"
        with pytest.raises(ValueError, match=r"^hopeless$"):
            await orch.execute_plugin("work", "fail", "hopeless")
        assert orch.system_health().components["executions"].detail["recovered"] == 1
    assert recovery.closed
    assert recovery.seen == ["ValueError('recoverable')", "ValueError('hopeless')"]


async def test_enable_error_recovery_without_a_component() -> None:
    async with open_orchestrator(enable_error_recovery=True, plugins=[Base, Work]) as orch:
        assert isinstance(orch.recovery, ErrorRecoveryManager)
        with pytest.raises(ValueError, match=r"^unmatched$"):
            await orch.execute_plugin("work", "fail", "unmatched")
        orch.recovery.add_pattern(
            ErrorPattern(name="bad-input", error_type=ValueError, strategy=FallbackStrategy(0))
        )
        assert await orch.execute_plugin("work", "fail", "now handled") == 0


async def test_with_the_performance_monitor() -> None:
    monitor = PerformanceMonitor()
    async with open_orchestrator(plugins=[Base, Work], monitor=monitor) as orch:
        for _ in range(3):
            await orch.execute_plugin("work", "sleep", 0)
        assert orch.monitor is monitor
    assert monitor.report().histograms["plugin.work.sleep"].count == 3


async def test_recovery_is_not_used_unless_enabled() -> None:
    recovery = _Recovery()
    async with open_orchestrator(plugins=[Base, Work], recovery=recovery) as orch:
        with pytest.raises(ValueError, match=r"^recoverable$"):
            await orch.execute_plugin("work", "fail", "recoverable")
    assert recovery.seen == []


async def test_monitor_times_every_action() -> None:
    names: list[str] = []

    class Monitor:
        @contextmanager
        def timer(self, name: str) -> Iterator[None]:
            names.append(name)
            yield

        def health(self) -> HealthStatus:
            return HealthStatus.DEGRADED

    async with open_orchestrator(plugins=[Base, Work], monitor=Monitor()) as orch:
        await orch.execute_plugin("work", "sleep", 0)
        health = orch.system_health()
    assert names == ["plugin.work.sleep"]
    assert health.components["monitor"].status is HealthStatus.DEGRADED
    assert health.status is HealthStatus.DEGRADED


# --- health -------------------------------------------------------------------------------


async def test_system_health_aggregates_the_components(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Broken:
        def health(self) -> object:
            raise OSError("sensor")

    async with open_orchestrator(
        memory_limit=10, plugins=[Base], components={"broken": Broken(), "plain": object()}
    ) as orch:
        health = orch.system_health()
        assert list(health.components) == [
            "bus",
            "executions",
            "resources",
            "monitor",
            "broken",
            "plain",
            "plugins",
        ]
        assert health.components["broken"].status is HealthStatus.UNHEALTHY
        assert health.components["plain"].status is HealthStatus.HEALTHY
        assert health.status is HealthStatus.UNHEALTHY
        assert not health.healthy
        assert health.services is None
        assert orch.resources is not None
        async with trio.open_nursery() as nursery, orch.resources.allocate(10, "memory"):
            nursery.start_soon(_allocate, orch, 1)
            await trio.testing.wait_all_tasks_blocked()
            resources = orch.system_health().components["resources"]
            assert resources.status is HealthStatus.DEGRADED
            assert resources.detail == {"allocated": 10, "total": 10, "peak": 10, "waiting": 1}
        await trio.sleep(1.5)
        text = orch.system_health().render()
        assert text.splitlines()[0] == "overall: unhealthy (uptime 1.500s)"
        assert "  broken: unhealthy (error=OSError('sensor'))" in text
        assert (await orch.check_health()).status is HealthStatus.UNHEALTHY


async def _allocate(orch: Orchestrator, size: int) -> None:
    assert orch.resources is not None
    async with orch.resources.allocate(size, "memory"):
        await trio.lowlevel.checkpoint()


async def test_healthy_by_default() -> None:
    async with open_orchestrator(plugins=[Base]) as orch:
        health = await orch.check_health()
    assert health.status is HealthStatus.HEALTHY
    assert health.healthy
    assert health.components["plugins"].detail == {"registered": 1, "initialized": 1}


async def test_services_attached_and_as_a_component(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def down() -> None:
        await trio.lowlevel.checkpoint()
        raise ConnectionError("identity is down")

    async def up() -> None:
        await trio.lowlevel.checkpoint()

    owned = ServiceOrchestrator(health_interval=None)
    owned.register(Service("identity", health_check=down))
    async with open_orchestrator(services=owned) as orch:
        assert orch.services is owned
        health = await orch.check_health()
        assert health.services is not None
        assert health.services.overall is HealthStatus.UNHEALTHY
        assert health.components["services"].status is HealthStatus.UNHEALTHY
        assert health.status is HealthStatus.UNHEALTHY
        assert "  service identity: unhealthy" in health.render()
        mine = ServiceOrchestrator(health_interval=None)
        mine.register(Service("billing", health_check=up))
        async with mine:
            orch.attach_services(mine)
            health = await orch.check_health()
            assert health.services is not None
            assert list(health.services.services) == ["billing"]
            assert health.services.overall is HealthStatus.HEALTHY
        with pytest.raises(TypeError, match=r"^services must be a ServiceOrchestrator, got 1$"):
            orch.attach_services(1)  # type: ignore[arg-type]


# --- components and shutdown --------------------------------------------------------------


@attrs.define
class _Component:
    name: str
    log: list[str]
    hang: bool = False
    fail: BaseException | None = None
    finished: bool = False

    async def start(self, nursery: trio.Nursery) -> None:
        self.log.append(f"start {self.name}")
        nursery.start_soon(self._background)
        await trio.lowlevel.checkpoint()

    async def _background(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.finished = True

    async def aclose(self) -> None:
        self.log.append(f"stop {self.name}")
        if self.hang:
            await trio.sleep_forever()
        if self.fail is not None:
            raise self.fail
        await trio.lowlevel.checkpoint()


async def test_components_stop_in_reverse_start_order_and_leave_no_task() -> None:
    log: list[str] = []
    parts = {name: _Component(name, log) for name in ("one", "two", "three")}
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    async with open_orchestrator(components=parts, plugins=[Base]) as orch:
        assert trio.lowlevel.current_statistics().tasks_living > tasks_before
        log.append("body")
        assert repr(orch).startswith("<Orchestrator open")
    assert log == [
        "start one",
        "start two",
        "start three",
        "body",
        "stop three",
        "stop two",
        "stop one",
    ]
    assert Base.log == ["setup base", "teardown base"]
    assert all(p.finished for p in parts.values())
    assert trio.lowlevel.current_statistics().tasks_living == tasks_before


async def test_hung_and_raising_component_shutdowns_are_bounded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    events: list[Event] = []
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    parts = {
        "a": _Component("a", log),
        "hung": _Component("hung", log, hang=True),
        "bad": _Component("bad", log, fail=OSError("bad stop")),
    }
    with pytest.raises(BaseExceptionGroup) as info:
        async with open_orchestrator(components=parts, shutdown_timeout=4.0) as orch:
            orch.bus.on(OrchestratorShutdown, events.append)
    assert trio.current_time() == 4.0
    assert log[-3:] == ["stop bad", "stop hung", "stop a"]
    errors = info.value.exceptions
    assert [type(e) for e in errors] == [OSError, trio.TooSlowError]
    assert str(errors[1]) == "stopping 'hung' took more than 4s"
    assert events == [OrchestratorShutdown(uptime=4.0, errors=2, aborted=False)]
    assert all(p.finished for p in parts.values())
    assert trio.lowlevel.current_statistics().tasks_living == tasks_before


async def test_one_failed_shutdown_step_is_raised_as_itself() -> None:
    log: list[str] = []
    with pytest.raises(OSError, match=r"^bad stop$"):
        async with open_orchestrator(
            components={"bad": _Component("bad", log, fail=OSError("bad stop"))}
        ):
            pass


async def test_shutdown_errors_become_notes_on_the_body_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    with pytest.raises(KeyError) as info:
        async with open_orchestrator(
            components={"hung": _Component("hung", log, hang=True)}, shutdown_timeout=1.0
        ):
            raise KeyError("body")
    assert info.value.__notes__ == [
        "during the orchestrator's shutdown, also: TooSlowError(\"stopping 'hung' took more than 1s\")"
    ]


async def test_plugin_teardown_failure_at_exit_is_raised() -> None:
    class BadTeardown(Plugin):
        name = "bad"

        async def teardown(self) -> None:
            await trio.lowlevel.checkpoint()
            raise RuntimeError("cannot close")

    with pytest.raises(RuntimeError, match=r"^cannot close$"):
        async with open_orchestrator(plugins=[BadTeardown]):
            pass


async def test_cancelled_block_still_shuts_down(autojump_clock: trio.testing.MockClock) -> None:
    class Slow(Plugin):
        name = "slow"
        closed = False

        async def teardown(self) -> None:
            await trio.sleep(2)
            Slow.closed = True

    with trio.move_on_after(1) as scope:
        async with open_orchestrator(plugins=[Slow]):
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert Slow.closed
    assert trio.current_time() == 3.0


async def test_failing_setup_stops_what_started_and_raises_the_original_error() -> None:
    log: list[str] = []
    events: list[Event] = []
    boom = LookupError("no table")

    class Bad(Plugin):
        name = "bad"
        dependencies: ClassVar[dict[str, str]] = {"base": ""}

        async def setup(self, ctx: PluginContext) -> None:
            assert ctx.bus is not None
            ctx.bus.on(Event, events.append)
            await trio.lowlevel.checkpoint()
            raise boom

    with pytest.raises(LookupError) as info:
        async with open_orchestrator(plugins=[Bad, Base], components={"c": _Component("c", log)}):
            pytest.fail("the body must not run")
    assert info.value is boom
    assert Base.log == ["setup base", "teardown base"]
    assert log == ["start c", "stop c"]
    kinds = [type(e).__name__ for e in events]
    assert "OrchestratorInitialized" not in kinds
    assert kinds[-1] == "OrchestratorShutdown"


async def test_unresolvable_plugins_are_refused() -> None:
    with pytest.raises(
        PluginError, match=r"^plugin 'work' depends on 'base', which is not registered$"
    ):
        async with open_orchestrator(plugins=[Work]):
            pytest.fail("the body must not run")


async def test_context_manager_component_runs_in_its_own_task() -> None:
    log: list[str] = []

    class Resource:
        async def __aenter__(self) -> None:
            await trio.lowlevel.checkpoint()
            log.append("enter")

        async def __aexit__(self, *exc: object) -> None:
            await trio.lowlevel.checkpoint()
            log.append("exit")
            raise OSError("exit failed")

    with pytest.raises(OSError, match=r"^exit failed$"):
        async with open_orchestrator(components={"res": Resource()}, plugins=[Base]):
            log.append("body")
    assert log == ["enter", "body", "exit"]
    assert Base.log == ["setup base", "teardown base"]


async def test_a_context_manager_component_that_crashes_cancels_the_body(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def crash() -> None:
        await trio.sleep(1)
        raise ZeroDivisionError

    @asynccontextmanager
    async def crashing() -> AsyncIterator[None]:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(crash)
            yield

    body = trio.CancelScope()
    with pytest.raises(ZeroDivisionError):
        await _run_until_cancelled(body, open_orchestrator(components={"crash": crashing()}))
    assert trio.current_time() == 1.0


async def _run_until_cancelled(
    scope: trio.CancelScope, cm: AbstractAsyncContextManager[Orchestrator]
) -> None:
    async with cm:
        with scope:
            await trio.sleep_forever()


async def test_config_watching_is_a_task_in_the_nursery(
    tmp_path: Any, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "app.toml"
    path.write_text("level = 1\n")
    config = ConfigManager(_Settings, files=[path], env={})
    async with open_orchestrator(config=config, config_watch_interval=0.5) as orch:
        assert "config-watch" in orch.system_health().components
        async with orch.bus.subscribe(ConfigReloaded) as reloaded:
            path.write_text("level = 22\n")
            assert await reloaded.receive() == ConfigReloaded(files=(str(path),))
    assert config.get("level") == 22


async def test_event_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_orch.runtime")
    with capture_logs() as logs:
        async with open_orchestrator(plugins=[Base], event_logging=True):
            pass
    logged = [entry["event_type"] for entry in logs if entry["event"] == "trio_orch.runtime.event"]
    assert logged[:2] == ["PluginLoading", "PluginLoaded"]
    assert "OrchestratorInitialized" in logged


async def test_arguments_are_checked_before_anything_starts() -> None:
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"max_concurrency": 0}, ValueError, r"^max_concurrency must be >= 1, got 0$"),
        ({"memory_limit": 0}, ValueError, r"^memory_limit must be >= 1, got 0$"),
        ({"timeout": 0}, ValueError, r"^timeout must be > 0, got 0$"),
        ({"shutdown_timeout": -1}, ValueError, r"^shutdown_timeout must be > 0, got -1$"),
        ({"config": 1}, TypeError, r"^config must be a ConfigManager or None, got 1$"),
        ({"error_handler": 1}, TypeError, r"^error_handler must be callable or None, got 1$"),
        ({"event_logging": 1}, TypeError, r"^event_logging must be a bool, got 1$"),
        (
            {"config_watch_interval": 1.0},
            ValueError,
            r"^config_watch_interval needs config, got config_watch_interval=1.0$",
        ),
        (
            {"plugins": [1]},
            TypeError,
            r"^plugins item must be a Plugin or a Plugin subclass, got 1$",
        ),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            async with open_orchestrator(**kwargs):
                pytest.fail("the body must not run")


# --- a second Ctrl-C aborts the shutdown --------------------------------------------------


def test_second_ctrl_c_aborts_a_hung_shutdown() -> None:
    """First Ctrl-C ends the body; a second one, during a hung teardown, aborts the shutdown."""
    log: list[str] = []
    events: list[Event] = []

    class Hung(Plugin):
        name = "hung"

        async def teardown(self) -> None:
            log.append("teardown hung")
            token = trio.lowlevel.current_trio_token()
            token.run_sync_soon(signal.raise_signal, signal.SIGINT)  # the second Ctrl-C
            await trio.sleep_forever()

    class Last(Plugin):
        name = "last"

        async def teardown(self) -> None:
            log.append("teardown last")  # skipped: the shutdown was aborted
            await trio.lowlevel.checkpoint()

    async def main() -> None:
        async with open_orchestrator(plugins=[Last, Hung], shutdown_timeout=60.0) as orch:
            orch.bus.on(OrchestratorShutdown, events.append)
            log.append("body")
            raise KeyboardInterrupt  # the first Ctrl-C

    # trio handles Ctrl-C itself only when it finds Python's default handler installed.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), capture_logs() as logs:
            trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert log == ["body", "teardown hung"]
    shutdown = events[0]
    assert isinstance(shutdown, OrchestratorShutdown)
    assert shutdown.aborted
    assert shutdown.uptime < 60.0
    assert any(entry["event"] == "trio_orch.runtime.shutdown_aborted" for entry in logs)


async def test_component_health_values() -> None:
    class Detailed:
        def health(self) -> ComponentHealth:
            return ComponentHealth("detailed", HealthStatus.DEGRADED, {"lag": 3})

    class Services:
        def health(self) -> SystemHealth:
            return SystemHealth(overall=HealthStatus.UNKNOWN, services={}, checked_at=0.0)

    class Odd:
        def health(self) -> str:
            return "fine"

    async with open_orchestrator(
        components={"detailed": Detailed(), "svc": Services(), "odd": Odd()}
    ) as orch:
        components = orch.system_health().components
    assert components["detailed"] == ComponentHealth("detailed", HealthStatus.DEGRADED, {"lag": 3})
    assert components["svc"].status is HealthStatus.UNKNOWN
    assert components["odd"].status is HealthStatus.HEALTHY


async def test_cancelled_execute_plugin_runs_no_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    handled: list[Exception] = []

    def handler(error: Exception, context: Mapping[str, Any]) -> None:
        handled.append(error)

    recovery = _Recovery()
    async with open_orchestrator(
        max_concurrency=1,
        plugins=[Base, Work],
        error_handler=handler,
        recovery=recovery,
        enable_error_recovery=True,
    ) as orch:
        with trio.testing.assert_checkpoints():
            assert await orch.execute_plugin("work", "sleep", 0) == 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(orch.execute_plugin, "work", "sleep", 5)
            await trio.testing.wait_all_tasks_blocked()
            with trio.move_on_after(1):  # waiting for the slot
                await orch.execute_plugin("work", "sleep", 1)
            with trio.move_on_after(6):  # running
                await orch.execute_plugin("work", "sleep", 10)
        assert orch.limiter.stats.cancelled == 2
        assert Work.running == 0
    assert handled == []
    assert recovery.seen == []
    assert trio.current_time() == 7.0


async def test_a_timed_out_stop_that_raises_a_group_does_not_abort_the_shutdown(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @attrs.define
    class _GroupedStop(_Component):
        async def aclose(self) -> None:
            await hang_then_fail_in_a_child()

    log: list[str] = []
    events: list[Event] = []
    parts = {"a": _Component("a", log), "grouped": _GroupedStop("grouped", log)}
    with pytest.raises(ValueError, match=r"^child cleanup failed$"):
        async with open_orchestrator(components=parts, shutdown_timeout=2.0) as orch:
            orch.bus.on(OrchestratorShutdown, events.append)
    assert log[-1] == "stop a"  # the step after the failed one still ran
    assert trio.current_time() == 2.0
    assert events == [OrchestratorShutdown(uptime=2.0, errors=1, aborted=False)]
    assert all(p.finished for p in parts.values())


async def test_check_health_checkpoints_on_every_path() -> None:
    async with open_orchestrator(plugins=[Base]) as orch:
        with trio.testing.assert_checkpoints():
            await orch.check_health()  # no services: nothing to check
        services = ServiceOrchestrator(health_interval=None)
        async with services:
            orch.attach_services(services)
            with trio.testing.assert_checkpoints():
                await orch.check_health()  # services without checks


async def test_an_error_after_a_timed_out_context_manager_stop_is_logged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @asynccontextmanager
    async def stubborn() -> AsyncIterator[None]:
        try:
            yield
        finally:
            try:
                await trio.sleep_forever()  # an exit that hangs past the stop step's bound
            finally:
                raise OSError("late failure")  # when the nursery cancels it

    with capture_logs() as logs, pytest.raises(trio.TooSlowError):
        async with open_orchestrator(components={"stubborn": stubborn()}, shutdown_timeout=1.0):
            pass
    assert trio.current_time() == 1.0
    late = [e for e in logs if e.get("after")]
    assert [(e["event"], e["component"], e["error"]) for e in late] == [
        ("trio_orch.runtime.component_stop_failed", "stubborn", "OSError('late failure')")
    ]
