"""The ``trio-orch`` command line: ``trio-orch run FILE.toml`` and ``trio-orch bench``."""

from __future__ import annotations

from trio_orch.cli._main import console_main as console_main
from trio_orch.cli._main import main as main
