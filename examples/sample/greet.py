"""The sample project that examples/build.toml builds: one function and its tests."""

from __future__ import annotations


def greet(name: str) -> str:
    """Say hello to ``name``."""
    if not name:
        msg = f"name must not be empty, got {name!r}"
        raise ValueError(msg)
    return f"Hello, {name}!"
