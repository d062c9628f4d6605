"""The base of every event, and the events that trio_orch itself publishes.

Events are frozen attrs classes that subclass :class:`Event`::

    @attrs.frozen
    class UserInput(Event):
        text: str

Naming scheme for events that trio_orch publishes (every component follows it):

* Every event trio_orch publishes subclasses :class:`SystemEvent`, so one subscription to
  ``SystemEvent`` sees all of them and ``Event`` (the wildcard) sees them and yours.
* Each component defines one base class named ``<Component>Event(SystemEvent)``
  (``BusEvent`` and ``ActorEvent`` here; the engines and the runtime define their own
  ``SystemEvent`` subclasses the same way), so subscribing to the base class sees all events
  of one component.
* Concrete events are named ``<Subject><PastTenseVerb>``: ``HandlerFailed``,
  ``EventsDropped``, ``ActorFailed``, ``ActorRestarted``.
* Fields identify the subject by name (``handler``, ``actor``, ...) as plain strings, then
  carry the data; exceptions are carried as ``error``.
* The matching structlog event is ``"trio_orch.<area>.<snake_case_verb>"``, logged through
  the standard-library logger ``trio_orch.<area>`` (``HandlerFailed`` is logged as
  ``"trio_orch.bus.handler_failed"``, ``ActorFailed`` as ``"trio_orch.actor.failed"``).
"""

from __future__ import annotations

from typing import final

import attrs


@attrs.frozen
class Event:
    """Base class of every event: subclass it with ``@attrs.frozen``.

    It has no fields, so frozen (slotted) attrs subclasses can add theirs.  A handler or
    subscription registered for a class receives instances of its subclasses too; one
    registered for :class:`Event` itself receives every event (the wildcard).
    """


@attrs.frozen
class SystemEvent(Event):
    """Base class of every event that trio_orch itself publishes (see the naming scheme)."""


@attrs.frozen
class BusEvent(SystemEvent):
    """Base class of the events that the event bus publishes about itself."""


@final
@attrs.frozen
class HandlerFailed(BusEvent):
    """A handler (or a flow's ``where``/``transform``) raised while handling ``event``.

    The error was logged as ``"trio_orch.bus.handler_failed"`` and counted in
    :attr:`trio_orch.EventBus.stats`; other handlers still received the event.  A handler
    that fails on a ``HandlerFailed`` event is logged and counted but not reported again.

    Attributes:
        handler: the handler's qualified name (or the subscriber's name).
        event: the event being handled.
        error: the exception it raised.
    """

    handler: str
    event: Event
    error: Exception = attrs.field(eq=False)


@final
@attrs.frozen
class EventsDropped(BusEvent):
    """A bounded subscriber (subscription, async handler, actor inbox) dropped events.

    Published with each log of the drops (``"trio_orch.bus.dropped"``): the first drop at
    once, then at most once a second per subscriber, and the rest when it closes; each
    summarises the drops since the previous report.  Drops of :class:`SystemEvent`
    instances are counted and logged but not reported by another ``EventsDropped``.

    Attributes:
        subscriber: the subscriber's name.
        policy: the name of its :class:`trio_orch.DropPolicy`.
        count: events dropped since the previous report.
        total: events this subscriber dropped so far.
    """

    subscriber: str
    policy: str
    count: int
    total: int


@attrs.frozen
class ActorEvent(SystemEvent):
    """Base class of the events that a choreographer publishes about its actors."""


@final
@attrs.frozen
class ActorFailed(ActorEvent):
    """An actor raised; ``restarting`` says whether its restart policy restarts it.

    Attributes:
        actor: the actor's name.
        error: the exception it raised.
        restarting: True if it restarts, False if the error now stops the choreographer.
    """

    actor: str
    error: Exception = attrs.field(eq=False)
    restarting: bool


@final
@attrs.frozen
class ActorRestarted(ActorEvent):
    """An actor was restarted by its restart policy after ``delay`` seconds.

    Attributes:
        actor: the actor's name.
        restarts: how many restarts fall within the policy's window, this one included.
        delay: the backoff slept before the restart.
    """

    actor: str
    restarts: int
    delay: float
