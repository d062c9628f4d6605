"""runtime layer of trio_orch: the orchestrator, plugins, resources, configuration.

Imports ``trio_orch.engines``, ``trio_orch.events`` and ``trio_orch.primitives`` through their
public names only.
"""

from __future__ import annotations

from trio_orch.runtime._config import ConfigManager as ConfigManager
from trio_orch.runtime._health import ComponentHealth as ComponentHealth
from trio_orch.runtime._health import RuntimeHealth as RuntimeHealth
from trio_orch.runtime._orchestrator import Component as Component
from trio_orch.runtime._orchestrator import Orchestrator as Orchestrator
from trio_orch.runtime._orchestrator import open_orchestrator as open_orchestrator
from trio_orch.runtime._plugins import Plugin as Plugin
from trio_orch.runtime._plugins import PluginContext as PluginContext
from trio_orch.runtime._plugins import PluginRegistry as PluginRegistry
from trio_orch.runtime._resources import ResourceHandle as ResourceHandle
from trio_orch.runtime._resources import ResourceManager as ResourceManager
from trio_orch.runtime._resources import ResourceUsage as ResourceUsage
from trio_orch.runtime._runtime_events import ConfigEvent as ConfigEvent
from trio_orch.runtime._runtime_events import ConfigReloaded as ConfigReloaded
from trio_orch.runtime._runtime_events import ConfigReloadFailed as ConfigReloadFailed
from trio_orch.runtime._runtime_events import OrchestratorEvent as OrchestratorEvent
from trio_orch.runtime._runtime_events import OrchestratorInitialized as OrchestratorInitialized
from trio_orch.runtime._runtime_events import OrchestratorShutdown as OrchestratorShutdown
from trio_orch.runtime._runtime_events import PluginDisposed as PluginDisposed
from trio_orch.runtime._runtime_events import PluginDisposing as PluginDisposing
from trio_orch.runtime._runtime_events import PluginEvent as PluginEvent
from trio_orch.runtime._runtime_events import PluginExecuted as PluginExecuted
from trio_orch.runtime._runtime_events import PluginExecuting as PluginExecuting
from trio_orch.runtime._runtime_events import PluginFailed as PluginFailed
from trio_orch.runtime._runtime_events import PluginInitialized as PluginInitialized
from trio_orch.runtime._runtime_events import PluginInitializing as PluginInitializing
from trio_orch.runtime._runtime_events import PluginLoaded as PluginLoaded
from trio_orch.runtime._runtime_events import PluginLoading as PluginLoading
from trio_orch.runtime._runtime_events import ResourceAllocated as ResourceAllocated
from trio_orch.runtime._runtime_events import ResourceEvent as ResourceEvent
from trio_orch.runtime._runtime_events import ResourceFreed as ResourceFreed
from trio_orch.runtime._runtime_events import ResourceRejected as ResourceRejected
