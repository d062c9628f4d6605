"""trio_orch: Trio-native orchestration.

Retry with backoff, cancellation, concurrency and rate limits, bounded queues, typed events
routed between actors, DAG workflows, a reconnecting WebSocket client, progress and ETA — all
structured-concurrency correct.  Everything public is importable from here.
"""

from __future__ import annotations

from trio_orch._exceptions import BusClosed as BusClosed
from trio_orch._exceptions import ConnectionLost as ConnectionLost
from trio_orch._exceptions import FatalCloseCode as FatalCloseCode
from trio_orch._exceptions import FlowDeadlock as FlowDeadlock
from trio_orch._exceptions import HandshakeRejected as HandshakeRejected
from trio_orch._exceptions import LimiterFull as LimiterFull
from trio_orch._exceptions import OrchError as OrchError
from trio_orch._exceptions import PermanentError as PermanentError
from trio_orch._exceptions import QueueFull as QueueFull
from trio_orch._exceptions import TransientError as TransientError
from trio_orch._exceptions import WorkflowDefinitionError as WorkflowDefinitionError
from trio_orch.engines import CompensationResult as CompensationResult
from trio_orch.engines import ConnectionFailed as ConnectionFailed
from trio_orch.engines import ConnectionState as ConnectionState
from trio_orch.engines import ConnectionStateChanged as ConnectionStateChanged
from trio_orch.engines import Envelope as Envelope
from trio_orch.engines import FailurePolicy as FailurePolicy
from trio_orch.engines import MessagesPossiblyLost as MessagesPossiblyLost
from trio_orch.engines import ReconnectPolicy as ReconnectPolicy
from trio_orch.engines import Step as Step
from trio_orch.engines import StepCancelled as StepCancelled
from trio_orch.engines import StepCompensated as StepCompensated
from trio_orch.engines import StepContext as StepContext
from trio_orch.engines import StepFailed as StepFailed
from trio_orch.engines import StepProgress as StepProgress
from trio_orch.engines import StepResult as StepResult
from trio_orch.engines import StepRetrying as StepRetrying
from trio_orch.engines import StepSkipped as StepSkipped
from trio_orch.engines import StepStarted as StepStarted
from trio_orch.engines import StepStatus as StepStatus
from trio_orch.engines import StepSucceeded as StepSucceeded
from trio_orch.engines import WebSocketClient as WebSocketClient
from trio_orch.engines import WebSocketClientStats as WebSocketClientStats
from trio_orch.engines import WebSocketEvent as WebSocketEvent
from trio_orch.engines import Workflow as Workflow
from trio_orch.engines import WorkflowEvent as WorkflowEvent
from trio_orch.engines import WorkflowFailed as WorkflowFailed
from trio_orch.engines import WorkflowFinished as WorkflowFinished
from trio_orch.engines import WorkflowResult as WorkflowResult
from trio_orch.engines import WorkflowStarted as WorkflowStarted
from trio_orch.engines import WorkflowStatus as WorkflowStatus
from trio_orch.engines import open_ws_client as open_ws_client
from trio_orch.events import Actor as Actor
from trio_orch.events import ActorEvent as ActorEvent
from trio_orch.events import ActorFailed as ActorFailed
from trio_orch.events import ActorRef as ActorRef
from trio_orch.events import ActorRestarted as ActorRestarted
from trio_orch.events import ActorStats as ActorStats
from trio_orch.events import BusEvent as BusEvent
from trio_orch.events import BusStats as BusStats
from trio_orch.events import Choreographer as Choreographer
from trio_orch.events import Event as Event
from trio_orch.events import EventBus as EventBus
from trio_orch.events import EventsDropped as EventsDropped
from trio_orch.events import Flow as Flow
from trio_orch.events import HandlerFailed as HandlerFailed
from trio_orch.events import Operator as Operator
from trio_orch.events import OperatorStats as OperatorStats
from trio_orch.events import RestartPolicy as RestartPolicy
from trio_orch.events import Subscription as Subscription
from trio_orch.events import SystemEvent as SystemEvent
from trio_orch.events import ThrottleMode as ThrottleMode
from trio_orch.events import batch as batch
from trio_orch.events import debounce as debounce
from trio_orch.events import dedupe as dedupe
from trio_orch.events import open_choreographer as open_choreographer
from trio_orch.events import open_event_bus as open_event_bus
from trio_orch.events import open_pipeline as open_pipeline
from trio_orch.events import start_pipeline as start_pipeline
from trio_orch.events import throttle as throttle
from trio_orch.primitives import DEFAULT_CLASSIFIER as DEFAULT_CLASSIFIER
from trio_orch.primitives import AsyncOperation as AsyncOperation
from trio_orch.primitives import BoundedReceiveChannel as BoundedReceiveChannel
from trio_orch.primitives import BoundedSendChannel as BoundedSendChannel
from trio_orch.primitives import ConcurrencyLimiter as ConcurrencyLimiter
from trio_orch.primitives import Debouncer as Debouncer
from trio_orch.primitives import DebouncerStats as DebouncerStats
from trio_orch.primitives import DropPolicy as DropPolicy
from trio_orch.primitives import ErrorClassifier as ErrorClassifier
from trio_orch.primitives import ErrorKind as ErrorKind
from trio_orch.primitives import EtaEstimator as EtaEstimator
from trio_orch.primitives import Jitter as Jitter
from trio_orch.primitives import LimiterStats as LimiterStats
from trio_orch.primitives import OpStatus as OpStatus
from trio_orch.primitives import ProgressSnapshot as ProgressSnapshot
from trio_orch.primitives import ProgressStats as ProgressStats
from trio_orch.primitives import ProgressTask as ProgressTask
from trio_orch.primitives import ProgressTracker as ProgressTracker
from trio_orch.primitives import QueueStats as QueueStats
from trio_orch.primitives import RetryDetails as RetryDetails
from trio_orch.primitives import RetryPolicy as RetryPolicy
from trio_orch.primitives import Selector as Selector
from trio_orch.primitives import Store as Store
from trio_orch.primitives import StoreStats as StoreStats
from trio_orch.primitives import StoreSubscription as StoreSubscription
from trio_orch.primitives import Throttler as Throttler
from trio_orch.primitives import ThrottlerStats as ThrottlerStats
from trio_orch.primitives import cancel_on as cancel_on
from trio_orch.primitives import classify_error as classify_error
from trio_orch.primitives import is_permanent as is_permanent
from trio_orch.primitives import is_transient as is_transient
from trio_orch.primitives import open_bounded_channel as open_bounded_channel
from trio_orch.primitives import open_debouncer as open_debouncer
from trio_orch.primitives import open_progress_tracker as open_progress_tracker
from trio_orch.primitives import open_throttler as open_throttler
from trio_orch.primitives import retry as retry
from trio_orch.primitives import retry_testing as retry_testing
from trio_orch.primitives import retrying as retrying
from trio_orch.primitives import selector as selector
from trio_orch.primitives import track_operation as track_operation

