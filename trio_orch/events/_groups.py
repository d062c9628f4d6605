"""Keep an internal nursery's ExceptionGroup from leaking where one failure is the meaning."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            leaves.extend(_leaves(exc))
        else:
            leaves.append(exc)
    return leaves


@contextmanager
def unwrap_single() -> Iterator[None]:
    """Re-raise an ExceptionGroup holding exactly one exception as that exception.

    A group with several leaves propagates unchanged.  The leaf keeps its own traceback,
    ``__cause__`` and notes.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) != 1:
            raise
        leaf = leaves[0]
        context = leaf.__context__
        try:
            raise leaf
        finally:
            leaf.__context__ = context
            del leaf, group
