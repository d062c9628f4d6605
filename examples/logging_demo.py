"""What trio_orch logs, with nothing configured and then with JSON logs.

The library never configures logging.  Run as is, Python's default applies: the retry's
WARNING line goes to stderr, nothing below WARNING is shown, and stdout holds only what this
program prints.  Then the program configures stdlib logging and structlog to print JSON, and
the same happenings come out as JSON lines with a bound request id.
"""

from __future__ import annotations

import logging
import sys

import structlog
import trio

from trio_orch import DropPolicy, Jitter, RetryPolicy, open_bounded_channel, retry

calls = 0


async def flaky() -> str:
    global calls
    calls += 1
    if calls % 2:
        raise ConnectionResetError("peer went away")
    return "ok"


async def work(label: str) -> None:
    policy = RetryPolicy(initial_delay=0.01, jitter=Jitter.NONE)
    result = await retry(flaky, policy=policy)  # one retry: WARNING trio_orch.retry.scheduled
    send, receive = open_bounded_channel[int](max_size=2, drop=DropPolicy.OLDEST, name="ticks")
    with send, receive:
        for i in range(5):
            send.send_nowait(i)  # 3 drops, logged rate-limited: WARNING trio_orch.channel.dropped
        kept = [receive.receive_nowait(), receive.receive_nowait()]
    print(f"{label}: retry -> {result}, kept {kept} of 5, {send.stats.dropped} dropped")


def main() -> None:
    print("1. nothing configured: warnings on stderr, nothing else")
    trio.run(work, "default")

    print("2. JSON on stderr, with a bound request id")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
    )
    structlog.contextvars.bind_contextvars(request_id="r-1")
    trio.run(work, "json")

    print("3. silenced")
    logging.getLogger("trio_orch").setLevel(logging.CRITICAL)
    trio.run(work, "silenced")


if __name__ == "__main__":
    main()
