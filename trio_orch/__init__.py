"""trio_orch: Trio-native orchestration.

Retry with backoff, cancellation, concurrency and rate limits, bounded queues, typed events
routed between actors, DAG workflows, a reconnecting WebSocket client, progress and ETA — all
structured-concurrency correct.  Everything public is importable from here.
"""

from __future__ import annotations

import typing as _typing

from trio_orch._lazy import lazy_names as _lazy_names

# Every public name is loaded on first use: see the table at the end of this file.

__version__ = "0.1.0.dev0"


__all__ = [
    "Actor",
    "ActorEvent",
    "ActorFailed",
    "ActorRef",
    "ActorRestarted",
    "ActorStats",
    "AsyncOperation",
    "Backoff",
    "BenchmarkSkipped",
    "BoundedReceiveChannel",
    "BoundedSendChannel",
    "BusClosed",
    "BusEvent",
    "BusStats",
    "CannotStart",
    "CheckpointError",
    "ChildRestart",
    "ChildRestarted",
    "Choreographer",
    "Command",
    "CommandFailed",
    "CommandLoop",
    "CompensationResult",
    "Component",
    "ComponentHealth",
    "ConcurrencyLimiter",
    "ConfigError",
    "ConfigEvent",
    "ConfigManager",
    "ConfigProblem",
    "ConfigReloadFailed",
    "ConfigReloaded",
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
    "ErrorEscalated",
    "ErrorKind",
    "ErrorPattern",
    "ErrorRecovered",
    "ErrorRecoveryManager",
    "ErrorSeverity",
    "EscalateStrategy",
    "EtaEstimator",
    "Event",
    "EventBus",
    "EventsDropped",
    "FailurePolicy",
    "FallbackStrategy",
    "FatalCloseCode",
    "Flow",
    "FlowDeadlock",
    "GenerationFailed",
    "GenerationOrchestrator",
    "GenerationRequest",
    "GenerationResult",
    "HandlerFailed",
    "HandshakeRejected",
    "HealthStatus",
    "HistogramSnapshot",
    "Jitter",
    "Job",
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "JobNotFound",
    "JobPoller",
    "JobQueue",
    "JobQueueStats",
    "JobQueued",
    "JobRequeued",
    "JobRetrying",
    "JobSpec",
    "JobStarted",
    "JobStateError",
    "JobStatus",
    "JobStore",
    "JobStoreError",
    "JobSucceeded",
    "LimiterFull",
    "LimiterStats",
    "MemoryJobStore",
    "MessagesPossiblyLost",
    "Middleware",
    "MonitorEvent",
    "OpStatus",
    "OperationCancelled",
    "OperationCompleted",
    "OperationFailed",
    "OperationResult",
    "OperationRetrying",
    "OperationStarted",
    "Operator",
    "OperatorStats",
    "OrchError",
    "Orchestrator",
    "OrchestratorEvent",
    "OrchestratorInitialized",
    "OrchestratorMetrics",
    "OrchestratorShutdown",
    "PerformanceMonitor",
    "PerformanceReport",
    "PerformanceReported",
    "PermanentError",
    "Plugin",
    "PluginContext",
    "PluginDisposed",
    "PluginDisposing",
    "PluginError",
    "PluginEvent",
    "PluginExecuted",
    "PluginExecuting",
    "PluginFailed",
    "PluginInitialized",
    "PluginInitializing",
    "PluginLoaded",
    "PluginLoading",
    "PluginRegistry",
    "PollResult",
    "PollState",
    "PollStatus",
    "PollTimeout",
    "PostgresJobStore",
    "ProcessEvent",
    "ProcessExited",
    "ProcessFailed",
    "ProcessOutput",
    "ProcessReport",
    "ProcessStarted",
    "Progress",
    "ProgressSnapshot",
    "ProgressStats",
    "ProgressTask",
    "ProgressTracker",
    "Provider",
    "ProviderNotFound",
    "ProviderRegistry",
    "QueueFull",
    "QueueStats",
    "ReconnectPolicy",
    "RecoveryEvent",
    "RecoveryResult",
    "RecoveryStats",
    "Reply",
    "ResourceAllocated",
    "ResourceError",
    "ResourceEvent",
    "ResourceFreed",
    "ResourceHandle",
    "ResourceManager",
    "ResourceRejected",
    "ResourceUsage",
    "RestartIntensity",
    "RestartIntensityExceeded",
    "RestartPolicy",
    "RestartStrategy",
    "RetryDetails",
    "RetryPolicy",
    "RetryStrategy",
    "RuntimeHealth",
    "Selector",
    "Service",
    "ServiceEvent",
    "ServiceHealth",
    "ServiceHealthChanged",
    "ServiceNotFound",
    "ServiceOrchestrator",
    "SpecError",
    "SpecProblem",
    "SqliteJobStore",
    "Step",
    "StepAttempt",
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
    "Supervisor",
    "SupervisorEscalated",
    "SupervisorEvent",
    "SupervisorStats",
    "SupervisorStrategy",
    "SystemEvent",
    "SystemHealth",
    "TaskRegistry",
    "ThreadRunner",
    "ThresholdViolated",
    "ThresholdViolation",
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
    "WorkflowPlan",
    "WorkflowResult",
    "WorkflowRun",
    "WorkflowStarted",
    "WorkflowStatus",
    "batch",
    "cancel_on",
    "classify_error",
    "debounce",
    "dedupe",
    "format_eta",
    "is_permanent",
    "is_transient",
    "job_store_from_url",
    "monitor_process",
    "open_bounded_channel",
    "open_choreographer",
    "open_debouncer",
    "open_event_bus",
    "open_job_poller",
    "open_job_queue",
    "open_orchestrator",
    "open_pipeline",
    "open_progress_tracker",
    "open_throttler",
    "open_ws_client",
    "poll_job",
    "retry",
    "retry_testing",
    "retrying",
    "run_checkpointed",
    "selector",
    "start_pipeline",
    "throttle",
    "track_operation",
]

