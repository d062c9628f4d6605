"""Retry with backoff, classification, deadlines and the testing switch, on a virtual clock.

A flaky fake service fails with a mix of errors.  The demo shows:

1. transient errors (a 503, a reset connection) retried with exponential backoff;
2. a permanent error (a 404) propagating at once, not retried;
3. attempts running out: the last error propagates unchanged, with a note;
4. a deadline: retry gives up at once instead of sleeping into the cancellation;
5. a custom classifier, and ``retry_testing()`` removing the backoff.

Every retry is also logged at WARNING as ``trio_orch.retry.scheduled`` on the stdlib logger
``trio_orch.retry``; here the ``on_retry`` hook prints the same facts, so the demo raises that
logger's level to keep its output to the prints.  Trio's MockClock with autojump makes every sleep
instant, so the script prints the same virtual times on every run.
"""

from __future__ import annotations

import logging

import trio
import trio.testing

from trio_orch import (
    DEFAULT_CLASSIFIER,
    ErrorKind,
    Jitter,
    RetryDetails,
    RetryPolicy,
    classify_error,
    is_transient,
    retry,
    retry_testing,
    retrying,
)


class HTTPError(Exception):
    """What an HTTP client might raise: the status code decides what is retryable."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class FakeService:
    """Answers with the scripted errors, in order, then with a body."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def get(self, path: str) -> str:
        self.calls += 1
        await trio.sleep(0.05)  # the round trip
        if self.errors:
            raise self.errors.pop(0)
        return f"200 OK {path}"


def show(details: RetryDetails) -> None:
    print(
        f"    t={trio.current_time():6.2f}  attempt {details.attempt} failed with "
        f"{details.error!r}; retrying in {details.delay:.2f} s"
    )


POLICY = RetryPolicy(
    max_attempts=4, initial_delay=0.5, max_delay=5.0, jitter=Jitter.NONE, on_retry=show
)


async def main() -> None:
    print("classification:")
    for exc in (HTTPError(503), HTTPError(404), ConnectionResetError(), ValueError("x")):
        print(f"    {exc!r:32} -> {classify_error(exc).name}")

    print("1. transient errors are retried with backoff:")
    service = FakeService(HTTPError(503), ConnectionResetError())
    body = await retry(service.get, "/a", policy=POLICY)
    print(f"    t={trio.current_time():6.2f}  {body!r} after {service.calls} calls")

    print("2. a permanent error propagates at once:")
    service = FakeService(HTTPError(404))
    try:
        await retry(service.get, "/missing", policy=POLICY)
    except HTTPError as exc:
        print(f"    {exc!r} after {service.calls} call")

    print("3. attempts run out: the last error, unchanged, with a note:")
    last = HTTPError(502)
    service = FakeService(HTTPError(503), HTTPError(503), HTTPError(503), last)
    try:
        await retry(service.get, "/down", policy=POLICY)
    except HTTPError as exc:
        print(f"    same object: {exc is last}; notes: {exc.__notes__}")

    print("4. a deadline 1 s away: retry gives up instead of sleeping past it:")
    start = trio.current_time()
    service = FakeService(*[TimeoutError("slow upstream") for _ in range(10)])
    with trio.move_on_after(1.0):
        try:
            await retry(service.get, "/slow", policy=POLICY)
        except TimeoutError as exc:
            print(f"    gave up after {trio.current_time() - start:.2f} s: {exc.__notes__[-1]}")

    print("5. a custom classifier (a 409 is worth retrying here) and retry_testing():")
    classifier = DEFAULT_CLASSIFIER.with_status(409, kind=ErrorKind.TRANSIENT)
    print(
        f"    409: default says transient={is_transient(HTTPError(409))}, ours says "
        f"{classifier.classify(HTTPError(409)).name}"
    )

    service = FakeService(HTTPError(409), HTTPError(409))

    @retrying(RetryPolicy(retry_on=classifier.is_transient, initial_delay=2.0))
    async def put(path: str) -> str:
        return await service.get(path)

    start = trio.current_time()
    with retry_testing():
        body = await put("/conflict")
    print(
        f"    {body!r} after {service.calls} calls, {trio.current_time() - start:.2f} s (no backoff)"
    )


if __name__ == "__main__":
    # Keep the demo's output to the prints above (see docs/logging.md).
    logging.getLogger("trio_orch.retry").setLevel(logging.ERROR)
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
