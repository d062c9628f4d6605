"""Plugins: declared by subclassing :class:`Plugin`, resolved and run by :class:`PluginRegistry`.

A plugin declares its ``name``, a PEP 440 ``version``, the plugins it ``dependencies`` on
(each with a version range, a PEP 440 specifier such as ``">=1.2,<2"``), the plugins it
``conflicts`` with, and named ``actions``.  The registry checks the declarations when a plugin
is registered, resolves the dependency graph when :meth:`PluginRegistry.initialize_all` runs
(topological order, ties broken by registration order), sets the plugins up in that order and
tears them down in reverse.

Versions and ranges are parsed by ``packaging`` (imported when the first plugin is
registered, so ``import trio_orch`` does not pay for it).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, final

import attrs
import trio

from trio_orch._exceptions import PluginError
from trio_orch._log import get_logger
from trio_orch._shielded import run_shielded
from trio_orch._validate import check_instance, check_nonempty_str, check_number
from trio_orch.events import EventBus
from trio_orch.runtime._config import ConfigManager
from trio_orch.runtime._resources import ResourceManager
from trio_orch.runtime._runtime_events import (
    PluginDisposed,
    PluginDisposing,
    PluginExecuted,
    PluginExecuting,
    PluginFailed,
    PluginInitialized,
    PluginInitializing,
    PluginLoaded,
    PluginLoading,
    emit,
)

if TYPE_CHECKING:
    import builtins
    from collections.abc import Awaitable, Callable, Collection

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from trio_orch.events import Event

_logger = get_logger("runtime")

#: Default bound of each plugin's ``teardown()``, in seconds.
DEFAULT_TEARDOWN_TIMEOUT = 5.0


class Plugin:
    """Base class of plugins: subclass it and set the class attributes.

    ::

        class Viz(Plugin):
            name = "viz"
            version = "1.2.0"
            dependencies = {"data": ">=1.0,<2"}
            conflicts = ("old-viz",)
            actions = {"render": "render"}          # action name -> method name

            async def setup(self, ctx: PluginContext) -> None:
                self.data = ctx.dependency("data")

            async def render(self, payload: object) -> str:
                return f"<svg>{payload}</svg>"

    Attributes:
        name: unique within a registry (a non-empty str).
        version: a PEP 440 version string.
        dependencies: ``{plugin name: version range}``; the range is a PEP 440 specifier
            (``">=1.2"``, ``"~=2.0"``, ``">=1,<3"``) or ``""`` for any version.
        conflicts: names of plugins that must not be registered beside this one (either
            side may declare a conflict).
        actions: ``{action name: handler}``.  A handler is the name of a method of the
            plugin (``"render"``), a function defined in the class body (bound to the
            instance), or any async callable taking the payload.

    ``setup(ctx)`` and ``teardown()`` do nothing by default; override what you need.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    dependencies: ClassVar[Mapping[str, str]] = {}
    conflicts: ClassVar[Collection[str]] = ()
    actions: ClassVar[Mapping[str, Any]] = {}

    async def setup(self, ctx: PluginContext) -> None:
        """Prepare the plugin; its dependencies are set up already.

        An exception here makes :meth:`PluginRegistry.initialize_all` tear down the plugins
        it set up before this one (in reverse order) and re-raise it.
        """
        await trio.lowlevel.checkpoint()

    async def teardown(self) -> None:
        """Release what ``setup`` acquired; bounded by the registry's ``teardown_timeout``.

        It runs in a shielded cancel scope with that deadline: it is not cancelled by the
        caller's cancellation, only by running out of time (then it is reported as failed
        with :class:`trio.TooSlowError`).
        """
        await trio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"<Plugin {self.name!r} {self.version}>"


