"""``python -m trio_orch``: the ``trio-orch`` command line."""

from __future__ import annotations

import sys

from trio_orch.cli import main

if __name__ == "__main__":
    sys.exit(main())
