"""Run Python in a fresh interpreter, for the tests that need a process of their own.

A fresh process is the only place where "what ``import trio_orch`` loads" or "what is
printed with nothing configured" can be observed: this test process has long imported
everything and pytest configures logging.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python *args`` in the repository's root; never raises for a non-zero exit."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
