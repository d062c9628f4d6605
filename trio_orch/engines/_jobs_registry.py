"""The tasks a job queue can run, by name: :class:`TaskRegistry`.

Jobs carry a task name and JSON data, never code, so that a job can wait in a store shared
by processes that each have their own registry (a worker that lacks the task fails the job).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, TypeVar, final

from trio_orch._validate import check_callable, check_nonempty_str

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["TaskRegistry"]

F = TypeVar("F", bound="Callable[[Any], Awaitable[Any]]")


def _is_async_callable(fn: object) -> bool:
    while hasattr(fn, "func") and hasattr(fn, "args"):  # functools.partial
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


@final
class TaskRegistry:
    """The tasks a job queue can run, by name: jobs carry a name and data, never code.

    ::

        tasks = TaskRegistry()

        @tasks.task("resize")
        async def resize(payload: dict) -> dict: ...

    A task is an ``async def`` taking the job's payload (JSON data) and returning JSON data
    (or an attrs class, a dataclass or an enum, unstructured with cattrs).
    """

    def __init__(self) -> None:
        self._tasks: dict[str, Callable[[Any], Awaitable[Any]]] = {}

    def __repr__(self) -> str:
        return f"<TaskRegistry {sorted(self._tasks)}>"

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def task(self, name: str) -> Callable[[F], F]:
        """Decorator: register the decorated async function as the task ``name``.

        Returns the function unchanged.

        Raises:
            TypeError: ``name`` is not a str; the function is not async.
            ValueError: ``name`` is empty or already registered.
        """
        check_nonempty_str("name", name)

        def decorate(fn: F) -> F:
            self.register(name, fn)
            return fn

        return decorate

    def register(self, name: str, fn: Callable[[Any], Awaitable[Any]]) -> None:
        """Register ``fn`` as the task ``name``.

        Raises:
            TypeError: ``name`` is not a str; ``fn`` is not an async callable.
            ValueError: ``name`` is empty or already registered.
        """
        check_nonempty_str("name", name)
        check_callable("fn", fn)
        if not _is_async_callable(fn):
            msg = f"fn must be an async function, got {fn!r}"
            raise TypeError(msg)
        if name in self._tasks:
            msg = f"name must be unique, got {name!r} (already registered)"
            raise ValueError(msg)
        self._tasks[name] = fn

    def get(self, name: str) -> Callable[[Any], Awaitable[Any]]:
        """The task registered as ``name``.

        Raises:
            ValueError: no task has this name (the message lists the registered names).
        """
        try:
            return self._tasks[name]
        except KeyError:
            known = ", ".join(repr(n) for n in sorted(self._tasks)) or "none"
            msg = f"task must be a registered task name, got {name!r} (registered: {known})"
            raise ValueError(msg) from None

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._tasks)
