"""The layer packages load their names on first use, and ``trio-orch run`` imports little.

``trio_orch.engines``, ``trio_orch.events`` and ``trio_orch.primitives`` map each public name
to its module (``_LAZY``) for run time and import it under ``TYPE_CHECKING`` for type
checkers: the two lists must agree, and every name must resolve.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

from tests._subprocess import run_python

LAYERS = ("trio_orch.primitives", "trio_orch.events", "trio_orch.engines")


def _declared(package: str) -> tuple[dict[str, str], dict[str, str]]:
    """(the TYPE_CHECKING imports, the _LAZY table) of ``package``'s ``__init__``."""
    module = importlib.import_module(package)
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module is not None:
                    typed.update({alias.name: stmt.module for alias in stmt.names})
    lazy = getattr(module, "_LAZY", {})
    return typed, dict(lazy)


@pytest.mark.parametrize("package", LAYERS)
def test_the_lazy_table_and_the_typed_imports_agree(package: str) -> None:
    typed, lazy = _declared(package)
    assert lazy, f"{package} has no _LAZY table"
    assert typed == lazy


@pytest.mark.parametrize("package", LAYERS)
def test_every_lazy_name_resolves_to_its_module_s_object(package: str) -> None:
    module = importlib.import_module(package)
    for name, where in module._LAZY.items():
        assert getattr(module, name) is getattr(importlib.import_module(where), name)
        assert name in dir(module)


def test_trio_orch_run_imports_the_workflow_engine_only() -> None:
    program = (
        "import json, sys\nimport trio_orch.cli._run\nprint(json.dumps(sorted(sys.modules)))\n"
    )
    done = run_python("-c", program)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "trio_orch.engines._workflow" in loaded
    for absent in (
        "trio_orch.engines._jobs_queue",
        "trio_orch.engines._services",
        "trio_orch.engines._generation",
        "trio_orch.engines._workflow_events",  # loaded with the first event emitted
        "trio_orch.events._bus",
        "trio_orch.primitives._channels",
        "trio_orch.runtime",
        "cattrs",  # only to report a problem in a workflow file
        "rich",
    ):
        assert absent not in loaded, absent


def test_a_job_store_url_works_in_a_fresh_process_without_loading_the_store_first() -> None:
    program = (
        "import sys, tempfile, trio\n"
        "from trio_orch.engines._store_url import store_from_url\n"
        "assert 'trio_orch.engines._store_sqlite' not in sys.modules\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    store = store_from_url(f'sqlite:///{d}/jobs.db')\n"
        "    print(type(store).__name__)\n"
        "    trio.run(store.aclose)\n"
    )
    done = run_python("-c", program)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "SqliteJobStore\n"
