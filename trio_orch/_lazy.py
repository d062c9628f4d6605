"""Names loaded on first use (PEP 562), for the package ``__init__`` modules.

``__getattr__, __dir__ = lazy_names(globals(), {"Name": "trio_orch.module"})`` makes a
package load ``Name`` from its module the first time it is looked up, and remember it, so
that importing the package costs nothing for the components a program does not use.  Type
checkers read the package's ``if TYPE_CHECKING:`` imports instead.

This module sits below every layer (like ``_exceptions``) so that they all share it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def lazy_names(
    namespace: dict[str, Any], table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return the ``__getattr__`` and ``__dir__`` of a package whose names load lazily.

    Args:
        namespace: the package's ``globals()``; a loaded name is stored there, so later
            lookups never reach ``__getattr__`` again.
        table: each lazy name -> the module that defines it.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__


class LazyModule:
    """The attributes of module ``name``, imported on first use.

    ``ev = LazyModule("trio_orch.engines._workflow_events")`` (under ``if not TYPE_CHECKING``,
    beside the real import for type checkers) lets a module refer to ``ev.StepStarted`` while
    importing the events only when the first one is made: ``trio-orch run``, which passes no
    bus, never pays for them.  Each attribute is looked up once, then kept on the instance.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)
        return value
