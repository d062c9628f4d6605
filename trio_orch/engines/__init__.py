"""engines layer of trio_orch."""

from __future__ import annotations
