"""``python -m examples.services`` runs the demo."""

from __future__ import annotations

import logging

import structlog
import trio

from .demo import main

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
logging.getLogger("trio_orch").setLevel(logging.ERROR)
trio.run(main)
