"""``import trio_orch`` stays light: no WebSocket stack, no terminal UI, no CLI, no benchmarks.

Measured in a fresh interpreter, because this test process has long imported everything.
The timing targets (trio_orch's own modules <= 40 ms with ``python -X importtime``) are
checked by hand, not here: a timing assertion would fail on a busy machine.
"""

from __future__ import annotations

import ast
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


#: A workflow run without retries, as ``trio-orch run`` makes one for a file with none.
RUN_WITHOUT_RETRIES = """
import trio
from trio_orch import Step, Workflow

async def noop():
    pass

trio.run(Workflow("w", steps=[Step("a", noop), Step("b", noop, depends_on=["a"])]).run)
"""


def test_a_workflow_without_retries_does_not_load_the_retry_machinery() -> None:
    loaded = _modules_after(RUN_WITHOUT_RETRIES)
    assert "trio_orch.engines._workflow_run" in loaded
    assert not loaded & {
        "trio_orch.primitives._retry",
        "trio_orch.primitives._errors",
        "trio_orch.primitives._backoff",
    }


def test_trio_orch_run_loads_json_and_the_retry_machinery_only_when_used() -> None:
    # (not _modules_after: it imports json itself to report the modules)
    program = (
        "import sys, trio\n"
        "from trio_orch.cli import _main, _run\n"
        "print(sorted(m for m in sys.modules if m == 'json' or m.startswith('trio_orch.')))"
    )
    done = run_python("-c", program)
    assert done.returncode == 0, done.stderr
    loaded = set(ast.literal_eval(done.stdout))
    assert "trio_orch.cli._run" in loaded
    assert "json" not in loaded
    assert "trio_orch.primitives._retry" not in loaded


def test_a_step_with_a_retry_policy_is_checked_and_retried() -> None:
    program = """
import trio
from trio_orch import RetryPolicy, Step, Workflow

calls = []

async def flaky():
    calls.append(1)
    if len(calls) < 2:
        raise ConnectionError("once")

trio.run(Workflow("w", steps=[Step("a", flaky, retry=RetryPolicy(initial_delay=0))]).run)
try:
    Step("b", flaky, retry=3)
except TypeError as exc:
    print(exc)
print(len(calls))
"""
    done = run_python("-c", program)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["retry must be a RetryPolicy or None, got 3", "2"]
