"""``import trio_orch`` stays light: no WebSocket stack, no terminal UI, no CLI, no benchmarks.

Measured in a fresh interpreter, because this test process has long imported everything.
The timing targets (trio_orch's own modules <= 40 ms with ``python -X importtime``) are
checked by hand, not here: a timing assertion would fail on a busy machine.
"""

from __future__ import annotations

import json

import pytest

from tests._subprocess import run_python

#: What ``import trio_orch`` must not load.  structlog too: it is imported on the first
#: log call that is enabled (importing it pulls in its console renderer and rich).
HEAVY = (
    "trio_websocket",
    "wsproto",
    "rich",
    "structlog",
    "trio_orch.cli",
    "trio_orch.bench",
    "benchmarks",
    "pytest",
)


def _modules_after(code: str) -> set[str]:
    program = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = run_python("-c", program)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


#: Optional libraries, imported by the function that needs them, never at import time.
OPTIONAL = (
    "httpx",
    "hypercorn",
    "prometheus_client",
    "hdrhistogram",
    "psycopg",
    "yaml",
    "tomli_w",
    "watchfiles",
)

#: What a program that uses the core components imports.
CORE_USE = (
    "from trio_orch import (ConcurrencyLimiter, RetryPolicy, Workflow, open_bounded_channel,"
    " open_event_bus, retry)"
)


def _loaded(modules: set[str], name: str) -> set[str]:
    return {m for m in modules if m == name or m.startswith(f"{name}.")}


@pytest.fixture(scope="module")
def loaded() -> set[str]:
    return _modules_after("import trio_orch")


@pytest.fixture(scope="module")
def loaded_by_core_use() -> set[str]:
    return _modules_after(CORE_USE)


@pytest.mark.parametrize("name", HEAVY + OPTIONAL)
def test_import_trio_orch_does_not_load(loaded: set[str], name: str) -> None:
    assert "trio_orch" in loaded
    assert not _loaded(loaded, name)


@pytest.mark.parametrize("name", HEAVY + OPTIONAL)
def test_using_the_core_components_does_not_load(loaded_by_core_use: set[str], name: str) -> None:
    assert "trio_orch.engines" in loaded_by_core_use
    assert not _loaded(loaded_by_core_use, name)


def test_first_use_of_a_websocket_name_loads_the_websocket_stack() -> None:
    loaded = _modules_after("from trio_orch import open_ws_client")
    assert {"trio_websocket", "trio_orch.engines._ws_client"} <= loaded
    assert "rich" not in loaded