@final
@attrs.frozen
class PluginContext:
    """What a plugin's ``setup(ctx)`` receives.

    Attributes:
        plugin: the name of the plugin being set up.
        registry: the registry setting it up.
        bus: the event bus (the orchestrator's), or ``None``.
        config: the :class:`~trio_orch.ConfigManager`, or ``None``.
        resources: the :class:`~trio_orch.ResourceManager`, or ``None``.
        nursery: a nursery for the plugin's background tasks (the orchestrator's; it is
            cancelled after every plugin is torn down), or ``None``.
    """

    plugin: str
    registry: PluginRegistry
    bus: EventBus | None = None
    config: ConfigManager[Any] | None = None
    resources: ResourceManager | None = None
    nursery: trio.Nursery | None = None

    def dependency(self, name: str) -> Plugin:
        """Return the set-up instance of ``name``, one of this plugin's dependencies.

        Raises:
            PluginError: ``name`` is not among the plugin's declared dependencies.
        """
        declared = self.registry.get(self.plugin).dependencies
        if name not in declared:
            msg = f"plugin {self.plugin!r} did not declare a dependency on {name!r}"
            raise PluginError(msg, plugins=(self.plugin, name), reason="missing_dependency")
        return self.registry.get(name)


@attrs.define(eq=False)
class _Entry:
    plugin: Plugin
    version: Version
    requires: dict[str, SpecifierSet]
    conflicts: frozenset[str]
    actions: dict[str, Callable[[Any], Awaitable[Any]]]
    seq: int
    ready: bool = False


def _parse_version(plugin_name: str, version: object) -> Version:
    from packaging.version import InvalidVersion, Version

    if not isinstance(version, str):
        msg = f"plugin {plugin_name!r}: version must be a str, got {version!r}"
        raise TypeError(msg)
    try:
        return Version(version)
    except InvalidVersion:
        msg = f"plugin {plugin_name!r}: version must be a PEP 440 version, got {version!r}"
        raise ValueError(msg) from None


def _parse_requires(plugin_name: str, dependencies: object) -> dict[str, SpecifierSet]:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not isinstance(dependencies, Mapping):
        msg = f"plugin {plugin_name!r}: dependencies must be a mapping, got {dependencies!r}"
        raise TypeError(msg)
    requires: dict[str, SpecifierSet] = {}
    for dep, spec in dependencies.items():
        check_nonempty_str(f"plugin {plugin_name!r}: dependency name", dep)
        if not isinstance(spec, str):
            msg = f"plugin {plugin_name!r}: the range of {dep!r} must be a str, got {spec!r}"
            raise TypeError(msg)
        try:
            requires[dep] = SpecifierSet(spec)
        except InvalidSpecifier:
            msg = (
                f"plugin {plugin_name!r}: the range of {dep!r} must be a PEP 440 "
                f"specifier, got {spec!r}"
            )
            raise ValueError(msg) from None
    if plugin_name in requires:
        msg = f"plugin {plugin_name!r} depends on itself"
        raise PluginError(msg, plugins=(plugin_name,), reason="cycle")
    return requires


def _resolve_actions(plugin: Plugin) -> dict[str, Callable[[Any], Awaitable[Any]]]:
    name = plugin.name
    declared: object = plugin.actions
    if not isinstance(declared, Mapping):
        msg = f"plugin {name!r}: actions must be a mapping, got {declared!r}"
        raise TypeError(msg)
    class_functions = {
        id(value) for klass in type(plugin).__mro__ for value in vars(klass).values()
    }
    actions: dict[str, Callable[[Any], Awaitable[Any]]] = {}
    for action, handler in declared.items():
        check_nonempty_str(f"plugin {name!r}: action name", action)
        fn: Any = handler
        if isinstance(handler, str):
            fn = getattr(plugin, handler, None)
        elif inspect.isfunction(handler) and id(handler) in class_functions:
            fn = handler.__get__(plugin, type(plugin))
        if not callable(fn) or not _is_async(fn):
            msg = (
                f"plugin {name!r}: action {action!r} must be an async method name or an "
                f"async callable, got {handler!r}"
            )
            raise TypeError(msg)
        actions[action] = fn
    return actions


def _is_async(fn: object) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class's, not the instance's
    return inspect.iscoroutinefunction(call)


def _quote(names: Collection[str]) -> str:
    return ", ".join(repr(n) for n in names)