# --- lazy public names: a new name goes in the TYPE_CHECKING imports, _LAZY and __all__ ---
# `import trio_orch` imports none of its modules: each public name is loaded on first use
# (PEP 562), so that a program pays only for the components it uses, and the command line
# starts fast.  Type checkers read the imports below.
if _typing.TYPE_CHECKING:
    from trio_orch._exceptions import BenchmarkSkipped as BenchmarkSkipped
    from trio_orch._exceptions import BusClosed as BusClosed
    from trio_orch._exceptions import CannotStart as CannotStart
    from trio_orch._exceptions import CheckpointError as CheckpointError
    from trio_orch._exceptions import CommandFailed as CommandFailed
    from trio_orch._exceptions import ConfigError as ConfigError
    from trio_orch._exceptions import ConfigProblem as ConfigProblem
    from trio_orch._exceptions import ConnectionLost as ConnectionLost
    from trio_orch._exceptions import FatalCloseCode as FatalCloseCode
    from trio_orch._exceptions import FlowDeadlock as FlowDeadlock
    from trio_orch._exceptions import GenerationFailed as GenerationFailed
    from trio_orch._exceptions import HandshakeRejected as HandshakeRejected
    from trio_orch._exceptions import JobNotFound as JobNotFound
    from trio_orch._exceptions import JobStateError as JobStateError
    from trio_orch._exceptions import JobStoreError as JobStoreError
    from trio_orch._exceptions import LimiterFull as LimiterFull
    from trio_orch._exceptions import OrchError as OrchError
    from trio_orch._exceptions import PermanentError as PermanentError
    from trio_orch._exceptions import PluginError as PluginError
    from trio_orch._exceptions import PollTimeout as PollTimeout
    from trio_orch._exceptions import ProcessFailed as ProcessFailed
    from trio_orch._exceptions import ProviderNotFound as ProviderNotFound
    from trio_orch._exceptions import QueueFull as QueueFull
    from trio_orch._exceptions import ResourceError as ResourceError
    from trio_orch._exceptions import RestartIntensityExceeded as RestartIntensityExceeded
    from trio_orch._exceptions import ServiceNotFound as ServiceNotFound
    from trio_orch._exceptions import SpecError as SpecError
    from trio_orch._exceptions import SpecProblem as SpecProblem
    from trio_orch._exceptions import TransientError as TransientError
    from trio_orch._exceptions import WorkflowDefinitionError as WorkflowDefinitionError
    from trio_orch._exceptions import WorkflowFailed as WorkflowFailed
    from trio_orch.engines import CompensationResult as CompensationResult
    from trio_orch.engines import ConnectionFailed as ConnectionFailed
    from trio_orch.engines import ConnectionState as ConnectionState
    from trio_orch.engines import ConnectionStateChanged as ConnectionStateChanged
    from trio_orch.engines import Envelope as Envelope
    from trio_orch.engines import FailurePolicy as FailurePolicy
    from trio_orch.engines import GenerationOrchestrator as GenerationOrchestrator
    from trio_orch.engines import GenerationRequest as GenerationRequest
    from trio_orch.engines import GenerationResult as GenerationResult
    from trio_orch.engines import HealthStatus as HealthStatus
    from trio_orch.engines import Job as Job
    from trio_orch.engines import JobCancelled as JobCancelled
    from trio_orch.engines import JobEvent as JobEvent
    from trio_orch.engines import JobFailed as JobFailed
    from trio_orch.engines import JobPoller as JobPoller
    from trio_orch.engines import JobQueue as JobQueue
    from trio_orch.engines import JobQueued as JobQueued
    from trio_orch.engines import JobQueueStats as JobQueueStats
    from trio_orch.engines import JobRequeued as JobRequeued
    from trio_orch.engines import JobRetrying as JobRetrying
    from trio_orch.engines import JobSpec as JobSpec
    from trio_orch.engines import JobStarted as JobStarted
    from trio_orch.engines import JobStatus as JobStatus
    from trio_orch.engines import JobStore as JobStore
    from trio_orch.engines import JobSucceeded as JobSucceeded
    from trio_orch.engines import MemoryJobStore as MemoryJobStore
    from trio_orch.engines import MessagesPossiblyLost as MessagesPossiblyLost
    from trio_orch.engines import Middleware as Middleware
    from trio_orch.engines import OperationCancelled as OperationCancelled
    from trio_orch.engines import OperationCompleted as OperationCompleted
    from trio_orch.engines import OperationFailed as OperationFailed
    from trio_orch.engines import OperationResult as OperationResult
    from trio_orch.engines import OperationRetrying as OperationRetrying
    from trio_orch.engines import OperationStarted as OperationStarted
    from trio_orch.engines import OrchestratorMetrics as OrchestratorMetrics
    from trio_orch.engines import PollResult as PollResult
    from trio_orch.engines import PollState as PollState
    from trio_orch.engines import PollStatus as PollStatus
    from trio_orch.engines import PostgresJobStore as PostgresJobStore
    from trio_orch.engines import Progress as Progress
    from trio_orch.engines import Provider as Provider
    from trio_orch.engines import ProviderRegistry as ProviderRegistry
    from trio_orch.engines import ReconnectPolicy as ReconnectPolicy
    from trio_orch.engines import Service as Service
    from trio_orch.engines import ServiceEvent as ServiceEvent
    from trio_orch.engines import ServiceHealth as ServiceHealth
    from trio_orch.engines import ServiceHealthChanged as ServiceHealthChanged
    from trio_orch.engines import ServiceOrchestrator as ServiceOrchestrator
    from trio_orch.engines import SqliteJobStore as SqliteJobStore
    from trio_orch.engines import Step as Step
    from trio_orch.engines import StepAttempt as StepAttempt
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
    from trio_orch.engines import SystemHealth as SystemHealth
    from trio_orch.engines import TaskRegistry as TaskRegistry
    from trio_orch.engines import WebSocketClient as WebSocketClient
    from trio_orch.engines import WebSocketClientStats as WebSocketClientStats
    from trio_orch.engines import WebSocketEvent as WebSocketEvent
    from trio_orch.engines import Workflow as Workflow
    from trio_orch.engines import WorkflowEvent as WorkflowEvent
    from trio_orch.engines import WorkflowFinished as WorkflowFinished
    from trio_orch.engines import WorkflowPlan as WorkflowPlan
    from trio_orch.engines import WorkflowResult as WorkflowResult
    from trio_orch.engines import WorkflowRun as WorkflowRun
    from trio_orch.engines import WorkflowStarted as WorkflowStarted
    from trio_orch.engines import WorkflowStatus as WorkflowStatus
    from trio_orch.engines import job_store_from_url as job_store_from_url
    from trio_orch.engines import open_job_poller as open_job_poller
    from trio_orch.engines import open_job_queue as open_job_queue
    from trio_orch.engines import open_ws_client as open_ws_client
    from trio_orch.engines import poll_job as poll_job
    from trio_orch.engines import run_checkpointed as run_checkpointed
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
    from trio_orch.events import RestartIntensity as RestartIntensity
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
    from trio_orch.primitives import Backoff as Backoff
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
    from trio_orch.primitives import ThreadRunner as ThreadRunner
    from trio_orch.primitives import Throttler as Throttler
    from trio_orch.primitives import ThrottlerStats as ThrottlerStats
    from trio_orch.primitives import cancel_on as cancel_on
    from trio_orch.primitives import classify_error as classify_error
    from trio_orch.primitives import format_eta as format_eta
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
    from trio_orch.runtime import Component as Component
    from trio_orch.runtime import ComponentHealth as ComponentHealth
    from trio_orch.runtime import ConfigEvent as ConfigEvent
    from trio_orch.runtime import ConfigManager as ConfigManager
    from trio_orch.runtime import ConfigReloaded as ConfigReloaded
    from trio_orch.runtime import ConfigReloadFailed as ConfigReloadFailed
    from trio_orch.runtime import Orchestrator as Orchestrator
    from trio_orch.runtime import OrchestratorEvent as OrchestratorEvent
    from trio_orch.runtime import OrchestratorInitialized as OrchestratorInitialized
    from trio_orch.runtime import OrchestratorShutdown as OrchestratorShutdown
    from trio_orch.runtime import Plugin as Plugin
    from trio_orch.runtime import PluginContext as PluginContext
    from trio_orch.runtime import PluginDisposed as PluginDisposed
    from trio_orch.runtime import PluginDisposing as PluginDisposing
    from trio_orch.runtime import PluginEvent as PluginEvent
    from trio_orch.runtime import PluginExecuted as PluginExecuted
    from trio_orch.runtime import PluginExecuting as PluginExecuting
    from trio_orch.runtime import PluginFailed as PluginFailed
    from trio_orch.runtime import PluginInitialized as PluginInitialized
    from trio_orch.runtime import PluginInitializing as PluginInitializing
    from trio_orch.runtime import PluginLoaded as PluginLoaded
    from trio_orch.runtime import PluginLoading as PluginLoading
    from trio_orch.runtime import PluginRegistry as PluginRegistry
    from trio_orch.runtime import ResourceAllocated as ResourceAllocated
    from trio_orch.runtime import ResourceEvent as ResourceEvent
    from trio_orch.runtime import ResourceFreed as ResourceFreed
    from trio_orch.runtime import ResourceHandle as ResourceHandle
    from trio_orch.runtime import ResourceManager as ResourceManager
    from trio_orch.runtime import ResourceRejected as ResourceRejected
    from trio_orch.runtime import ResourceUsage as ResourceUsage
    from trio_orch.runtime import RuntimeHealth as RuntimeHealth
    from trio_orch.runtime import open_orchestrator as open_orchestrator
    from trio_orch.runtime._commands import Command as Command
    from trio_orch.runtime._commands import CommandLoop as CommandLoop
    from trio_orch.runtime._commands import Reply as Reply
    from trio_orch.runtime._histogram import HistogramSnapshot as HistogramSnapshot
    from trio_orch.runtime._monitor import MonitorEvent as MonitorEvent
    from trio_orch.runtime._monitor import PerformanceMonitor as PerformanceMonitor
    from trio_orch.runtime._monitor import PerformanceReport as PerformanceReport
    from trio_orch.runtime._monitor import PerformanceReported as PerformanceReported
    from trio_orch.runtime._monitor import ThresholdViolated as ThresholdViolated
    from trio_orch.runtime._monitor import ThresholdViolation as ThresholdViolation
    from trio_orch.runtime._process import ProcessEvent as ProcessEvent
    from trio_orch.runtime._process import ProcessExited as ProcessExited
    from trio_orch.runtime._process import ProcessOutput as ProcessOutput
    from trio_orch.runtime._process import ProcessReport as ProcessReport
    from trio_orch.runtime._process import ProcessStarted as ProcessStarted
    from trio_orch.runtime._process import monitor_process as monitor_process
    from trio_orch.runtime._recovery import ErrorEscalated as ErrorEscalated
    from trio_orch.runtime._recovery import ErrorPattern as ErrorPattern
    from trio_orch.runtime._recovery import ErrorRecovered as ErrorRecovered
    from trio_orch.runtime._recovery import ErrorRecoveryManager as ErrorRecoveryManager
    from trio_orch.runtime._recovery import ErrorSeverity as ErrorSeverity
    from trio_orch.runtime._recovery import EscalateStrategy as EscalateStrategy
    from trio_orch.runtime._recovery import FallbackStrategy as FallbackStrategy
    from trio_orch.runtime._recovery import RecoveryEvent as RecoveryEvent
    from trio_orch.runtime._recovery import RecoveryResult as RecoveryResult
    from trio_orch.runtime._recovery import RecoveryStats as RecoveryStats
    from trio_orch.runtime._recovery import RestartStrategy as RestartStrategy
    from trio_orch.runtime._recovery import RetryStrategy as RetryStrategy
    from trio_orch.runtime._supervisor import ChildRestart as ChildRestart
    from trio_orch.runtime._supervisor import ChildRestarted as ChildRestarted
    from trio_orch.runtime._supervisor import Supervisor as Supervisor
    from trio_orch.runtime._supervisor import SupervisorEscalated as SupervisorEscalated
    from trio_orch.runtime._supervisor import SupervisorEvent as SupervisorEvent
    from trio_orch.runtime._supervisor import SupervisorStats as SupervisorStats
    from trio_orch.runtime._supervisor import SupervisorStrategy as SupervisorStrategy

