"""Shared fixtures. pytest-trio runs every async test (trio_mode = true)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "trio_orch",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("trio_orch")
