"""A real multi-service example for ``trio_orch.ServiceOrchestrator``.

Four small ASGI services (:mod:`.apps`) served by hypercorn on trio (:mod:`.servers`), httpx
clients and the orchestrator (:mod:`.clients`), the four cross-service operations
(:mod:`.operations`) and the demo that runs them (:mod:`.demo`).
"""
