"""Helpers for testing code that uses trio_orch (outside the library's layers).

- :class:`FakeProvider`: a generation provider with simulated latency, progress, and
  transient and permanent failures (for :class:`trio_orch.GenerationOrchestrator`).
- :func:`open_ws_test_server` / :class:`WebSocketTestServer`: a local trio-websocket server
  on 127.0.0.1 that echoes and can refuse handshakes, drop connections, stall pongs and
  restart on the same port.
"""

from __future__ import annotations

# --- jobs ---
from trio_orch.testing._fake_provider import FakeJob as FakeJob
from trio_orch.testing._fake_provider import FakeProvider as FakeProvider

# --- ws ---
from trio_orch.testing._ws_server import WebSocketTestServer as WebSocketTestServer
from trio_orch.testing._ws_server import open_ws_test_server as open_ws_test_server

__all__ = ["FakeJob", "FakeProvider", "WebSocketTestServer", "open_ws_test_server"]
