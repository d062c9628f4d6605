"""Primitives: errors, retry, cancellation, limits, bounded channels, progress, store.

The lowest layer: it imports nothing from the rest of trio_orch but ``trio_orch._exceptions``.
Each section below belongs to one private module.
"""

from __future__ import annotations

# --- errors & retry (_errors.py, _retry.py) ---
# --- cancellation (_cancel.py) ---
# --- limiter (_limiter.py) ---
# --- channels (_channels.py) ---
# --- store (_store.py) ---
# --- progress (_progress.py) ---
