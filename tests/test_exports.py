"""The public surface: a sorted __all__, every name importable, nothing public left out."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import trio_orch
import trio_orch.engines
from tests._subprocess import run_python

LAZY = ("WebSocketClient", "WebSocketClientStats", "open_ws_client")
SUBPACKAGES = {"primitives", "events", "engines", "runtime", "cli", "testing"}


def test_all_is_sorted_and_unique() -> None:
    assert trio_orch.__all__ == sorted(set(trio_orch.__all__))


def test_every_name_in_all_imports() -> None:
    for name in trio_orch.__all__:
        assert getattr(trio_orch, name) is not None, name


def test_every_public_attribute_is_in_all() -> None:
    # Submodules become attributes once something imports them; they are not names.
    public = {
        name
        for name in dir(trio_orch)
        if not name.startswith("_")
        and name != "annotations"
        and not isinstance(getattr(trio_orch, name), types.ModuleType)
    }
    assert public == set(trio_orch.__all__)
    assert {p.name for p in Path(trio_orch.__file__).parent.iterdir()} >= SUBPACKAGES


def test_lazy_names_are_listed_and_resolve_to_their_module() -> None:
    from trio_orch.engines import _ws_client

    for name in LAZY:
        assert name in trio_orch.__all__
        assert name in dir(trio_orch)
        assert name in dir(trio_orch.engines)
        assert getattr(trio_orch, name) is getattr(_ws_client, name)
        assert getattr(trio_orch.engines, name) is getattr(_ws_client, name)


@pytest.mark.parametrize("module", [trio_orch, trio_orch.engines])
def test_unknown_names_raise_attribute_error(module: object) -> None:
    name = getattr(module, "__name__", "")
    with pytest.raises(AttributeError, match=rf"^module '{name}' has no attribute 'nope'$"):
        getattr(module, "nope")  # noqa: B009 - the lookup under test


def test_from_import_of_a_lazy_name_works_in_a_fresh_process() -> None:
    code = (
        "import sys\n"
        "import trio_orch\n"
        "assert 'trio_websocket' not in sys.modules\n"
        "from trio_orch import open_ws_client, WebSocketClient\n"
        "assert 'trio_websocket' in sys.modules\n"
        "assert open_ws_client.__module__ == 'trio_orch.engines._ws_client'\n"
        "print(WebSocketClient.__name__)\n"
    )
    done = run_python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "WebSocketClient\n"
