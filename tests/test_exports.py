"""The public surface: a sorted __all__, every name importable, nothing public left out."""

from __future__ import annotations

import trio_orch


def test_all_is_sorted_and_unique() -> None:
    assert trio_orch.__all__ == sorted(set(trio_orch.__all__))


def test_every_name_in_all_imports() -> None:
    for name in trio_orch.__all__:
        assert getattr(trio_orch, name) is not None, name


def test_every_public_attribute_is_in_all() -> None:
    modules = {"primitives", "events", "engines", "runtime", "cli", "testing"}
    public = {
        name
        for name in vars(trio_orch)
        if not name.startswith("_") and name not in modules and name != "annotations"
    }
    assert public == set(trio_orch.__all__)
