"""engines layer of trio_orch.

Every name loads its module on first use, through the module ``__getattr__`` at the end, so
that importing the package costs nothing for the engines a program does not use (e.g.
``trio-orch run`` loads the workflow engine only; the WebSocket client's names load
trio-websocket only when used).
"""

from __future__ import annotations

import typing as _typing

from trio_orch._lazy import lazy_names as _lazy_names

# Every name below is loaded on first use (PEP 562, see trio_orch/_lazy.py), so that
# importing this package costs nothing for the components a program does not use.  A
# new name goes in these TYPE_CHECKING imports (what type checkers read) and in _LAZY.
if _typing.TYPE_CHECKING:
    from trio_orch._exceptions import WorkflowFailed as WorkflowFailed
    from trio_orch.engines._generation import GenerationOrchestrator as GenerationOrchestrator
    from trio_orch.engines._generation import GenerationRequest as GenerationRequest
    from trio_orch.engines._generation import GenerationResult as GenerationResult
    from trio_orch.engines._generation import Middleware as Middleware
    from trio_orch.engines._generation import Progress as Progress
    from trio_orch.engines._generation import Provider as Provider
    from trio_orch.engines._generation import ProviderRegistry as ProviderRegistry
    from trio_orch.engines._jobs_events import JobCancelled as JobCancelled
    from trio_orch.engines._jobs_events import JobEvent as JobEvent
    from trio_orch.engines._jobs_events import JobFailed as JobFailed
    from trio_orch.engines._jobs_events import JobQueued as JobQueued
    from trio_orch.engines._jobs_events import JobRequeued as JobRequeued
    from trio_orch.engines._jobs_events import JobRetrying as JobRetrying
    from trio_orch.engines._jobs_events import JobStarted as JobStarted
    from trio_orch.engines._jobs_events import JobSucceeded as JobSucceeded
    from trio_orch.engines._jobs_model import Job as Job
    from trio_orch.engines._jobs_model import JobQueueStats as JobQueueStats
    from trio_orch.engines._jobs_model import JobSpec as JobSpec
    from trio_orch.engines._jobs_model import JobStatus as JobStatus
    from trio_orch.engines._jobs_queue import JobQueue as JobQueue
    from trio_orch.engines._jobs_queue import open_job_queue as open_job_queue
    from trio_orch.engines._jobs_registry import TaskRegistry as TaskRegistry
    from trio_orch.engines._jobs_store import JobStore as JobStore
    from trio_orch.engines._jobs_store import MemoryJobStore as MemoryJobStore
    from trio_orch.engines._polling import JobPoller as JobPoller
    from trio_orch.engines._polling import PollResult as PollResult
    from trio_orch.engines._polling import PollState as PollState
    from trio_orch.engines._polling import PollStatus as PollStatus
    from trio_orch.engines._polling import open_job_poller as open_job_poller
    from trio_orch.engines._polling import poll_job as poll_job
    from trio_orch.engines._services import ServiceOrchestrator as ServiceOrchestrator
    from trio_orch.engines._services_events import OperationCancelled as OperationCancelled
    from trio_orch.engines._services_events import OperationCompleted as OperationCompleted
    from trio_orch.engines._services_events import OperationFailed as OperationFailed
    from trio_orch.engines._services_events import OperationRetrying as OperationRetrying
    from trio_orch.engines._services_events import OperationStarted as OperationStarted
    from trio_orch.engines._services_events import ServiceEvent as ServiceEvent
    from trio_orch.engines._services_events import ServiceHealthChanged as ServiceHealthChanged
    from trio_orch.engines._services_model import HealthStatus as HealthStatus
    from trio_orch.engines._services_model import OperationResult as OperationResult
    from trio_orch.engines._services_model import OrchestratorMetrics as OrchestratorMetrics
    from trio_orch.engines._services_model import Service as Service
    from trio_orch.engines._services_model import ServiceHealth as ServiceHealth
    from trio_orch.engines._services_model import SystemHealth as SystemHealth
    from trio_orch.engines._store_postgres import PostgresJobStore as PostgresJobStore
    from trio_orch.engines._store_sqlite import SqliteJobStore as SqliteJobStore
    from trio_orch.engines._store_url import job_store_from_url as job_store_from_url
    from trio_orch.engines._workflow import Workflow as Workflow
    from trio_orch.engines._workflow import WorkflowRun as WorkflowRun
    from trio_orch.engines._workflow_checkpoints import run_checkpointed as run_checkpointed
    from trio_orch.engines._workflow_events import StepCancelled as StepCancelled
    from trio_orch.engines._workflow_events import StepCompensated as StepCompensated
    from trio_orch.engines._workflow_events import StepFailed as StepFailed
    from trio_orch.engines._workflow_events import StepProgress as StepProgress
    from trio_orch.engines._workflow_events import StepRetrying as StepRetrying
    from trio_orch.engines._workflow_events import StepSkipped as StepSkipped
    from trio_orch.engines._workflow_events import StepStarted as StepStarted
    from trio_orch.engines._workflow_events import StepSucceeded as StepSucceeded
    from trio_orch.engines._workflow_events import WorkflowEvent as WorkflowEvent
    from trio_orch.engines._workflow_events import WorkflowFinished as WorkflowFinished
    from trio_orch.engines._workflow_events import WorkflowStarted as WorkflowStarted
    from trio_orch.engines._workflow_model import CompensationResult as CompensationResult
    from trio_orch.engines._workflow_model import FailurePolicy as FailurePolicy
    from trio_orch.engines._workflow_model import Step as Step
    from trio_orch.engines._workflow_model import StepAttempt as StepAttempt
    from trio_orch.engines._workflow_model import StepResult as StepResult
    from trio_orch.engines._workflow_model import StepStatus as StepStatus
    from trio_orch.engines._workflow_model import WorkflowPlan as WorkflowPlan
    from trio_orch.engines._workflow_model import WorkflowResult as WorkflowResult
    from trio_orch.engines._workflow_model import WorkflowStatus as WorkflowStatus
    from trio_orch.engines._workflow_run import StepContext as StepContext
    from trio_orch.engines._ws_envelope import Envelope as Envelope
    from trio_orch.engines._ws_events import ConnectionFailed as ConnectionFailed
    from trio_orch.engines._ws_events import ConnectionStateChanged as ConnectionStateChanged
    from trio_orch.engines._ws_events import MessagesPossiblyLost as MessagesPossiblyLost
    from trio_orch.engines._ws_events import WebSocketEvent as WebSocketEvent
    from trio_orch.engines._ws_policy import ConnectionState as ConnectionState
    from trio_orch.engines._ws_policy import ReconnectPolicy as ReconnectPolicy

