"""events layer of trio_orch: typed events, the event bus, actors, choreography, stream operators.

Imports only ``trio_orch.primitives`` (through its public names) and the modules below every
layer (``trio_orch._exceptions``, ``_validate``, ``_groups``, ``_log``).
"""

from __future__ import annotations

import typing as _typing

from trio_orch._lazy import lazy_names as _lazy_names

# Every name below is loaded on first use (PEP 562, see trio_orch/_lazy.py), so that
# importing this package costs nothing for the components a program does not use.  A
# new name goes in these TYPE_CHECKING imports (what type checkers read) and in _LAZY.
if _typing.TYPE_CHECKING:
    from trio_orch.events._actor import Actor as Actor
    from trio_orch.events._actor import ActorRef as ActorRef
    from trio_orch.events._actor import ActorStats as ActorStats
    from trio_orch.events._bus import BusStats as BusStats
    from trio_orch.events._bus import EventBus as EventBus
    from trio_orch.events._bus import Subscription as Subscription
    from trio_orch.events._bus import open_event_bus as open_event_bus
    from trio_orch.events._choreographer import Choreographer as Choreographer
    from trio_orch.events._choreographer import Flow as Flow
    from trio_orch.events._choreographer import open_choreographer as open_choreographer
    from trio_orch.events._event import ActorEvent as ActorEvent
    from trio_orch.events._event import ActorFailed as ActorFailed
    from trio_orch.events._event import ActorRestarted as ActorRestarted
    from trio_orch.events._event import BusEvent as BusEvent
    from trio_orch.events._event import Event as Event
    from trio_orch.events._event import EventsDropped as EventsDropped
    from trio_orch.events._event import HandlerFailed as HandlerFailed
    from trio_orch.events._event import SystemEvent as SystemEvent
    from trio_orch.events._operators import Operator as Operator
    from trio_orch.events._operators import OperatorStats as OperatorStats
    from trio_orch.events._operators import ThrottleMode as ThrottleMode
    from trio_orch.events._operators import batch as batch
    from trio_orch.events._operators import debounce as debounce
    from trio_orch.events._operators import dedupe as dedupe
    from trio_orch.events._operators import open_pipeline as open_pipeline
    from trio_orch.events._operators import start_pipeline as start_pipeline
    from trio_orch.events._operators import throttle as throttle
    from trio_orch.events._restarts import RestartIntensity as RestartIntensity
    from trio_orch.events._restarts import RestartPolicy as RestartPolicy

#: Names loaded on first use (PEP 562), with the module that defines them.
_LAZY = {
    "Actor": "trio_orch.events._actor",
    "ActorRef": "trio_orch.events._actor",
    "ActorStats": "trio_orch.events._actor",
    "BusStats": "trio_orch.events._bus",
    "EventBus": "trio_orch.events._bus",
    "Subscription": "trio_orch.events._bus",
    "open_event_bus": "trio_orch.events._bus",
    "Choreographer": "trio_orch.events._choreographer",
    "Flow": "trio_orch.events._choreographer",
    "open_choreographer": "trio_orch.events._choreographer",
    "ActorEvent": "trio_orch.events._event",
    "ActorFailed": "trio_orch.events._event",
    "ActorRestarted": "trio_orch.events._event",
    "BusEvent": "trio_orch.events._event",
    "Event": "trio_orch.events._event",
    "EventsDropped": "trio_orch.events._event",
    "HandlerFailed": "trio_orch.events._event",
    "SystemEvent": "trio_orch.events._event",
    "Operator": "trio_orch.events._operators",
    "OperatorStats": "trio_orch.events._operators",
    "ThrottleMode": "trio_orch.events._operators",
    "batch": "trio_orch.events._operators",
    "debounce": "trio_orch.events._operators",
    "dedupe": "trio_orch.events._operators",
    "open_pipeline": "trio_orch.events._operators",
    "start_pipeline": "trio_orch.events._operators",
    "throttle": "trio_orch.events._operators",
    "RestartIntensity": "trio_orch.events._restarts",
    "RestartPolicy": "trio_orch.events._restarts",
}

__getattr__, __dir__ = _lazy_names(globals(), _LAZY)
