"""retry() around a call that succeeds the first time, against a hand-rolled loop and peers.

Figures (µs per call, all measured in the same run):

* the floor: a hand-rolled ``for attempt in range(3): try/except`` loop plus one
  ``trio.lowlevel.checkpoint()`` (what a careful Trio user writes by hand);
* ``await retry(fn, policy=...)``, ``@retrying(policy)`` and ``retry`` with a ``timeout``
  (against the floor inside ``trio.fail_after``) — target <= 2x the floor;
* ``retry()`` against tenacity (``@tenacity.retry(sleep=trio.sleep, ...)``) and stamina
  (``@stamina.retry``) with equivalent settings — target: ours / theirs <= 0.33x (both
  >= 3x slower than ``retry()``); each is skipped, with its install hint, when missing.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import trio

from trio_orch import Jitter, RetryPolicy, retry, retrying
from trio_orch.bench import BenchmarkSkipped, Figure, Skipped, best_of, measures, require

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

POLICY = RetryPolicy(max_attempts=3, initial_delay=0.1, max_delay=5.0, jitter=Jitter.FULL)
TIMED_POLICY = RetryPolicy(max_attempts=3, initial_delay=0.1, max_delay=5.0, timeout=30.0)


async def fetch(x: int) -> int:
    return x  # noqa: ASYNC910 - trivial work, no checkpoint on purpose


async def _hand_retry(i: int) -> None:
    """The loop one writes by hand: a checkpoint, then 3 attempts with doubling sleeps."""
    await trio.lowlevel.checkpoint()
    for attempt in range(3):
        try:
            await fetch(i)
            break
        except TimeoutError:
            if attempt == 2:
                raise
            await trio.sleep(0.1 * 2**attempt)


async def _floor(n: int) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
    for i in range(n):
        await _hand_retry(i)


async def _floor_timeout(n: int) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
    for i in range(n):
        with trio.fail_after(30.0):
            await _hand_retry(i)


async def _retry(n: int) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
    for i in range(n):
        await retry(fetch, i, policy=POLICY)


async def _retry_timeout(n: int) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
    for i in range(n):
        await retry(fetch, i, policy=TIMED_POLICY)


_decorated = retrying(POLICY)(fetch)


async def _retrying(n: int) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
    for i in range(n):
        await _decorated(i)


def _tenacity_calls() -> Callable[[int], Awaitable[None]]:
    """tenacity with the same settings (skipped when it is not installed)."""
    tenacity = require("tenacity")
    decorated = tenacity.retry(
        sleep=trio.sleep,
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=5.0),
        retry=tenacity.retry_if_exception_type(TimeoutError),
        reraise=True,
    )(fetch)

    async def calls(n: int) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
        for i in range(n):
            await decorated(i)

    return calls


def _stamina_calls() -> Callable[[int], Awaitable[None]]:
    """stamina with the same settings (skipped when it is not installed)."""
    stamina = require("stamina")
    decorated = stamina.retry(on=TimeoutError, attempts=3, wait_initial=0.1, wait_max=5.0)(fetch)

    async def calls(n: int) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
        for i in range(n):
            await decorated(i)

    return calls


def _per_call_us(
    bodies: dict[str, tuple[Callable[[int], Awaitable[None]], int]], rounds: int
) -> dict[str, float]:
    # Interleaved rounds, best of each: a load spike on this shared machine then hits one
    # round of every contender instead of all rounds of one.
    best = dict.fromkeys(bodies, float("inf"))
    for _ in range(rounds):
        for name, (body, n) in bodies.items():
            seconds = best_of(partial(trio.run, body, n), repeat=1)
            best[name] = min(best[name], seconds / n * 1e6)
    return best


@measures
def suite(quick: bool) -> list[Figure | Skipped]:
    """Measure the figures; ``quick`` runs small workloads (a smoke test)."""
    n, rounds = (1_000, 1) if quick else (50_000, 3)  # the harness repeats the suite too
    peer_n = max(n // 5, 1)  # tenacity and stamina are slower: fewer calls keep it short
    bodies: dict[str, tuple[Callable[[int], Awaitable[None]], int]] = {
        "floor": (_floor, n),
        "floor_timeout": (_floor_timeout, n),
        "retry": (_retry, n),
        "retrying": (_retrying, n),
        "retry_timeout": (_retry_timeout, n),
    }
    skipped: list[Figure | Skipped] = []
    peers = {"tenacity @retry(sleep=trio.sleep)": _tenacity_calls}
    peers["stamina @retry(on=TimeoutError)"] = _stamina_calls
    for label, make in peers.items():
        try:
            bodies[label] = (make(), peer_n)
        except BenchmarkSkipped as exc:
            skipped.append(Skipped(f"retry() vs {label}", exc.reason, exc.hint))
    us = _per_call_us(bodies, rounds)
    floor, floor_timeout, ours = us["floor"], us["floor_timeout"], us["retry"]
    decorated, timed = us["retrying"], us["retry_timeout"]
    loop = "hand-rolled loop + checkpoint"
    unit = "µs/call"
    figures: list[Figure | Skipped] = [
        Figure("floor: hand-rolled loop + checkpoint", floor, unit),
        Figure("retry(fetch, x, policy=...)", ours, unit, loop, ours / floor, "<= 2x"),
        Figure("@retrying(policy)", decorated, unit, loop, decorated / floor, "<= 2x"),
        Figure("floor inside trio.fail_after(30)", floor_timeout, unit),
        Figure(
            "retry(..., policy with timeout=30)",
            timed,
            unit,
            "loop in fail_after",
            timed / floor_timeout,
            "<= 2x",
        ),
    ]
    # tenacity and stamina should be at least 3x slower: ours / theirs <= 1/3
    figures += [
        Figure("retry(fetch, x, policy=...)", ours, unit, label, ours / us[label], "<= 0.33x")
        for label in peers
        if label in us
    ]
    return figures + skipped
