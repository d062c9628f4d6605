"""Cancel scopes as cancellation tokens, and ``cancel_on`` for "stop when this event fires".

A download loop runs inside ``cancel_on(user_abort, shutdown)``: the first event that fires
cancels it.  A timeout is a plain ``trio.move_on_after`` scope, and cleanup that must finish
even while cancelled runs in a shielded scope.  Everything runs on Trio's virtual clock, so it
finishes at once and prints the same story every time.
"""

from __future__ import annotations

import trio
import trio.testing

from trio_orch import cancel_on


async def download(name: str, chunks: int, log: list[str]) -> None:
    try:
        for i in range(chunks):
            await trio.sleep(1)
            log.append(f"{name}: chunk {i + 1}/{chunks} at t={trio.current_time():g}")
    finally:
        with trio.CancelScope(shield=True):  # cleanup survives the cancellation
            await trio.sleep(0.5)
            log.append(f"{name}: temp file removed at t={trio.current_time():g}")


async def press_abort_after(delay: float, event: trio.Event) -> None:
    await trio.sleep(delay)
    print(f"t={trio.current_time():g}: user pressed abort")
    event.set()


async def main() -> None:
    user_abort, shutdown = trio.Event(), trio.Event()
    log: list[str] = []

    # 1. Cancelled by an event: combineCancellationTokens(abortToken, shutdownToken).
    async with trio.open_nursery() as nursery:
        nursery.start_soon(press_abort_after, 2.5, user_abort)
        async with cancel_on(user_abort, shutdown, reason="user abort") as scope:
            await download("report.pdf", 10, log)
    print("\n".join(log))
    print(f"report.pdf cancelled: {scope.cancelled_caught} at t={trio.current_time():g}")

    # 2. A timeout is a cancel scope: createTimeoutToken(3000).
    log.clear()
    with trio.move_on_after(2.2) as timeout:
        await download("video.mp4", 10, log)
    print("\n".join(log))
    print(f"video.mp4 timed out: {timeout.cancelled_caught} at t={trio.current_time():g}")

    # 3. An event that is already set cancels at once.
    async with cancel_on(user_abort) as scope:
        await trio.sleep(100)
    print(
        f"already aborted: cancelled at once: {scope.cancelled_caught}, t={trio.current_time():g}"
    )


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
