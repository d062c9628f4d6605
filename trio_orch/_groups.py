"""Keep an internal nursery's ExceptionGroup from leaking where one failure is the meaning.

Every single-purpose async context manager of trio_orch owns a nursery; when exactly one
exception comes out of it (the body's, or one task's), the caller gets that exception as
itself, with its own traceback, ``__cause__``, ``__context__`` and notes.  When several
things failed at once the group propagates, with a note naming where it came from.

This module sits below every layer (like ``_exceptions``) so that they all share it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, NoReturn

import trio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


def leaves(exc: BaseException) -> list[BaseException]:
    """Every exception inside ``exc`` that is not itself a group, depth first."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def reraise(exc: BaseException) -> NoReturn:
    """Raise ``exc`` from inside an ``except`` handler without chaining the handled group.

    A bare ``raise exc`` there would set the group as ``exc.__context__``; this keeps the
    context ``exc`` had.
    """
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context


@contextlib.contextmanager
def unwrap_single(where: str) -> Iterator[None]:
    """Re-raise a nursery's group that means one exception as that exception.

    ``Cancelled`` beside exactly one other exception is what that failure cancelled, so the
    failure is raised alone; a group of nothing but ``Cancelled`` is raised as one of them.
    A lone child that is itself a group is unwrapped down to its one real leaf if it has
    exactly one, and otherwise left as it is (it may be the body's own group).  Several real
    failures propagate as the group, with a note naming ``where``.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        errors = [e for e in group.exceptions if not only_cancelled(e)]
        if not errors:
            reraise(leaves(group)[0])
        if len(errors) > 1:
            group.add_note(f"raised by {where}: {len(errors)} tasks failed at once")
            raise
        real = [e for e in leaves(errors[0]) if not isinstance(e, trio.Cancelled)]
        reraise(real[0] if len(real) == 1 else errors[0])


def only_cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is ``trio.Cancelled`` or a group (at any depth) of nothing else.

    A lone ``Cancelled`` is true; an empty group cannot exist, so every group that answers
    true holds at least one ``Cancelled`` leaf.
    """
    return all(isinstance(e, trio.Cancelled) for e in leaves(exc))


@contextlib.asynccontextmanager
async def open_nursery_unwrapped(where: str) -> AsyncIterator[trio.Nursery]:
    """A nursery whose exit raises a lone exception as itself (see :func:`unwrap_single`)."""
    with unwrap_single(where):
        async with trio.open_nursery() as nursery:
            yield nursery
