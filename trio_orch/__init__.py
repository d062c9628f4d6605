"""trio_orch: Trio-native orchestration.

Retry with backoff, cancellation, concurrency and rate limits, bounded queues, typed events
routed between actors, DAG workflows, a reconnecting WebSocket client, progress and ETA — all
structured-concurrency correct.  Everything public is importable from here.
"""

from __future__ import annotations

from trio_orch._exceptions import LimiterFull as LimiterFull
from trio_orch._exceptions import OrchError as OrchError
from trio_orch._exceptions import PermanentError as PermanentError
from trio_orch._exceptions import QueueFull as QueueFull
from trio_orch._exceptions import TransientError as TransientError

# --- primitives: errors & retry ---
# --- primitives: cancellation ---
# --- primitives: limiter ---
# --- primitives: channels ---
# --- primitives: store ---
# --- primitives: progress ---
# --- events ---
# --- engines: workflow ---
# --- engines: ws ---

__version__ = "0.1.0.dev0"

__all__ = [
    "LimiterFull",
    "OrchError",
    "PermanentError",
    "QueueFull",
    "TransientError",
]