if _typing.TYPE_CHECKING:  # what type checkers see; at run time __getattr__ below loads them
    from trio_orch.engines._ws_client import WebSocketClient as WebSocketClient
    from trio_orch.engines._ws_client import WebSocketClientStats as WebSocketClientStats
    from trio_orch.engines._ws_client import open_ws_client as open_ws_client

#: Names loaded on first use (PEP 562), with the module that defines them.
_LAZY = {
    "GenerationOrchestrator": "trio_orch.engines._generation",
    "GenerationRequest": "trio_orch.engines._generation",
    "GenerationResult": "trio_orch.engines._generation",
    "Middleware": "trio_orch.engines._generation",
    "Progress": "trio_orch.engines._generation",
    "Provider": "trio_orch.engines._generation",
    "ProviderRegistry": "trio_orch.engines._generation",
    "JobCancelled": "trio_orch.engines._jobs_events",
    "JobEvent": "trio_orch.engines._jobs_events",
    "JobFailed": "trio_orch.engines._jobs_events",
    "JobQueued": "trio_orch.engines._jobs_events",
    "JobRequeued": "trio_orch.engines._jobs_events",
    "JobRetrying": "trio_orch.engines._jobs_events",
    "JobStarted": "trio_orch.engines._jobs_events",
    "JobSucceeded": "trio_orch.engines._jobs_events",
    "Job": "trio_orch.engines._jobs_model",
    "JobQueueStats": "trio_orch.engines._jobs_model",
    "JobSpec": "trio_orch.engines._jobs_model",
    "JobStatus": "trio_orch.engines._jobs_model",
    "JobQueue": "trio_orch.engines._jobs_queue",
    "open_job_queue": "trio_orch.engines._jobs_queue",
    "TaskRegistry": "trio_orch.engines._jobs_registry",
    "JobStore": "trio_orch.engines._jobs_store",
    "MemoryJobStore": "trio_orch.engines._jobs_store",
    "JobPoller": "trio_orch.engines._polling",
    "PollResult": "trio_orch.engines._polling",
    "PollState": "trio_orch.engines._polling",
    "PollStatus": "trio_orch.engines._polling",
    "open_job_poller": "trio_orch.engines._polling",
    "poll_job": "trio_orch.engines._polling",
    "ServiceOrchestrator": "trio_orch.engines._services",
    "OperationCancelled": "trio_orch.engines._services_events",
    "OperationCompleted": "trio_orch.engines._services_events",
    "OperationFailed": "trio_orch.engines._services_events",
    "OperationRetrying": "trio_orch.engines._services_events",
    "OperationStarted": "trio_orch.engines._services_events",
    "ServiceEvent": "trio_orch.engines._services_events",
    "ServiceHealthChanged": "trio_orch.engines._services_events",
    "HealthStatus": "trio_orch.engines._services_model",
    "OperationResult": "trio_orch.engines._services_model",
    "OrchestratorMetrics": "trio_orch.engines._services_model",
    "Service": "trio_orch.engines._services_model",
    "ServiceHealth": "trio_orch.engines._services_model",
    "SystemHealth": "trio_orch.engines._services_model",
    "PostgresJobStore": "trio_orch.engines._store_postgres",
    "SqliteJobStore": "trio_orch.engines._store_sqlite",
    "job_store_from_url": "trio_orch.engines._store_url",
    "Workflow": "trio_orch.engines._workflow",
    "WorkflowRun": "trio_orch.engines._workflow",
    "run_checkpointed": "trio_orch.engines._workflow_checkpoints",
    "StepCancelled": "trio_orch.engines._workflow_events",
    "StepCompensated": "trio_orch.engines._workflow_events",
    "StepFailed": "trio_orch.engines._workflow_events",
    "StepProgress": "trio_orch.engines._workflow_events",
    "StepRetrying": "trio_orch.engines._workflow_events",
    "StepSkipped": "trio_orch.engines._workflow_events",
    "StepStarted": "trio_orch.engines._workflow_events",
    "StepSucceeded": "trio_orch.engines._workflow_events",
    "WorkflowEvent": "trio_orch.engines._workflow_events",
    "WorkflowFinished": "trio_orch.engines._workflow_events",
    "WorkflowStarted": "trio_orch.engines._workflow_events",
    "CompensationResult": "trio_orch.engines._workflow_model",
    "FailurePolicy": "trio_orch.engines._workflow_model",
    "Step": "trio_orch.engines._workflow_model",
    "StepAttempt": "trio_orch.engines._workflow_model",
    "StepResult": "trio_orch.engines._workflow_model",
    "StepStatus": "trio_orch.engines._workflow_model",
    "WorkflowFailed": "trio_orch._exceptions",
    "WorkflowPlan": "trio_orch.engines._workflow_model",
    "WorkflowResult": "trio_orch.engines._workflow_model",
    "WorkflowStatus": "trio_orch.engines._workflow_model",
    "StepContext": "trio_orch.engines._workflow_run",
    "Envelope": "trio_orch.engines._ws_envelope",
    "ConnectionFailed": "trio_orch.engines._ws_events",
    "ConnectionStateChanged": "trio_orch.engines._ws_events",
    "MessagesPossiblyLost": "trio_orch.engines._ws_events",
    "WebSocketEvent": "trio_orch.engines._ws_events",
    "ConnectionState": "trio_orch.engines._ws_policy",
    "ReconnectPolicy": "trio_orch.engines._ws_policy",
    "WebSocketClient": "trio_orch.engines._ws_client",
    "WebSocketClientStats": "trio_orch.engines._ws_client",
    "open_ws_client": "trio_orch.engines._ws_client",
}


__getattr__, __dir__ = _lazy_names(globals(), _LAZY)