@final
@attrs.define(eq=False, repr=False)
class PluginRegistry:
    """Register plugins in any order; set them up in dependency order, tear them down in reverse.

    ::

        registry = PluginRegistry(bus=bus)
        registry.register(Viz()); registry.register(Data())
        await registry.initialize_all()          # Data.setup, then Viz.setup
        await registry.execute("viz", "render", payload)
        await registry.shutdown_all()            # Viz.teardown, then Data.teardown

    Args:
        bus: publish the plugins' lifecycle events (:class:`~trio_orch.PluginEvent`) here.
        config: given to every plugin as ``ctx.config``.
        resources: given to every plugin as ``ctx.resources``.
        teardown_timeout: bound, in seconds, of each plugin's ``teardown()`` (shielded from
            cancellation, cancelled at this deadline).

    Raises:
        TypeError, ValueError: an argument has the wrong type or value.
    """

    _bus: EventBus | None = attrs.field(default=None, alias="bus")
    _config: ConfigManager[Any] | None = attrs.field(default=None, kw_only=True, alias="config")
    _resources: ResourceManager | None = attrs.field(default=None, kw_only=True, alias="resources")
    _teardown_timeout: float = attrs.field(
        default=DEFAULT_TEARDOWN_TIMEOUT, kw_only=True, alias="teardown_timeout"
    )
    _entries: dict[str, _Entry] = attrs.field(init=False, factory=dict)
    _order: list[str] = attrs.field(init=False, factory=list)  # set up, in setup order
    _seq: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        check_instance("bus", self._bus, EventBus, "an EventBus", allow_none=True)
        check_instance("config", self._config, ConfigManager, "a ConfigManager", allow_none=True)
        check_instance(
            "resources", self._resources, ResourceManager, "a ResourceManager", allow_none=True
        )
        check_number("teardown_timeout", self._teardown_timeout, strict=True, allow_inf=True)

    def __repr__(self) -> str:
        return f"<PluginRegistry {len(self._entries)} plugins, {len(self._order)} set up>"

    @property
    def teardown_timeout(self) -> float:
        """The bound of each teardown, in seconds."""
        return self._teardown_timeout

    # --- registering ------------------------------------------------------------------------

    def register(self, plugin: Plugin) -> None:
        """Add ``plugin``; its dependencies may be registered later, in any order.

        The declaration is checked now: name, PEP 440 version and ranges, async actions,
        conflicts with the plugins already registered (either side may declare one).
        Missing dependencies, version mismatches and cycles are found by
        :meth:`initialize_all`, once every plugin had its chance to be registered.
        Emits :class:`~trio_orch.PluginLoading` then :class:`~trio_orch.PluginLoaded` (or
        :class:`~trio_orch.PluginFailed` with ``phase="load"``).  Sync; not a checkpoint.

        Raises:
            TypeError: ``plugin`` is not a Plugin, or a declaration has the wrong type.
            ValueError: the name is empty, or a version or range is not PEP 440.
            PluginError: the name is taken (``reason="duplicate"``), it conflicts with a
                registered plugin (``"conflict"``) or it depends on itself (``"cycle"``).
        """
        check_instance("plugin", plugin, Plugin, "a Plugin")
        name = check_nonempty_str("plugin name", plugin.name)
        self._emit(PluginLoading(plugin=name, version=str(plugin.version)))
        try:
            entry = self._check(plugin, name)
        except Exception as exc:
            self._emit(PluginFailed(plugin=name, phase="load", error=exc))
            raise
        self._entries[name] = entry
        self._emit(
            PluginLoaded(
                plugin=name, version=str(entry.version), dependencies=tuple(entry.requires)
            )
        )

    def _check(self, plugin: Plugin, name: str) -> _Entry:
        if name in self._entries:
            msg = f"plugin {name!r} is already registered"
            raise PluginError(msg, plugins=(name,), reason="duplicate")
        version = _parse_version(name, plugin.version)
        requires = _parse_requires(name, plugin.dependencies)
        if isinstance(plugin.conflicts, str):
            msg = f"plugin {name!r}: conflicts must be a collection of names, got {plugin.conflicts!r}"
            raise TypeError(msg)
        conflicts = frozenset(plugin.conflicts)
        actions = _resolve_actions(plugin)
        for other, entry in self._entries.items():
            if other in conflicts or name in entry.conflicts:
                declared_by = name if other in conflicts else other
                msg = (
                    f"plugins {name!r} and {other!r} conflict ({declared_by!r} declares it); "
                    f"unregister {other!r} first"
                )
                raise PluginError(msg, plugins=(name, other), reason="conflict")
        self._seq += 1
        return _Entry(plugin, version, requires, conflicts, actions, self._seq)

    async def unregister(self, name: str) -> Plugin:
        """Remove plugin ``name`` (tearing it down first if it is set up) and return it.

        Raises:
            PluginError: no such plugin (``reason="unknown_plugin"``), or registered plugins
                depend on it (``"has_dependents"``, naming them); nothing changes.
            Exception: what its ``teardown`` raised (it is removed all the same).

        Cancellation:
            The teardown is shielded and bounded by ``teardown_timeout``; the plugin is
            removed whatever happens.

        Checkpoints:
            Always.
        """
        entry = self._entry(name)
        dependents = [other for other, e in self._entries.items() if name in e.requires]
        if dependents:
            msg = f"plugin {name!r} cannot be unregistered: {_quote(dependents)} depend on it"
            raise PluginError(msg, plugins=(name, *dependents), reason="has_dependents")
        await trio.lowlevel.checkpoint_if_cancelled()
        del self._entries[name]
        error: BaseException | None = None
        if entry.ready:
            self._order.remove(name)
            error = await self._teardown(name, entry)
        await trio.lowlevel.cancel_shielded_checkpoint()
        if error is not None:
            raise error
        return entry.plugin

    def get(self, name: str) -> Plugin:
        """The registered plugin ``name``.

        Raises:
            PluginError: no such plugin (``reason="unknown_plugin"``, with a "did you mean").
        """
        return self._entry(name).plugin

    def list(self) -> builtins.list[Plugin]:
        """The registered plugins, in registration order."""
        return [e.plugin for e in sorted(self._entries.values(), key=lambda e: e.seq)]

    def is_initialized(self, name: str) -> bool:
        """True if plugin ``name`` is registered and set up."""
        entry = self._entries.get(name)
        return entry is not None and entry.ready

    @property
    def initialized(self) -> tuple[str, ...]:
        """The names of the plugins set up, in setup order."""
        return tuple(self._order)

    # --- resolving --------------------------------------------------------------------------

    def resolve(self) -> builtins.list[str]:
        """Every registered plugin's name in dependency order (dependencies first).

        Ties are broken by registration order, so the order is deterministic.  Sync.

        Raises:
            PluginError: a dependency is not registered (``reason="missing_dependency"``),
                a registered version is outside a dependent's range (``"version_mismatch"``),
                or dependencies form a cycle (``"cycle"``, naming the plugins on it in order).
                (Conflicts are refused by :meth:`register` already.)
        """
        entries = self._entries
        ordered = sorted(entries, key=lambda n: entries[n].seq)
        for name in ordered:
            for dep, spec in entries[name].requires.items():
                if dep not in entries:
                    msg = f"plugin {name!r} depends on {dep!r}, which is not registered"
                    raise PluginError(msg, plugins=(name, dep), reason="missing_dependency")
                found = entries[dep].version
                if not spec.contains(found, prereleases=True):
                    msg = f"plugin {name!r} needs {dep!r} {spec}, but {dep!r} {found} is registered"
                    raise PluginError(msg, plugins=(name, dep), reason="version_mismatch")
        # Conflicts cannot be registered (register refuses them), so none are left here.
        return self._topological(ordered)

    def _topological(self, ordered: builtins.list[str]) -> builtins.list[str]:
        entries = self._entries
        result: builtins.list[str] = []
        state: dict[str, int] = {}  # 1: on the current path, 2: done

        def visit(name: str, path: builtins.list[str]) -> None:
            mark = state.get(name)
            if mark == 2:
                return
            if mark == 1:
                cycle = [*path[path.index(name) :], name]
                msg = f"plugins depend on each other in a cycle: {' -> '.join(cycle)}"
                raise PluginError(msg, plugins=tuple(cycle[:-1]), reason="cycle")
            state[name] = 1
            path.append(name)
            for dep in sorted(entries[name].requires, key=lambda n: entries[n].seq):
                visit(dep, path)
            path.pop()
            state[name] = 2
            result.append(name)

        for name in ordered:
            visit(name, [])
        return result

    # --- lifecycle --------------------------------------------------------------------------

    async def initialize_all(self, *, nursery: trio.Nursery | None = None) -> builtins.list[str]:
        """Set up every registered plugin not set up yet, dependencies first.

        Each plugin's ``setup(ctx)`` runs once, after its dependencies'.  When one fails,
        the plugins set up by this call are torn down in reverse order (each bounded by
        ``teardown_timeout``) and the original exception is re-raised, unwrapped, with a
        note per failed teardown (``"teardown of plugin 'b' also failed: ..."``) and a
        :class:`~trio_orch.PluginFailed` event for each failure.

        Args:
            nursery: given to the plugins as ``ctx.nursery`` for background tasks.

        Returns:
            The names set up by this call, in order.

        Raises:
            PluginError: the registry does not resolve (see :meth:`resolve`); nothing is
                set up then.
            Exception: what a ``setup`` raised, as itself.

        Cancellation:
            A cancelled ``setup`` is handled as a failed one: the plugins set up by this
            call are torn down (shielded, bounded) and ``Cancelled`` propagates.

        Checkpoints:
            Always.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        order = self.resolve()
        done: builtins.list[str] = []
        for name in order:
            entry = self._entries[name]
            if entry.ready:
                continue
            ctx = PluginContext(
                plugin=name,
                registry=self,
                bus=self._bus,
                config=self._config,
                resources=self._resources,
                nursery=nursery,
            )
            self._emit(PluginInitializing(plugin=name))
            started = trio.current_time()
            try:
                await entry.plugin.setup(ctx)
            except BaseException as exc:
                await self._rollback(name, exc, done)
                raise
            entry.ready = True
            self._order.append(name)
            done.append(name)
            self._emit(PluginInitialized(plugin=name, duration=trio.current_time() - started))
        await trio.lowlevel.cancel_shielded_checkpoint()
        return done

    async def _rollback(  # noqa: ASYNC910 - on the way out of initialize_all, shielded teardowns
        self, name: str, exc: BaseException, done: builtins.list[str]
    ) -> None:
        if isinstance(exc, Exception):
            _logger.error(
                "trio_orch.runtime.plugin_setup_failed",
                plugin=name,
                error=repr(exc),
                rolling_back=list(reversed(done)),
            )
            self._emit(PluginFailed(plugin=name, phase="setup", error=exc))
            exc.add_note(f"raised by the setup of plugin {name!r}")
        for other in reversed(done):
            entry = self._entries[other]
            self._order.remove(other)
            error = await self._teardown(other, entry)
            if error is not None and isinstance(exc, Exception):
                exc.add_note(f"teardown of plugin {other!r} also failed: {error!r}")

    async def shutdown_all(self) -> None:
        """Tear down every set-up plugin in reverse setup order, each bounded.

        Every plugin is torn down even when an earlier teardown fails or times out (each
        failure is logged and reported as :class:`~trio_orch.PluginFailed`).

        Raises:
            PluginError: ``reason="teardown_failed"`` when teardowns failed; ``errors``
                holds their exceptions, the first is ``__cause__``.

        Cancellation:
            Each teardown is shielded and bounded by ``teardown_timeout``: a cancelled
            caller still tears everything down, then sees ``Cancelled``.

        Checkpoints:
            Always.
        """
        failed: builtins.list[str] = []
        errors: builtins.list[BaseException] = []
        while self._order:
            name = self._order.pop()
            error = await self._teardown(name, self._entries[name])
            if error is not None:
                failed.append(name)
                errors.append(error)
        await trio.lowlevel.checkpoint()
        if errors:
            msg = f"teardown failed for plugins {_quote(failed)}"
            raise PluginError(
                msg, plugins=tuple(failed), reason="teardown_failed", errors=tuple(errors)
            ) from errors[0]

    async def _teardown(  # noqa: ASYNC910 - one shielded teardown; callers checkpoint
        self, name: str, entry: _Entry
    ) -> Exception | None:
        """Run one teardown, shielded and bounded; return its error instead of raising it.

        ``KeyboardInterrupt`` and ``SystemExit`` propagate (they abort the shutdown).
        """
        entry.ready = False
        self._emit(PluginDisposing(plugin=name))
        started = trio.current_time()
        done = await run_shielded(entry.plugin.teardown, self._teardown_timeout)
        error = done.error
        if done.timed_out and error is None:
            msg = f"teardown of plugin {name!r} took more than {self._teardown_timeout:g}s"
            error = trio.TooSlowError(msg)
        if error is not None:
            _logger.error(
                "trio_orch.runtime.plugin_teardown_failed", plugin=name, error=repr(error)
            )
            self._emit(PluginFailed(plugin=name, phase="teardown", error=error))
        self._emit(
            PluginDisposed(plugin=name, duration=trio.current_time() - started, clean=error is None)
        )
        return error  # noqa: ASYNC910

    # --- actions ----------------------------------------------------------------------------

    async def execute(self, name: str, action: str, payload: Any = None) -> Any:
        """Run action ``action`` of plugin ``name`` on ``payload``; return its result.

        Emits :class:`~trio_orch.PluginExecuting`, then :class:`~trio_orch.PluginExecuted`
        or :class:`~trio_orch.PluginFailed` (``phase="execute"``).  No limit or timeout of
        its own: :meth:`trio_orch.Orchestrator.execute_plugin` adds those.

        Raises:
            PluginError: no such plugin (``"unknown_plugin"``), it is not set up
                (``"not_initialized"``), or it has no such action (``"unknown_action"``).
            Exception: what the action raised, as itself.

        Cancellation:
            Cancels the action.

        Checkpoints:
            Always (before the action runs).
        """
        fn = self._action(name, action)
        await trio.lowlevel.checkpoint()
        self._emit(PluginExecuting(plugin=name, action=action))
        started = trio.current_time()
        try:
            result = await fn(payload)
        except Exception as exc:
            self._emit(PluginFailed(plugin=name, phase="execute", error=exc, action=action))
            raise
        self._emit(
            PluginExecuted(plugin=name, action=action, duration=trio.current_time() - started)
        )
        return result

    def check_action(self, name: str, action: str) -> None:
        """Raise what :meth:`execute` would raise before running: unknown or not set up.

        Raises:
            PluginError: no such plugin (``"unknown_plugin"``), no such action
                (``"unknown_action"``), or the plugin is not set up (``"not_initialized"``).
        """
        self._action(name, action)

    def actions_of(self, name: str) -> tuple[str, ...]:
        """The names of plugin ``name``'s actions.

        Raises:
            PluginError: no such plugin.
        """
        return tuple(self._entry(name).actions)

    # --- internals --------------------------------------------------------------------------

    def _action(self, name: str, action: str) -> Callable[[Any], Awaitable[Any]]:
        entry = self._entry(name)
        fn = entry.actions.get(action)
        if fn is None:
            msg = f"plugin {name!r} has no action {action!r}{_suggest(action, entry.actions)}"
            raise PluginError(msg, plugins=(name,), reason="unknown_action")
        if not entry.ready:
            msg = f"plugin {name!r} is not initialized"
            raise PluginError(msg, plugins=(name,), reason="not_initialized")
        return fn

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            msg = f"no plugin named {name!r}{_suggest(name, self._entries)}"
            raise PluginError(msg, plugins=(name,), reason="unknown_plugin")
        return entry

    def _emit(self, event: Event) -> None:
        emit(self._bus, event)


def _suggest(name: object, known: Collection[str]) -> str:
    import difflib

    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
