"""engines layer of trio_orch."""

from __future__ import annotations

from trio_orch.engines._workflow import Workflow as Workflow
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
from trio_orch.engines._workflow_model import StepResult as StepResult
from trio_orch.engines._workflow_model import StepStatus as StepStatus
from trio_orch.engines._workflow_model import WorkflowFailed as WorkflowFailed
from trio_orch.engines._workflow_model import WorkflowResult as WorkflowResult
from trio_orch.engines._workflow_model import WorkflowStatus as WorkflowStatus
from trio_orch.engines._workflow_run import StepContext as StepContext
from trio_orch.engines._ws_client import WebSocketClient as WebSocketClient
from trio_orch.engines._ws_client import open_ws_client as open_ws_client
from trio_orch.engines._ws_connection import WebSocketClientStats as WebSocketClientStats
from trio_orch.engines._ws_envelope import Envelope as Envelope
from trio_orch.engines._ws_events import ConnectionFailed as ConnectionFailed
from trio_orch.engines._ws_events import ConnectionStateChanged as ConnectionStateChanged
from trio_orch.engines._ws_events import MessagesPossiblyLost as MessagesPossiblyLost
from trio_orch.engines._ws_events import WebSocketEvent as WebSocketEvent
from trio_orch.engines._ws_policy import ConnectionState as ConnectionState
from trio_orch.engines._ws_policy import ReconnectPolicy as ReconnectPolicy
