"""Four real HTTP services coordinated by a ServiceOrchestrator; one of them goes down.

The demo lives in the package ``examples/services/`` (four ASGI apps served by hypercorn on
trio, httpx clients, the cross-service operations); this script runs it:
``python examples/services_demo.py`` (the same as ``python examples/services/demo.py``).
Needs the ``examples`` extra: ``pip install trio-orch[examples]``.
"""

from __future__ import annotations

import logging

import structlog
import trio
from services.demo import main  # examples/ is this script's directory, so on sys.path

if __name__ == "__main__":
    # The failures in the demo are on purpose: keep the library's warnings off the terminal.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger("trio_orch").setLevel(logging.ERROR)
    trio.run(main)
