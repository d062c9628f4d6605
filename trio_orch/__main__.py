"""``python -m trio_orch``: the ``trio-orch`` command line, exactly as the script runs it."""

from __future__ import annotations

from trio_orch.cli import console_main

if __name__ == "__main__":
    console_main()
