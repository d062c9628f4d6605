"""The events the runtime publishes: orchestrator, plugin lifecycle and resource events.

Every one is a :class:`~trio_orch.SystemEvent`, in three families, each with its base class
so that one subscription sees a whole family:

* :class:`OrchestratorEvent`: :class:`OrchestratorInitialized` (once every component and
  plugin is set up) and :class:`OrchestratorShutdown` (once everything is torn down).
* :class:`PluginEvent`, the lifecycle of each plugin, in this order:
  :class:`PluginLoading` / :class:`PluginLoaded` (``register``),
  :class:`PluginInitializing` / :class:`PluginInitialized` (``setup``),
  :class:`PluginExecuting` / :class:`PluginExecuted` (each action run),
  :class:`PluginDisposing` / :class:`PluginDisposed` (``teardown``), and
  :class:`PluginFailed` (the error of any phase; ``phase`` says which).
* :class:`ResourceEvent`: :class:`ResourceAllocated`, :class:`ResourceFreed` and
  :class:`ResourceRejected` (a request above the whole limit).

The lifecycle names ending in *-ing* depart from the ``<Subject><PastTenseVerb>`` scheme on
purpose: they mark the start of a phase whose end is the matching past-tense event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import attrs

from trio_orch._log import get_logger
from trio_orch.events import SystemEvent

if TYPE_CHECKING:
    from trio_orch.events import Event, EventBus

_logger = get_logger("runtime")


def emit(bus: EventBus | None, event: Event) -> None:
    """Publish ``event`` on ``bus`` without blocking; ``None`` publishes nothing.

    An event for a bus that is already closed is not lost silently: it is logged as
    ``"trio_orch.runtime.event_dropped"`` (the way every runtime component publishes).
    """
    if bus is None:
        return
    if bus.closed:
        _logger.warning(
            "trio_orch.runtime.event_dropped", event_type=type(event).__name__, reason="bus closed"
        )
        return
    bus.emit(event)


# --- orchestrator -------------------------------------------------------------------------


@attrs.frozen
class OrchestratorEvent(SystemEvent):
    """Base class of the events :func:`trio_orch.open_orchestrator` publishes about itself."""


@final
@attrs.frozen
class OrchestratorInitialized(OrchestratorEvent):
    """Every component started and every plugin was set up; the block's body runs next.

    Attributes:
        plugins: the names of the plugins set up, in dependency order.
        components: the names of the components started, in start order.
        duration: seconds the start-up took.
    """

    plugins: tuple[str, ...]
    components: tuple[str, ...]
    duration: float


@final
@attrs.frozen
class OrchestratorShutdown(OrchestratorEvent):
    """Everything was torn down, in reverse start order (published last, before the bus closes).

    Attributes:
        uptime: seconds since the orchestrator started.
        errors: how many teardowns failed or timed out (each logged and, for plugins,
            reported as a :class:`PluginFailed`).
        aborted: True if the shutdown was cut short (a second Ctrl-C: ``KeyboardInterrupt``
            during the shutdown) and later steps were skipped.
    """

    uptime: float
    errors: int
    aborted: bool


# --- plugins ------------------------------------------------------------------------------


@attrs.frozen
class PluginEvent(SystemEvent):
    """Base class of a plugin's lifecycle events.

    Attributes:
        plugin: the plugin's name.
    """

    plugin: str


@final
@attrs.frozen
class PluginLoading(PluginEvent):
    """``register`` received the plugin and is checking its declaration.

    Attributes:
        version: the version the plugin declares (as written).
    """

    version: str


@final
@attrs.frozen
class PluginLoaded(PluginEvent):
    """The plugin is registered (not set up yet).

    Attributes:
        version: its normalised PEP 440 version.
        dependencies: the names of the plugins it depends on.
    """

    version: str
    dependencies: tuple[str, ...]


@final
@attrs.frozen
class PluginInitializing(PluginEvent):
    """The plugin's ``setup(ctx)`` is about to run."""


@final
@attrs.frozen
class PluginInitialized(PluginEvent):
    """The plugin's ``setup(ctx)`` returned.

    Attributes:
        duration: seconds ``setup`` took.
    """

    duration: float


@final
@attrs.frozen
class PluginExecuting(PluginEvent):
    """One of the plugin's actions is about to run.

    Attributes:
        action: the action's name.
    """

    action: str


@final
@attrs.frozen
class PluginExecuted(PluginEvent):
    """One of the plugin's actions returned.

    Attributes:
        action: the action's name.
        duration: seconds it took.
    """

    action: str
    duration: float


@final
@attrs.frozen
class PluginDisposing(PluginEvent):
    """The plugin's ``teardown()`` is about to run."""


@final
@attrs.frozen
class PluginDisposed(PluginEvent):
    """The plugin's ``teardown()`` returned (or failed: then :class:`PluginFailed` came first).

    Attributes:
        duration: seconds ``teardown`` took.
        clean: False if it raised or ran out of time.
    """

    duration: float
    clean: bool


@final
@attrs.frozen
class PluginFailed(PluginEvent):
    """A phase of the plugin's lifecycle raised (or, for teardown, ran out of time).

    Attributes:
        phase: ``"load"``, ``"setup"``, ``"execute"`` or ``"teardown"``.
        error: the exception (a :class:`trio.TooSlowError` for a teardown that timed out).
        action: the action's name for ``"execute"``, else ``None``.
    """

    phase: str
    error: BaseException = attrs.field(eq=False)
    action: str | None = None


# --- resources ----------------------------------------------------------------------------


@attrs.frozen
class ResourceEvent(SystemEvent):
    """Base class of the events a :class:`trio_orch.ResourceManager` publishes.

    Attributes:
        kind: the kind of the request (``"memory"``, ``"gpu"``, ...).
        size: its size, in the manager's units.
    """

    kind: str
    size: int


@final
@attrs.frozen
class ResourceAllocated(ResourceEvent):
    """A request was granted.

    Attributes:
        handle: the handle's id (unique within its manager).
        allocated: the manager's total allocation after this grant.
        waited: seconds the request waited for budget (0.0 when granted at once).
    """

    handle: int
    allocated: int
    waited: float


@final
@attrs.frozen
class ResourceFreed(ResourceEvent):
    """A handle was freed (explicitly, at the end of its block, or on cancellation).

    Attributes:
        handle: the handle's id.
        allocated: the manager's total allocation after this free.
        held: seconds the handle was held.
    """

    handle: int
    allocated: int
    held: float


@final
@attrs.frozen
class ResourceRejected(ResourceEvent):
    """A request larger than the whole limit was refused with :class:`trio_orch.ResourceError`.

    Attributes:
        limit: the manager's ``memory_limit``.
    """

    limit: int


# --- configuration ------------------------------------------------------------------------


@attrs.frozen
class ConfigEvent(SystemEvent):
    """Base class of the events a :class:`trio_orch.ConfigManager` publishes while watching."""


@final
@attrs.frozen
class ConfigReloaded(ConfigEvent):
    """A watched file changed and the reloaded settings differ from the previous ones.

    Attributes:
        files: the files the manager reads.
    """

    files: tuple[str, ...]


@final
@attrs.frozen
class ConfigReloadFailed(ConfigEvent):
    """A watched file changed but the sources no longer make valid settings (kept the old ones).

    Attributes:
        error: the :class:`trio_orch.ConfigError`, listing every problem.
    """

    error: Exception = attrs.field(eq=False)
