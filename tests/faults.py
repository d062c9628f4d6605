"""Shared fault helpers of the tests: awaitables that fail the way real cleanup code does."""

from __future__ import annotations

import trio


async def hang_then_fail_in_a_child() -> None:
    """Hang until cancelled; a child task's cleanup then raises.

    What comes out is a group of ``ValueError("child cleanup failed")`` and the
    ``Cancelled``: the cancel scope that cancelled it keeps the ``Cancelled`` and lets the
    rest of the group, an ``ExceptionGroup``, go on.  Cleanup code must not let that group
    end its bookkeeping early.
    """

    async def child() -> None:
        try:
            await trio.sleep_forever()
        finally:
            raise ValueError("child cleanup failed")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(child)
        await trio.sleep_forever()