#: Every public name -> the module that exports it.
_LAZY: dict[str, str] = {
    "BenchmarkSkipped": "trio_orch._exceptions",
    "BusClosed": "trio_orch._exceptions",
    "CannotStart": "trio_orch._exceptions",
    "CheckpointError": "trio_orch._exceptions",
    "CommandFailed": "trio_orch._exceptions",
    "ConfigError": "trio_orch._exceptions",
    "ConfigProblem": "trio_orch._exceptions",
    "ConnectionLost": "trio_orch._exceptions",
    "FatalCloseCode": "trio_orch._exceptions",
    "FlowDeadlock": "trio_orch._exceptions",
    "GenerationFailed": "trio_orch._exceptions",
    "HandshakeRejected": "trio_orch._exceptions",
    "JobNotFound": "trio_orch._exceptions",
    "JobStateError": "trio_orch._exceptions",
    "JobStoreError": "trio_orch._exceptions",
    "LimiterFull": "trio_orch._exceptions",
    "OrchError": "trio_orch._exceptions",
    "PermanentError": "trio_orch._exceptions",
    "PluginError": "trio_orch._exceptions",
    "PollTimeout": "trio_orch._exceptions",
    "ProcessFailed": "trio_orch._exceptions",
    "ProviderNotFound": "trio_orch._exceptions",
    "QueueFull": "trio_orch._exceptions",
    "ResourceError": "trio_orch._exceptions",
    "RestartIntensityExceeded": "trio_orch._exceptions",
    "ServiceNotFound": "trio_orch._exceptions",
    "SpecError": "trio_orch._exceptions",
    "SpecProblem": "trio_orch._exceptions",
    "TransientError": "trio_orch._exceptions",
    "WorkflowDefinitionError": "trio_orch._exceptions",
    "CompensationResult": "trio_orch.engines",
    "ConnectionFailed": "trio_orch.engines",
    "ConnectionState": "trio_orch.engines",
    "ConnectionStateChanged": "trio_orch.engines",
    "Envelope": "trio_orch.engines",
    "FailurePolicy": "trio_orch.engines",
    "GenerationOrchestrator": "trio_orch.engines",
    "GenerationRequest": "trio_orch.engines",
    "GenerationResult": "trio_orch.engines",
    "HealthStatus": "trio_orch.engines",
    "Job": "trio_orch.engines",
    "JobCancelled": "trio_orch.engines",
    "JobEvent": "trio_orch.engines",
    "JobFailed": "trio_orch.engines",
    "JobPoller": "trio_orch.engines",
    "JobQueue": "trio_orch.engines",
    "JobQueueStats": "trio_orch.engines",
    "JobQueued": "trio_orch.engines",
    "JobRequeued": "trio_orch.engines",
    "JobRetrying": "trio_orch.engines",
    "JobSpec": "trio_orch.engines",
    "JobStarted": "trio_orch.engines",
    "JobStatus": "trio_orch.engines",
    "JobStore": "trio_orch.engines",
    "JobSucceeded": "trio_orch.engines",
    "MemoryJobStore": "trio_orch.engines",
    "MessagesPossiblyLost": "trio_orch.engines",
    "Middleware": "trio_orch.engines",
    "OperationCancelled": "trio_orch.engines",
    "OperationCompleted": "trio_orch.engines",
    "OperationFailed": "trio_orch.engines",
    "OperationResult": "trio_orch.engines",
    "OperationRetrying": "trio_orch.engines",
    "OperationStarted": "trio_orch.engines",
    "OrchestratorMetrics": "trio_orch.engines",
    "PollResult": "trio_orch.engines",
    "PollState": "trio_orch.engines",
    "PollStatus": "trio_orch.engines",
    "PostgresJobStore": "trio_orch.engines",
    "Progress": "trio_orch.engines",
    "Provider": "trio_orch.engines",
    "ProviderRegistry": "trio_orch.engines",
    "ReconnectPolicy": "trio_orch.engines",
    "Service": "trio_orch.engines",
    "ServiceEvent": "trio_orch.engines",
    "ServiceHealth": "trio_orch.engines",
    "ServiceHealthChanged": "trio_orch.engines",
    "ServiceOrchestrator": "trio_orch.engines",
    "SqliteJobStore": "trio_orch.engines",
    "Step": "trio_orch.engines",
    "StepAttempt": "trio_orch.engines",
    "StepCancelled": "trio_orch.engines",
    "StepCompensated": "trio_orch.engines",
    "StepContext": "trio_orch.engines",
    "StepFailed": "trio_orch.engines",
    "StepProgress": "trio_orch.engines",
    "StepResult": "trio_orch.engines",
    "StepRetrying": "trio_orch.engines",
    "StepSkipped": "trio_orch.engines",
    "StepStarted": "trio_orch.engines",
    "StepStatus": "trio_orch.engines",
    "StepSucceeded": "trio_orch.engines",
    "SystemHealth": "trio_orch.engines",
    "TaskRegistry": "trio_orch.engines",
    "WebSocketClient": "trio_orch.engines",
    "WebSocketClientStats": "trio_orch.engines",
    "WebSocketEvent": "trio_orch.engines",
    "Workflow": "trio_orch.engines",
    "WorkflowEvent": "trio_orch.engines",
    "WorkflowFailed": "trio_orch._exceptions",
    "WorkflowFinished": "trio_orch.engines",
    "WorkflowPlan": "trio_orch.engines",
    "WorkflowResult": "trio_orch.engines",
    "WorkflowRun": "trio_orch.engines",
    "WorkflowStarted": "trio_orch.engines",
    "WorkflowStatus": "trio_orch.engines",
    "job_store_from_url": "trio_orch.engines",
    "open_job_poller": "trio_orch.engines",
    "open_job_queue": "trio_orch.engines",
    "open_ws_client": "trio_orch.engines",
    "poll_job": "trio_orch.engines",
    "run_checkpointed": "trio_orch.engines",
    "Actor": "trio_orch.events",
    "ActorEvent": "trio_orch.events",
    "ActorFailed": "trio_orch.events",
    "ActorRef": "trio_orch.events",
    "ActorRestarted": "trio_orch.events",
    "ActorStats": "trio_orch.events",
    "BusEvent": "trio_orch.events",
    "BusStats": "trio_orch.events",
    "Choreographer": "trio_orch.events",
    "Event": "trio_orch.events",
    "EventBus": "trio_orch.events",
    "EventsDropped": "trio_orch.events",
    "Flow": "trio_orch.events",
    "HandlerFailed": "trio_orch.events",
    "Operator": "trio_orch.events",
    "OperatorStats": "trio_orch.events",
    "RestartIntensity": "trio_orch.events",
    "RestartPolicy": "trio_orch.events",
    "Subscription": "trio_orch.events",
    "SystemEvent": "trio_orch.events",
    "ThrottleMode": "trio_orch.events",
    "batch": "trio_orch.events",
    "debounce": "trio_orch.events",
    "dedupe": "trio_orch.events",
    "open_choreographer": "trio_orch.events",
    "open_event_bus": "trio_orch.events",
    "open_pipeline": "trio_orch.events",
    "start_pipeline": "trio_orch.events",
    "throttle": "trio_orch.events",
    "AsyncOperation": "trio_orch.primitives",
    "Backoff": "trio_orch.primitives",
    "BoundedReceiveChannel": "trio_orch.primitives",
    "BoundedSendChannel": "trio_orch.primitives",
    "ConcurrencyLimiter": "trio_orch.primitives",
    "DEFAULT_CLASSIFIER": "trio_orch.primitives",
    "Debouncer": "trio_orch.primitives",
    "DebouncerStats": "trio_orch.primitives",
    "DropPolicy": "trio_orch.primitives",
    "ErrorClassifier": "trio_orch.primitives",
    "ErrorKind": "trio_orch.primitives",
    "EtaEstimator": "trio_orch.primitives",
    "Jitter": "trio_orch.primitives",
    "LimiterStats": "trio_orch.primitives",
    "OpStatus": "trio_orch.primitives",
    "ProgressSnapshot": "trio_orch.primitives",
    "ProgressStats": "trio_orch.primitives",
    "ProgressTask": "trio_orch.primitives",
    "ProgressTracker": "trio_orch.primitives",
    "QueueStats": "trio_orch.primitives",
    "RetryDetails": "trio_orch.primitives",
    "RetryPolicy": "trio_orch.primitives",
    "Selector": "trio_orch.primitives",
    "Store": "trio_orch.primitives",
    "StoreStats": "trio_orch.primitives",
    "StoreSubscription": "trio_orch.primitives",
    "ThreadRunner": "trio_orch.primitives",
    "Throttler": "trio_orch.primitives",
    "ThrottlerStats": "trio_orch.primitives",
    "cancel_on": "trio_orch.primitives",
    "classify_error": "trio_orch.primitives",
    "format_eta": "trio_orch.primitives",
    "is_permanent": "trio_orch.primitives",
    "is_transient": "trio_orch.primitives",
    "open_bounded_channel": "trio_orch.primitives",
    "open_debouncer": "trio_orch.primitives",
    "open_progress_tracker": "trio_orch.primitives",
    "open_throttler": "trio_orch.primitives",
    "retry": "trio_orch.primitives",
    "retry_testing": "trio_orch.primitives",
    "retrying": "trio_orch.primitives",
    "selector": "trio_orch.primitives",
    "track_operation": "trio_orch.primitives",
    "Component": "trio_orch.runtime",
    "ComponentHealth": "trio_orch.runtime",
    "ConfigEvent": "trio_orch.runtime",
    "ConfigManager": "trio_orch.runtime",
    "ConfigReloadFailed": "trio_orch.runtime",
    "ConfigReloaded": "trio_orch.runtime",
    "Orchestrator": "trio_orch.runtime",
    "OrchestratorEvent": "trio_orch.runtime",
    "OrchestratorInitialized": "trio_orch.runtime",
    "OrchestratorShutdown": "trio_orch.runtime",
    "Plugin": "trio_orch.runtime",
    "PluginContext": "trio_orch.runtime",
    "PluginDisposed": "trio_orch.runtime",
    "PluginDisposing": "trio_orch.runtime",
    "PluginEvent": "trio_orch.runtime",
    "PluginExecuted": "trio_orch.runtime",
    "PluginExecuting": "trio_orch.runtime",
    "PluginFailed": "trio_orch.runtime",
    "PluginInitialized": "trio_orch.runtime",
    "PluginInitializing": "trio_orch.runtime",
    "PluginLoaded": "trio_orch.runtime",
    "PluginLoading": "trio_orch.runtime",
    "PluginRegistry": "trio_orch.runtime",
    "ResourceAllocated": "trio_orch.runtime",
    "ResourceEvent": "trio_orch.runtime",
    "ResourceFreed": "trio_orch.runtime",
    "ResourceHandle": "trio_orch.runtime",
    "ResourceManager": "trio_orch.runtime",
    "ResourceRejected": "trio_orch.runtime",
    "ResourceUsage": "trio_orch.runtime",
    "RuntimeHealth": "trio_orch.runtime",
    "open_orchestrator": "trio_orch.runtime",
    "Command": "trio_orch.runtime._commands",
    "CommandLoop": "trio_orch.runtime._commands",
    "Reply": "trio_orch.runtime._commands",
    "HistogramSnapshot": "trio_orch.runtime._histogram",
    "MonitorEvent": "trio_orch.runtime._monitor",
    "PerformanceMonitor": "trio_orch.runtime._monitor",
    "PerformanceReport": "trio_orch.runtime._monitor",
    "PerformanceReported": "trio_orch.runtime._monitor",
    "ThresholdViolated": "trio_orch.runtime._monitor",
    "ThresholdViolation": "trio_orch.runtime._monitor",
    "ProcessEvent": "trio_orch.runtime._process",
    "ProcessExited": "trio_orch.runtime._process",
    "ProcessOutput": "trio_orch.runtime._process",
    "ProcessReport": "trio_orch.runtime._process",
    "ProcessStarted": "trio_orch.runtime._process",
    "monitor_process": "trio_orch.runtime._process",
    "ErrorEscalated": "trio_orch.runtime._recovery",
    "ErrorPattern": "trio_orch.runtime._recovery",
    "ErrorRecovered": "trio_orch.runtime._recovery",
    "ErrorRecoveryManager": "trio_orch.runtime._recovery",
    "ErrorSeverity": "trio_orch.runtime._recovery",
    "EscalateStrategy": "trio_orch.runtime._recovery",
    "FallbackStrategy": "trio_orch.runtime._recovery",
    "RecoveryEvent": "trio_orch.runtime._recovery",
    "RecoveryResult": "trio_orch.runtime._recovery",
    "RecoveryStats": "trio_orch.runtime._recovery",
    "RestartStrategy": "trio_orch.runtime._recovery",
    "RetryStrategy": "trio_orch.runtime._recovery",
    "ChildRestart": "trio_orch.runtime._supervisor",
    "ChildRestarted": "trio_orch.runtime._supervisor",
    "Supervisor": "trio_orch.runtime._supervisor",
    "SupervisorEscalated": "trio_orch.runtime._supervisor",
    "SupervisorEvent": "trio_orch.runtime._supervisor",
    "SupervisorStats": "trio_orch.runtime._supervisor",
    "SupervisorStrategy": "trio_orch.runtime._supervisor",
}


__getattr__, __dir__ = _lazy_names(globals(), _LAZY)