__version__ = "0.1.0.dev0"

__all__ = [
    "Actor",
    "ActorEvent",
    "ActorFailed",
    "ActorRef",
    "ActorRestarted",
    "ActorStats",
    "AsyncOperation",
    "BoundedReceiveChannel",
    "BoundedSendChannel",
    "BusClosed",
    "BusEvent",
    "BusStats",
    "Choreographer",
    "CompensationResult",
    "ConcurrencyLimiter",
    "ConnectionFailed",
    "ConnectionLost",
    "ConnectionState",
    "ConnectionStateChanged",
    "DEFAULT_CLASSIFIER",
    "Debouncer",
    "DebouncerStats",
    "DropPolicy",
    "Envelope",
    "ErrorClassifier",
    "ErrorKind",
    "EtaEstimator",
    "Event",
    "EventBus",
    "EventsDropped",
    "FailurePolicy",
    "FatalCloseCode",
    "Flow",
    "FlowDeadlock",
    "HandlerFailed",
    "HandshakeRejected",
    "Jitter",
    "LimiterFull",
    "LimiterStats",
    "MessagesPossiblyLost",
    "OpStatus",
    "Operator",
    "OperatorStats",
    "OrchError",
    "PermanentError",
    "ProgressSnapshot",
    "ProgressStats",
    "ProgressTask",
    "ProgressTracker",
    "QueueFull",
    "QueueStats",
    "ReconnectPolicy",
    "RestartPolicy",
    "RetryDetails",
    "RetryPolicy",
    "Selector",
    "Step",
    "StepCancelled",
    "StepCompensated",
    "StepContext",
    "StepFailed",
    "StepProgress",
    "StepResult",
    "StepRetrying",
    "StepSkipped",
    "StepStarted",
    "StepStatus",
    "StepSucceeded",
    "Store",
    "StoreStats",
    "StoreSubscription",
    "Subscription",
    "SystemEvent",
    "ThrottleMode",
    "Throttler",
    "ThrottlerStats",
    "TransientError",
    "WebSocketClient",
    "WebSocketClientStats",
    "WebSocketEvent",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowEvent",
    "WorkflowFailed",
    "WorkflowFinished",
    "WorkflowResult",
    "WorkflowStarted",
    "WorkflowStatus",
    "batch",
    "cancel_on",
    "classify_error",
    "debounce",
    "dedupe",
    "is_permanent",
    "is_transient",
    "open_bounded_channel",
    "open_choreographer",
    "open_debouncer",
    "open_event_bus",
    "open_pipeline",
    "open_progress_tracker",
    "open_throttler",
    "open_ws_client",
    "retry",
    "retry_testing",
    "retrying",
    "selector",
    "start_pipeline",
    "throttle",
    "track_operation",
]
