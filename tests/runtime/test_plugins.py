"""PluginRegistry: declarations, dependency order, refusals, rollback, bounded teardowns."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from tests.faults import hang_then_fail_in_a_child
from trio_orch import (
    Event,
    Plugin,
    PluginContext,
    PluginDisposed,
    PluginDisposing,
    PluginError,
    PluginEvent,
    PluginExecuted,
    PluginExecuting,
    PluginFailed,
    PluginInitialized,
    PluginInitializing,
    PluginLoaded,
    PluginLoading,
    PluginRegistry,
    open_event_bus,
)


def make(
    name: str,
    *,
    version: str = "1.0",
    deps: dict[str, str] | None = None,
    conflicts: tuple[str, ...] = (),
    log: list[str] | None = None,
    fail_setup: BaseException | None = None,
    fail_teardown: BaseException | None = None,
    hang_teardown: bool = False,
    hang_setup: bool = False,
    teardown_sleep: float = 0.0,
) -> Plugin:
    """A plugin that records setup/teardown in ``log`` and fails or hangs on request."""
    record = log if log is not None else []

    class _P(Plugin):
        actions: ClassVar[dict[str, Any]] = {}

        async def setup(self, ctx: PluginContext) -> None:
            await trio.lowlevel.checkpoint()
            if hang_setup:
                await trio.sleep_forever()
            if fail_setup is not None:
                raise fail_setup
            record.append(f"setup {name}")

        async def teardown(self) -> None:
            record.append(f"teardown {name}")
            if teardown_sleep:
                await trio.sleep(teardown_sleep)
            if hang_teardown:
                await trio.sleep_forever()
            if fail_teardown is not None:
                raise fail_teardown
            await trio.lowlevel.checkpoint()

    _P.name = name
    _P.version = version
    _P.dependencies = deps or {}
    _P.conflicts = conflicts
    return _P()


# --- ordering -----------------------------------------------------------------------------


async def test_dependency_order_whatever_the_registration_order() -> None:
    log: list[str] = []
    registry = PluginRegistry()
    registry.register(make("viz", deps={"data": ">=1"}, log=log))
    registry.register(make("api", deps={"viz": "", "auth": ""}, log=log))
    registry.register(make("data", deps={"auth": "~=1.0"}, log=log))
    registry.register(make("auth", version="1.0.3", log=log))
    assert registry.resolve() == ["auth", "data", "viz", "api"]
    assert await registry.initialize_all() == ["auth", "data", "viz", "api"]
    assert registry.initialized == ("auth", "data", "viz", "api")
    await registry.shutdown_all()
    assert log == [
        "setup auth",
        "setup data",
        "setup viz",
        "setup api",
        "teardown api",
        "teardown viz",
        "teardown data",
        "teardown auth",
    ]
    assert registry.initialized == ()


async def test_independent_plugins_keep_registration_order() -> None:
    registry = PluginRegistry()
    for name in ("c", "a", "b"):
        registry.register(make(name))
    assert registry.resolve() == ["c", "a", "b"]
    assert [p.name for p in registry.list()] == ["c", "a", "b"]


async def test_initialize_all_again_sets_up_only_the_new_plugins() -> None:
    log: list[str] = []
    registry = PluginRegistry()
    registry.register(make("a", log=log))
    assert await registry.initialize_all() == ["a"]
    registry.register(make("b", deps={"a": ""}, log=log))
    assert not registry.is_initialized("b")
    assert await registry.initialize_all() == ["b"]
    assert log == ["setup a", "setup b"]
    await registry.shutdown_all()
    assert log[2:] == ["teardown b", "teardown a"]


# --- refusals -----------------------------------------------------------------------------


async def test_missing_dependency() -> None:
    registry = PluginRegistry()
    registry.register(make("viz", deps={"data": ">=1"}))
    with pytest.raises(
        PluginError, match=r"^plugin 'viz' depends on 'data', which is not registered$"
    ) as info:
        await registry.initialize_all()
    assert info.value.plugins == ("viz", "data")
    assert info.value.reason == "missing_dependency"
    assert registry.initialized == ()


async def test_version_mismatch() -> None:
    registry = PluginRegistry()
    registry.register(make("data", version="2.1.0"))
    registry.register(make("viz", deps={"data": ">=1.2,<2"}))
    with pytest.raises(
        PluginError,
        match=r"^plugin 'viz' needs 'data' <2,>=1.2, but 'data' 2.1.0 is registered$",
    ) as info:
        registry.resolve()
    assert info.value.plugins == ("viz", "data")
    assert info.value.reason == "version_mismatch"


async def test_prerelease_versions_are_compared() -> None:
    registry = PluginRegistry()
    registry.register(make("data", version="2.0rc1"))
    registry.register(make("viz", deps={"data": ">=2.0rc1"}))
    assert registry.resolve() == ["data", "viz"]


@pytest.mark.parametrize("declared_by_new", [True, False])
async def test_conflict_is_refused_at_register(declared_by_new: bool) -> None:
    registry = PluginRegistry()
    registry.register(make("old", conflicts=() if declared_by_new else ("new",)))
    with pytest.raises(PluginError) as info:
        registry.register(make("new", conflicts=("old",) if declared_by_new else ()))
    declarer = "new" if declared_by_new else "old"
    assert str(info.value) == (
        f"plugins 'new' and 'old' conflict ('{declarer}' declares it); unregister 'old' first"
    )
    assert info.value.plugins == ("new", "old")
    assert info.value.reason == "conflict"
    assert [p.name for p in registry.list()] == ["old"]


async def test_cycle_names_the_plugins_on_it() -> None:
    registry = PluginRegistry()
    registry.register(make("a", deps={"b": ""}))
    registry.register(make("b", deps={"c": ""}))
    registry.register(make("c", deps={"a": ""}))
    registry.register(make("d"))
    with pytest.raises(
        PluginError, match=r"^plugins depend on each other in a cycle: a -> b -> c -> a$"
    ) as info:
        await registry.initialize_all()
    assert info.value.plugins == ("a", "b", "c")
    assert info.value.reason == "cycle"
    assert registry.initialized == ()


async def test_self_dependency_is_a_cycle() -> None:
    registry = PluginRegistry()
    with pytest.raises(PluginError, match=r"^plugin 'a' depends on itself$") as info:
        registry.register(make("a", deps={"a": ""}))
    assert info.value.reason == "cycle"


async def test_duplicate_name() -> None:
    registry = PluginRegistry()
    registry.register(make("a"))
    with pytest.raises(PluginError, match=r"^plugin 'a' is already registered$") as info:
        registry.register(make("a"))
    assert info.value.reason == "duplicate"


async def test_bad_declarations() -> None:
    registry = PluginRegistry()
    with pytest.raises(
        ValueError, match=r"^plugin 'a': version must be a PEP 440 version, got 'one'$"
    ):
        registry.register(make("a", version="one"))
    with pytest.raises(
        ValueError,
        match=r"^plugin 'a': the range of 'b' must be a PEP 440 specifier, got 'about 1'$",
    ):
        registry.register(make("a", deps={"b": "about 1"}))
    with pytest.raises(TypeError, match=r"^plugin must be a Plugin, got 'a'$"):
        registry.register("a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^plugin name must not be empty, got ''$"):
        registry.register(Plugin())
    assert registry.list() == []


async def test_bad_actions() -> None:
    class Sync(Plugin):
        name = "sync"
        actions: ClassVar[dict[str, Any]] = {"go": lambda payload: payload}

    class Missing(Plugin):
        name = "missing"
        actions: ClassVar[dict[str, Any]] = {"go": "nope"}

    registry = PluginRegistry()
    with pytest.raises(
        TypeError,
        match=r"^plugin 'sync': action 'go' must be an async method name or an async callable, got <function",
    ):
        registry.register(Sync())
    with pytest.raises(TypeError, match=r"^plugin 'missing': action 'go' must be"):
        registry.register(Missing())


async def test_registry_arguments() -> None:
    with pytest.raises(ValueError, match=r"^teardown_timeout must be > 0, got 0$"):
        PluginRegistry(teardown_timeout=0)
    with pytest.raises(TypeError, match=r"^bus must be an EventBus or None, got 1$"):
        PluginRegistry(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^config must be a ConfigManager or None, got 1$"):
        PluginRegistry(config=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^resources must be a ResourceManager or None, got 1$"):
        PluginRegistry(resources=1)  # type: ignore[arg-type]
    assert PluginRegistry().teardown_timeout == 5.0


# --- registering and unregistering -------------------------------------------------------


async def test_get_unknown_suggests_a_name() -> None:
    registry = PluginRegistry()
    registry.register(make("render"))
    assert registry.get("render").name == "render"
    with pytest.raises(
        PluginError, match=r"^no plugin named 'rendr' \(did you mean 'render'\?\)$"
    ) as info:
        registry.get("rendr")
    assert info.value.reason == "unknown_plugin"
    with pytest.raises(PluginError, match=r"^no plugin named 'zzz'$"):
        registry.get("zzz")


async def test_unregister_is_refused_while_dependents_are_registered() -> None:
    log: list[str] = []
    registry = PluginRegistry()
    registry.register(make("a", log=log))
    registry.register(make("b", deps={"a": ""}, log=log))
    registry.register(make("c", deps={"a": ""}, log=log))
    await registry.initialize_all()
    with pytest.raises(
        PluginError, match=r"^plugin 'a' cannot be unregistered: 'b', 'c' depend on it$"
    ) as info:
        await registry.unregister("a")
    assert info.value.plugins == ("a", "b", "c")
    assert info.value.reason == "has_dependents"
    assert registry.is_initialized("a")
    assert (await registry.unregister("c")).name == "c"
    assert (await registry.unregister("b")).name == "b"
    assert (await registry.unregister("a")).name == "a"
    assert log[3:] == ["teardown c", "teardown b", "teardown a"]
    assert registry.list() == []
    assert registry.initialized == ()


async def test_unregister_a_plugin_not_set_up_and_a_failing_teardown() -> None:
    registry = PluginRegistry()
    registry.register(make("idle"))
    with trio.testing.assert_checkpoints():
        await registry.unregister("idle")
    registry.register(make("bad", fail_teardown=RuntimeError("stuck")))
    await registry.initialize_all()
    with pytest.raises(RuntimeError, match=r"^stuck$"):
        await registry.unregister("bad")
    assert registry.list() == []


# --- failure in the middle of initialization ---------------------------------------------


async def test_plugin_3_of_5_fails_and_1_2_are_torn_down_in_reverse() -> None:
    log: list[str] = []
    boom = ValueError("boom")
    events: list[Event] = []
    async with open_event_bus() as bus:
        bus.on(PluginEvent, events.append)
        registry = PluginRegistry(bus)
        registry.register(make("p1", log=log))
        registry.register(make("p2", deps={"p1": ""}, log=log, fail_teardown=RuntimeError("td")))
        registry.register(make("p3", deps={"p2": ""}, log=log, fail_setup=boom))
        registry.register(make("p4", deps={"p3": ""}, log=log))
        registry.register(make("p5", deps={"p4": ""}, log=log))
        with pytest.raises(ValueError, match=r"^boom") as info:
            await registry.initialize_all()
    assert info.value is boom
    assert boom.__notes__ == [
        "raised by the setup of plugin 'p3'",
        "teardown of plugin 'p2' also failed: RuntimeError('td')",
    ]
    assert log == ["setup p1", "setup p2", "teardown p2", "teardown p1"]
    assert registry.initialized == ()
    failed = [(e.plugin, e.phase) for e in events if isinstance(e, PluginFailed)]
    assert failed == [("p3", "setup"), ("p2", "teardown")]
    disposed = [(e.plugin, e.clean) for e in events if isinstance(e, PluginDisposed)]
    assert disposed == [("p2", False), ("p1", True)]


async def test_hung_teardown_during_rollback_is_bounded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    registry = PluginRegistry(teardown_timeout=3.0)
    registry.register(make("p1", log=log))
    registry.register(make("p2", deps={"p1": ""}, log=log, hang_teardown=True))
    registry.register(make("p3", deps={"p2": ""}, log=log, fail_setup=KeyError("k")))
    with pytest.raises(KeyError) as info:
        await registry.initialize_all()
    assert trio.current_time() == 3.0
    assert log == ["setup p1", "setup p2", "teardown p2", "teardown p1"]
    assert info.value.__notes__[1] == (
        "teardown of plugin 'p2' also failed: "
        """TooSlowError("teardown of plugin 'p2' took more than 3s")"""
    )


async def test_cancelled_setup_rolls_back_and_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    registry = PluginRegistry()
    registry.register(make("p1", log=log, teardown_sleep=1.0))
    registry.register(make("p2", deps={"p1": ""}, log=log, hang_setup=True))
    with trio.move_on_after(5) as scope:
        await registry.initialize_all()
    assert scope.cancelled_caught
    assert log == ["setup p1", "teardown p1"]
    assert trio.current_time() == 6.0  # the shielded teardown ran to its end
    assert registry.initialized == ()


# --- shutdown -----------------------------------------------------------------------------


async def test_hung_and_failing_teardowns_are_bounded_and_reported(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    events: list[Event] = []
    async with open_event_bus() as bus:
        bus.on(PluginFailed, events.append)
        registry = PluginRegistry(bus, teardown_timeout=2.0)
        registry.register(make("a", log=log))
        registry.register(make("b", log=log, hang_teardown=True))
        registry.register(make("c", log=log, fail_teardown=OSError("disk")))
        await registry.initialize_all()
        with pytest.raises(PluginError, match=r"^teardown failed for plugins 'c', 'b'$") as info:
            await registry.shutdown_all()
    assert trio.current_time() == 2.0
    assert log[3:] == ["teardown c", "teardown b", "teardown a"]
    error = info.value
    assert error.reason == "teardown_failed"
    assert error.plugins == ("c", "b")
    assert isinstance(error.errors[0], OSError)
    assert isinstance(error.errors[1], trio.TooSlowError)
    assert error.__cause__ is error.errors[0]
    assert [e.plugin for e in events if isinstance(e, PluginFailed)] == ["c", "b"]


async def test_shutdown_all_when_cancelled_still_tears_everything_down(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    registry = PluginRegistry()
    registry.register(make("a", log=log, teardown_sleep=1.0))
    registry.register(make("b", log=log, teardown_sleep=1.0))
    await registry.initialize_all()
    with trio.CancelScope() as scope:
        scope.cancel()
        await registry.shutdown_all()
    assert scope.cancelled_caught
    assert log[2:] == ["teardown b", "teardown a"]
    assert trio.current_time() == 2.0


async def test_keyboard_interrupt_in_a_teardown_aborts_the_shutdown() -> None:
    log: list[str] = []
    registry = PluginRegistry()
    registry.register(make("a", log=log))
    registry.register(make("b", log=log, fail_teardown=KeyboardInterrupt()))
    await registry.initialize_all()
    with pytest.raises(KeyboardInterrupt):
        await registry.shutdown_all()
    assert log[2:] == ["teardown b"]
    assert registry.initialized == ("a",)


# --- actions and events -------------------------------------------------------------------


class Shapes(Plugin):
    name = "shapes"
    version = "2.0.0"

    async def area(self, payload: Any) -> Any:
        await trio.lowlevel.checkpoint()
        return payload * payload

    async def explode(self, payload: Any) -> Any:
        await trio.lowlevel.checkpoint()
        raise ZeroDivisionError(payload)

    actions: ClassVar[dict[str, Any]] = {"area": area, "explode": "explode"}


async def _double(payload: Any) -> Any:
    await trio.lowlevel.checkpoint()
    return payload * 2


async def test_actions_and_their_events() -> None:
    shapes = Shapes()
    shapes.actions = {**Shapes.actions, "double": _double}  # type: ignore[misc]
    events: list[Event] = []
    async with open_event_bus() as bus:
        bus.on(PluginEvent, events.append)
        registry = PluginRegistry(bus)
        registry.register(shapes)
        with pytest.raises(PluginError, match=r"^plugin 'shapes' is not initialized$") as info:
            await registry.execute("shapes", "area", 3)
        assert info.value.reason == "not_initialized"
        await registry.initialize_all()
        assert registry.actions_of("shapes") == ("area", "explode", "double")
        assert await registry.execute("shapes", "area", 3) == 9
        assert await registry.execute("shapes", "double", 3) == 6
        with pytest.raises(ZeroDivisionError):
            await registry.execute("shapes", "explode", 1)
        with pytest.raises(
            PluginError, match=r"^plugin 'shapes' has no action 'aera' \(did you mean 'area'\?\)$"
        ) as info:
            await registry.execute("shapes", "aera", 3)
        assert info.value.reason == "unknown_action"
        await registry.shutdown_all()
    kinds = [type(e) for e in events]
    assert kinds == [
        PluginLoading,
        PluginLoaded,
        PluginInitializing,
        PluginInitialized,
        PluginExecuting,
        PluginExecuted,
        PluginExecuting,
        PluginExecuted,
        PluginExecuting,
        PluginFailed,
        PluginDisposing,
        PluginDisposed,
    ]
    assert events[1] == PluginLoaded(plugin="shapes", version="2.0.0", dependencies=())
    failed = events[9]
    assert isinstance(failed, PluginFailed)
    assert (failed.phase, failed.action) == ("execute", "explode")


async def test_a_refused_registration_emits_plugin_failed() -> None:
    events: list[Event] = []
    async with open_event_bus() as bus:
        bus.on(PluginEvent, events.append)
        registry = PluginRegistry(bus)
        with pytest.raises(ValueError, match=r"version"):
            registry.register(make("x", version="??"))
    assert [type(e) for e in events] == [PluginLoading, PluginFailed]
    failed = events[1]
    assert isinstance(failed, PluginFailed)
    assert failed.phase == "load"


async def test_context_gives_declared_dependencies_only() -> None:
    seen: dict[str, Any] = {}

    class Needs(Plugin):
        name = "needs"
        dependencies: ClassVar[dict[str, str]] = {"base": ">=1"}

        async def setup(self, ctx: PluginContext) -> None:
            await trio.lowlevel.checkpoint()
            seen["base"] = ctx.dependency("base")
            seen["ctx"] = ctx
            with pytest.raises(
                PluginError, match=r"^plugin 'needs' did not declare a dependency on 'other'$"
            ):
                ctx.dependency("other")

    base = make("base")
    registry = PluginRegistry()
    registry.register(Needs())
    registry.register(base)
    registry.register(make("other"))
    async with trio.open_nursery() as nursery:
        await registry.initialize_all(nursery=nursery)
    assert seen["base"] is base
    ctx = seen["ctx"]
    assert (ctx.plugin, ctx.registry, ctx.nursery) == ("needs", registry, nursery)
    assert (ctx.bus, ctx.config, ctx.resources) == (None, None, None)
    assert repr(base) == "<Plugin 'base' 1.0>"
    assert repr(registry) == "<PluginRegistry 3 plugins, 3 set up>"


async def test_default_setup_and_teardown_checkpoint() -> None:
    class Bare(Plugin):
        name = "bare"

    registry = PluginRegistry()
    registry.register(Bare())
    with trio.testing.assert_checkpoints():
        await registry.initialize_all()
    with trio.testing.assert_checkpoints():
        await registry.shutdown_all()


async def test_declarations_of_the_wrong_type() -> None:
    registry = PluginRegistry()

    class Declared(Plugin):
        name = "d"

    cases: list[tuple[str, object, str]] = [
        ("version", 1, r"^plugin 'd': version must be a str, got 1$"),
        ("dependencies", ["a"], r"^plugin 'd': dependencies must be a mapping, got \['a'\]$"),
        ("dependencies", {"a": 1}, r"^plugin 'd': the range of 'a' must be a str, got 1$"),
        ("actions", ["go"], r"^plugin 'd': actions must be a mapping, got \['go'\]$"),
        (
            "conflicts",
            "other",
            r"^plugin 'd': conflicts must be a collection of names, got 'other'$",
        ),
    ]
    for attribute, value, message in cases:
        plugin = Declared()
        setattr(plugin, attribute, value)
        with pytest.raises(TypeError, match=message):
            registry.register(plugin)
    with pytest.raises(PluginError, match=r"^no plugin named 1$"):
        registry.get(1)  # type: ignore[arg-type]
    assert registry.list() == []


# --- dependency order: a property ---------------------------------------------------------

_graphs = st.integers(1, 7).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=12),
        st.permutations(range(n)),
    )
)


def _has_cycle(n: int, edges: set[tuple[int, int]]) -> bool:
    graph = {i: {b for a, b in edges if a == i} for i in range(n)}
    state: dict[int, int] = {}

    def visit(node: int) -> bool:
        if state.get(node) == 1:
            return True
        if state.get(node) == 2:
            return False
        state[node] = 1
        found = any(visit(dep) for dep in graph[node])
        state[node] = 2
        return found

    return any(visit(i) for i in range(n))


@hyp_settings(max_examples=100)
@given(graph=_graphs)
def test_resolve_orders_dependencies_first_or_names_a_real_cycle(
    graph: tuple[int, list[tuple[int, int]], list[int]],
) -> None:
    n, raw_edges, registration = graph
    edges = {(a, b) for a, b in raw_edges if a != b}  # a depends on b
    registry = PluginRegistry()
    for index in registration:
        deps = {f"p{b}": "" for a, b in edges if a == index}
        registry.register(make(f"p{index}", deps=deps))
    if _has_cycle(n, edges):
        with pytest.raises(PluginError) as info:
            registry.resolve()
        assert info.value.reason == "cycle"
        cycle = [int(name[1:]) for name in info.value.plugins]
        for position, node in enumerate(cycle):  # each depends on the next, round the cycle
            assert (node, cycle[(position + 1) % len(cycle)]) in edges
        return
    order = registry.resolve()
    assert sorted(order) == sorted(f"p{i}" for i in range(n))
    position = {name: i for i, name in enumerate(order)}
    for a, b in edges:
        assert position[f"p{b}"] < position[f"p{a}"]


async def test_a_timed_out_teardown_that_raises_a_group_does_not_skip_the_others(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    grouped = make("grouped", log=log)
    grouped.teardown = hang_then_fail_in_a_child  # type: ignore[method-assign]
    registry = PluginRegistry(teardown_timeout=1.0)
    registry.register(make("first", log=log))
    registry.register(grouped)
    await registry.initialize_all()
    with pytest.raises(PluginError, match=r"^teardown failed for plugins 'grouped'$") as info:
        await registry.shutdown_all()
    assert log == ["setup first", "setup grouped", "teardown first"]  # after the failed one
    assert registry.initialized == ()
    assert trio.current_time() == 1.0
    [error] = info.value.errors
    assert isinstance(error, ExceptionGroup)
    assert [repr(e) for e in error.exceptions] == ["ValueError('child cleanup failed')"]
