"""retry(), @retrying, RetryPolicy and Jitter: behaviour on Trio's virtual clock."""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import random
import re
import socket
import statistics
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from trio_orch import (
    Backoff,
    ErrorClassifier,
    ErrorKind,
    Jitter,
    PermanentError,
    RetryDetails,
    RetryPolicy,
    TransientError,
    retry,
    retry_testing,
    retrying,
)

if TYPE_CHECKING:
    from collections.abc import Callable

NO_JITTER = RetryPolicy(max_attempts=3, initial_delay=1.0, multiplier=2.0, jitter=Jitter.NONE)


@attrs.define
class Flaky:
    """An async callable that raises the given errors in turn, then returns ``value``."""

    errors: list[BaseException]
    value: str = "ok"
    duration: float = 0.0
    calls: list[float] = attrs.Factory(list)

    async def __call__(self, *args: object) -> str:
        self.calls.append(trio.current_time())
        if self.duration:
            await trio.sleep(self.duration)
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def always(exc_factory: Callable[[], BaseException], n: int = 100) -> list[BaseException]:
    return [exc_factory() for _ in range(n)]


# --- the basics ---------------------------------------------------------------------------


async def test_succeeds_after_transient_failures(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky([TimeoutError(), ConnectionResetError()])
    assert await retry(fn, policy=NO_JITTER) == "ok"
    assert fn.calls == [0.0, 1.0, 1.0 + 2.0]
    assert trio.current_time() == 3.0


async def test_success_first_time_returns_at_once(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky([])
    with capture_logs() as logs:
        assert await retry(fn) == "ok"
    assert fn.calls == [0.0]
    assert logs == []


async def test_args_are_passed_through() -> None:
    async def add(a: int, b: int) -> int:
        return a + b

    assert await retry(add, 2, 3) == 5
    assert await retry(functools.partial(add, b=10), 1) == 11


async def test_exhausted_attempts_reraise_the_last_error_unchanged(
    autojump_clock: trio.abc.Clock,
) -> None:
    errors: list[BaseException] = [TimeoutError("1"), TimeoutError("2"), TimeoutError("3")]
    last = errors[-1]
    fn = Flaky(list(errors))
    with pytest.raises(TimeoutError) as info:
        await retry(fn, policy=NO_JITTER)
    assert info.value is last
    assert info.value.args == ("3",)
    assert info.value.__notes__ == ["trio_orch.retry: gave up on Flaky after 3 attempts"]
    assert info.value.__context__ is None
    assert info.value.__cause__ is None
    assert len(fn.calls) == 3
    assert trio.current_time() == 3.0


async def test_max_attempts_one_never_retries(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky([TimeoutError()])
    with pytest.raises(TimeoutError) as info:
        await retry(fn, policy=RetryPolicy(max_attempts=1))
    assert info.value.__notes__ == ["trio_orch.retry: gave up on Flaky after 1 attempt"]
    assert fn.calls == [0.0]


@pytest.mark.parametrize(
    "exc", [ValueError("bad"), KeyError("k"), PermanentError("no"), RuntimeError("unknown")]
)
async def test_non_retryable_errors_propagate_at_once(
    autojump_clock: trio.abc.Clock, exc: Exception
) -> None:
    fn = Flaky([exc])
    with capture_logs() as logs, pytest.raises(type(exc)) as info:
        await retry(fn)
    assert info.value is exc
    assert not hasattr(exc, "__notes__")
    assert fn.calls == [0.0]
    assert logs == []


async def test_non_retryable_error_after_retries_gets_a_note(
    autojump_clock: trio.abc.Clock,
) -> None:
    fn = Flaky([TimeoutError(), ValueError("bad")])
    with pytest.raises(ValueError, match=r"^bad\n") as info:
        await retry(fn, policy=NO_JITTER)
    assert info.value.__notes__ == [
        "trio_orch.retry: Flaky raised this non-retryable error on attempt 2 of 3"
    ]
    assert trio.current_time() == 1.0


# --- never retried -------------------------------------------------------------------------

EVERYTHING: list[object] = [lambda e: True, (BaseException,), BaseException]


@pytest.mark.parametrize("retry_on", EVERYTHING, ids=["lambda", "tuple", "type"])
@pytest.mark.parametrize(
    "exc_type", [KeyboardInterrupt, SystemExit, GeneratorExit], ids=lambda t: t.__name__
)
async def test_base_exceptions_are_never_retried(
    autojump_clock: trio.abc.Clock, retry_on: object, exc_type: type[BaseException]
) -> None:
    fn = Flaky([exc_type(), exc_type()])
    policy = RetryPolicy(retry_on=retry_on)  # type: ignore[arg-type]
    with pytest.raises(exc_type):
        await retry(fn, policy=policy)
    assert fn.calls == [0.0]


@pytest.mark.parametrize("retry_on", EVERYTHING, ids=["lambda", "tuple", "type"])
async def test_cancelled_is_never_retried(autojump_clock: trio.abc.Clock, retry_on: object) -> None:
    calls = 0

    async def cancels_itself() -> None:
        nonlocal calls
        calls += 1
        scope.cancel()
        await trio.sleep(1)

    with trio.CancelScope() as scope:
        await retry(cancels_itself, policy=RetryPolicy(retry_on=retry_on))  # type: ignore[arg-type]
    assert scope.cancelled_caught
    assert calls == 1
    assert trio.current_time() == 0.0


async def test_cancel_during_backoff_sleep_exits_at_once(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky(always(TimeoutError))
    policy = RetryPolicy(max_attempts=5, initial_delay=10.0, jitter=Jitter.NONE)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(retry, fn, policy=policy))
        await trio.sleep(3.0)  # retry is asleep, 7 s before its second attempt
        nursery.cancel_scope.cancel()
    assert nursery.cancel_scope.cancelled_caught
    assert fn.calls == [0.0]
    assert trio.current_time() == 3.0
    await trio.sleep(100)
    assert fn.calls == [0.0]


async def test_cancel_during_an_attempt_is_not_retried(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky(always(TimeoutError), duration=5.0)
    with trio.move_on_after(7.5) as scope:
        await retry(fn, policy=RetryPolicy(max_attempts=5, initial_delay=1.0, jitter=Jitter.NONE))
    assert scope.cancelled_caught
    assert fn.calls == [0.0, 6.0]
    assert trio.current_time() == 7.5


# --- ExceptionGroups -----------------------------------------------------------------------


async def test_exception_group_with_a_non_retryable_leaf_is_not_retried(
    autojump_clock: trio.abc.Clock,
) -> None:
    group = ExceptionGroup("g", [TimeoutError(), ExceptionGroup("inner", [ValueError()])])
    fn = Flaky([group])
    with pytest.raises(ExceptionGroup) as info:
        await retry(fn, policy=NO_JITTER)
    assert info.value is group
    assert fn.calls == [0.0]


async def test_exception_group_leaves_are_judged_by_retry_on(
    autojump_clock: trio.abc.Clock,
) -> None:
    policy = attrs.evolve(NO_JITTER, retry_on=(ConnectionError,))
    fn = Flaky([ExceptionGroup("g", [ConnectionResetError(), BrokenPipeError()])])
    assert await retry(fn, policy=policy) == "ok"
    assert fn.calls == [0.0, 1.0]
    fn = Flaky([ExceptionGroup("g", [ConnectionResetError(), TimeoutError()])])
    with pytest.raises(ExceptionGroup):
        await retry(fn, policy=policy)
    assert fn.calls == [1.0]


async def test_exception_group_of_transient_errors_is_retried_by_default(
    autojump_clock: trio.abc.Clock,
) -> None:
    fn = Flaky([ExceptionGroup("g", [TimeoutError(), ConnectionResetError()])])
    assert await retry(fn, policy=NO_JITTER) == "ok"
    assert fn.calls == [0.0, 1.0]


async def test_base_exception_group_is_never_retried(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky([BaseExceptionGroup("g", [TimeoutError(), KeyboardInterrupt()])])
    with pytest.raises(BaseExceptionGroup):
        await retry(fn, policy=RetryPolicy(retry_on=lambda e: True))
    assert fn.calls == [0.0]


# --- retry_on forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "retry_on",
    [(RuntimeError,), RuntimeError, lambda e: isinstance(e, RuntimeError)],
    ids=["tuple", "type", "predicate"],
)
async def test_retry_on_forms(autojump_clock: trio.abc.Clock, retry_on: object) -> None:
    policy = attrs.evolve(NO_JITTER, retry_on=retry_on)  # type: ignore[arg-type]
    fn = Flaky([RuntimeError()])
    assert await retry(fn, policy=policy) == "ok"
    assert len(fn.calls) == 2
    # TimeoutError is transient but this policy only retries RuntimeError.
    fn = Flaky([TimeoutError()])
    with pytest.raises(TimeoutError):
        await retry(fn, policy=policy)
    assert len(fn.calls) == 1


async def test_classifier_plugs_into_retry_on(autojump_clock: trio.abc.Clock) -> None:
    classifier = ErrorClassifier().with_rule(RuntimeError, ErrorKind.TRANSIENT)
    fn = Flaky([RuntimeError()])
    assert await retry(fn, policy=attrs.evolve(NO_JITTER, retry_on=classifier.is_transient))
    assert len(fn.calls) == 2


async def test_transient_error_marker_is_retried(autojump_clock: trio.abc.Clock) -> None:
    class Busy(TransientError):
        pass

    fn = Flaky([Busy(), Busy()])
    assert await retry(fn, policy=NO_JITTER) == "ok"
    assert fn.calls == [0.0, 1.0, 3.0]


# --- deadlines and timeout -----------------------------------------------------------------


async def test_gives_up_at_once_when_the_delay_would_pass_the_deadline(
    autojump_clock: trio.abc.Clock,
) -> None:
    fn = Flaky(always(TimeoutError))
    policy = RetryPolicy(max_attempts=5, initial_delay=10.0, jitter=Jitter.NONE)
    with (
        trio.move_on_after(5.0) as scope,
        capture_logs() as logs,
        pytest.raises(TimeoutError) as info,
    ):
        await retry(fn, policy=policy)
    assert not scope.cancelled_caught
    assert trio.current_time() == 0.0  # no sleep happened
    assert fn.calls == [0.0]
    assert info.value.__notes__ == [
        "trio_orch.retry: gave up on Flaky after 1 attempt: the next retry, in 10 s, "
        "would end past the deadline"
    ]
    assert [(e["event"], e["reason"], e["attempt"]) for e in logs] == [
        ("trio_orch.retry.gave_up", "deadline", 1)
    ]


async def test_retries_that_fit_before_the_deadline_still_happen(
    autojump_clock: trio.abc.Clock,
) -> None:
    fn = Flaky(always(TimeoutError))
    policy = RetryPolicy(max_attempts=10, initial_delay=1.0, jitter=Jitter.NONE)
    with trio.move_on_after(5.0):
        with pytest.raises(TimeoutError):
            await retry(fn, policy=policy)
    # Retries after 1 s and 2 s fit; the next one (4 s, at t=3) would end at 7 > 5.
    assert fn.calls == [0.0, 1.0, 3.0]
    assert trio.current_time() == 3.0


async def test_timeout_bounds_all_attempts_together(autojump_clock: trio.abc.Clock) -> None:
    first = TimeoutError("first")
    fn = Flaky([first, *always(TimeoutError)], duration=2.0)
    policy = RetryPolicy(max_attempts=10, initial_delay=1.0, jitter=Jitter.NONE, timeout=5.0)
    with pytest.raises(trio.TooSlowError) as info:
        await retry(fn, policy=policy)
    # attempt 1 runs 0-2, sleeps 1 s, attempt 2 runs from 3 and is cut off at 5.
    assert fn.calls == [0.0, 3.0]
    assert trio.current_time() == 5.0
    assert info.value.__cause__ is first
    assert str(info.value) == (
        "Flaky did not succeed within the retry timeout of 5.0 s (2 attempts started)"
    )


async def test_timeout_makes_retry_give_up_before_sleeping_past_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    fn = Flaky(always(TimeoutError))
    policy = RetryPolicy(max_attempts=10, initial_delay=1.0, jitter=Jitter.NONE, timeout=5.0)
    with pytest.raises(TimeoutError) as info:
        await retry(fn, policy=policy)
    assert type(info.value) is TimeoutError
    assert fn.calls == [0.0, 1.0, 3.0]
    assert trio.current_time() == 3.0


async def test_timeout_on_a_first_attempt_that_hangs(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky([], duration=100.0)
    with pytest.raises(trio.TooSlowError) as info:
        await retry(fn, policy=RetryPolicy(timeout=2.5))
    assert info.value.__cause__ is None
    assert trio.current_time() == 2.5


async def test_timeout_success_returns_the_value(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky([TimeoutError()])
    assert await retry(fn, policy=attrs.evolve(NO_JITTER, timeout=10.0)) == "ok"
    assert trio.current_time() == 1.0


async def test_no_timeout_opens_no_deadline(autojump_clock: trio.abc.Clock) -> None:
    seen: list[float] = []

    async def look() -> None:
        seen.append(trio.current_effective_deadline())

    await retry(look, policy=RetryPolicy(timeout=None))
    await retry(look, policy=RetryPolicy(timeout=math.inf))
    await retry(look, policy=RetryPolicy(timeout=4.0))
    assert seen == [math.inf, math.inf, 4.0]


async def test_an_outer_cancel_is_not_turned_into_too_slow(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky([], duration=100.0)
    with trio.move_on_after(1.0) as scope:
        await retry(fn, policy=RetryPolicy(timeout=5.0))
    assert scope.cancelled_caught
    assert trio.current_time() == 1.0


# --- backoff schedule ----------------------------------------------------------------------


def test_no_jitter_schedule_is_exact() -> None:
    policy = RetryPolicy(
        max_attempts=8, initial_delay=0.5, max_delay=10.0, multiplier=3.0, jitter=Jitter.NONE
    )
    assert list(policy.delays()) == [0.5, 1.5, 4.5, 10.0, 10.0, 10.0, 10.0]


def test_attempt_10000_is_exactly_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10_001, jitter=Jitter.NONE)
    assert policy.base_delay(10_000) == 30.0
    assert list(policy.delays())[-1] == 30.0
    huge = RetryPolicy(max_attempts=10_001, initial_delay=1e-300, max_delay=1e300, multiplier=1e10)
    assert huge.base_delay(10_000) == 1e300
    assert huge.base_delay(1_000_000_000) == 1e300
    tiny = RetryPolicy(initial_delay=5e-324, max_delay=1.0, multiplier=1.5)
    assert tiny.base_delay(10_000) == 1.0
    assert RetryPolicy(initial_delay=0.0, max_delay=0.0).base_delay(10_000) == 0.0
    assert RetryPolicy(multiplier=1.0).base_delay(10_000) == 1.0


def test_zero_initial_delay_never_sleeps_even_past_retry_1024() -> None:
    # Regression (issue 10, defect 4): the overflow guard was skipped for 0, so
    # 0 * 2.0 ** 1024 overflowed and the delay became max_delay.
    policy = RetryPolicy(max_attempts=5_000, initial_delay=0, jitter=Jitter.NONE)
    assert set(policy.delays()) == {0.0}
    assert policy.base_delay(1025) == 0.0
    assert policy.base_delay(10**400) == 0.0
    for jitter in Jitter:
        evolved = attrs.evolve(policy, jitter=jitter)
        assert set(evolved.delays(random.Random(3))) == {0.0}


async def test_zero_initial_delay_retries_at_once_after_many_failures(
    autojump_clock: trio.abc.Clock,
) -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 1_100:
            raise ConnectionError
        return "ok"

    policy = RetryPolicy(max_attempts=2_000, initial_delay=0, jitter=Jitter.NONE)
    assert await retry(flaky, policy=policy) == "ok"
    assert calls == 1_100
    assert trio.current_time() == 0.0


def test_initial_delay_above_the_default_cap_is_clamped_not_refused() -> None:
    # Regression (issue 10, defect 4): the default max_delay (30) rejected initial_delay=100.
    policy = RetryPolicy(max_attempts=4, initial_delay=100, jitter=Jitter.NONE)
    assert policy.max_delay == 30.0
    assert list(policy.delays()) == [30.0, 30.0, 30.0]
    explicit = RetryPolicy(max_attempts=3, initial_delay=5.0, max_delay=2.0, jitter=Jitter.NONE)
    assert list(explicit.delays()) == [2.0, 2.0]
    decorrelated = attrs.evolve(explicit, jitter=Jitter.DECORRELATED)
    assert list(decorrelated.delays(random.Random(1))) == [2.0, 2.0]


def test_policy_backoff_is_the_backoff_of_its_delay_fields() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0, multiplier=3.0, jitter=Jitter.EQUAL)
    assert policy.backoff == Backoff(
        initial_delay=0.5, max_delay=8.0, multiplier=3.0, jitter=Jitter.EQUAL
    )
    assert attrs.evolve(policy, max_delay=9.0).backoff.max_delay == 9.0
    schedule = list(itertools.islice(policy.backoff.delays(random.Random(7)), 2))
    assert list(policy.delays(random.Random(7))) == schedule


def _draws(policy: RetryPolicy) -> list[float]:
    return list(policy.delays(random.Random(1234)))


@pytest.mark.parametrize(
    ("jitter", "low", "high", "mean"),
    [
        (Jitter.NONE, 4.0, 4.0, 4.0),
        (Jitter.FULL, 0.0, 4.0, 2.0),
        (Jitter.EQUAL, 2.0, 4.0, 3.0),
        (Jitter.DECORRELATED, 4.0, 12.0, 8.0),
    ],
)
def test_jitter_distribution_of_the_first_delay(
    jitter: Jitter, low: float, high: float, mean: float
) -> None:
    policy = RetryPolicy(max_attempts=2, initial_delay=4.0, max_delay=100.0, jitter=jitter)
    rng = random.Random(1234)
    draws = [d for _ in range(10_000) for d in policy.delays(rng)]
    assert len(draws) == 10_000
    assert all(low <= d <= high for d in draws)
    assert statistics.fmean(draws) == pytest.approx(mean, rel=0.05)


@pytest.mark.parametrize(
    ("jitter", "low_fraction", "mean_fraction"),
    [(Jitter.FULL, 0.0, 0.5), (Jitter.EQUAL, 0.5, 0.75)],
)
def test_jitter_scales_with_every_base(
    jitter: Jitter, low_fraction: float, mean_fraction: float
) -> None:
    policy = RetryPolicy(max_attempts=7, initial_delay=1.0, max_delay=20.0, jitter=jitter)
    bases = [1.0, 2.0, 4.0, 8.0, 16.0, 20.0]
    rng = random.Random(99)
    columns: list[list[float]] = [[] for _ in bases]
    for _ in range(10_000):
        for column, delay in zip(columns, policy.delays(rng), strict=True):
            column.append(delay)
    for base, column in zip(bases, columns, strict=True):
        assert all(low_fraction * base <= d <= base for d in column)
        assert statistics.fmean(column) == pytest.approx(mean_fraction * base, rel=0.05)


def test_decorrelated_grows_from_the_previous_delay_and_respects_the_cap() -> None:
    policy = RetryPolicy(
        max_attempts=200, initial_delay=1.0, max_delay=50.0, jitter=Jitter.DECORRELATED
    )
    delays = _draws(policy)
    assert all(1.0 <= d <= 50.0 for d in delays)
    previous = 1.0
    for d in delays:
        assert d <= min(50.0, 3 * previous)
        previous = d
    assert 50.0 in delays  # it reaches the cap


def test_seeded_rng_makes_schedules_reproducible() -> None:
    policy = RetryPolicy(max_attempts=10)
    assert _draws(policy) == _draws(policy)
    random.seed(5)
    first = list(policy.delays())
    random.seed(5)
    assert list(policy.delays()) == first


@st.composite
def valid_policies(draw: st.DrawFn) -> RetryPolicy:
    initial = draw(st.floats(0.0, 1e6))
    return RetryPolicy(
        max_attempts=draw(st.integers(1, 60)),
        initial_delay=initial,
        max_delay=draw(st.floats(0.0, 1e300)),
        multiplier=draw(st.floats(1.0, 1e6)),
        jitter=draw(st.sampled_from(Jitter)),
    )


@settings(max_examples=300)
@given(policy=valid_policies(), seed=st.integers(0, 2**32))
def test_delays_are_bounded_and_counted(policy: RetryPolicy, seed: int) -> None:
    delays = list(policy.delays(random.Random(seed)))
    assert len(delays) == policy.max_attempts - 1
    assert all(0.0 <= d <= policy.max_delay for d in delays)
    assert all(isinstance(d, float) for d in delays)


# --- on_retry and logging ------------------------------------------------------------------


async def test_every_retry_is_logged(autojump_clock: trio.abc.Clock) -> None:
    errors: list[BaseException] = [TimeoutError("a"), TimeoutError("b"), TimeoutError("c")]
    fn = Flaky(list(errors))
    with capture_logs() as logs, pytest.raises(TimeoutError):
        await retry(fn, policy=NO_JITTER)
    assert logs == [
        {
            "event": "trio_orch.retry.scheduled",
            "log_level": "warning",
            "fn": "Flaky",
            "attempt": 1,
            "max_attempts": 3,
            "delay": 1.0,
            "error": "TimeoutError('a')",
        },
        {
            "event": "trio_orch.retry.scheduled",
            "log_level": "warning",
            "fn": "Flaky",
            "attempt": 2,
            "max_attempts": 3,
            "delay": 2.0,
            "error": "TimeoutError('b')",
        },
        {
            "event": "trio_orch.retry.gave_up",
            "log_level": "warning",
            "fn": "Flaky",
            "attempt": 3,
            "reason": "exhausted",
            "delay": 0.0,
            "error": "TimeoutError('c')",
        },
    ]


async def test_on_retry_is_called_before_each_sleep(autojump_clock: trio.abc.Clock) -> None:
    seen: list[tuple[float, RetryDetails]] = []
    first, second = TimeoutError(), TimeoutError()

    async def fetch(url: str) -> str:
        if len(seen) < 2:
            raise (first, second)[len(seen)]
        return url

    policy = attrs.evolve(
        NO_JITTER, on_retry=lambda details: seen.append((trio.current_time(), details))
    )
    assert await retry(fetch, "u", policy=policy) == "u"
    name = "test_on_retry_is_called_before_each_sleep.<locals>.fetch"
    assert seen == [
        (0.0, RetryDetails(name, 1, 3, 1.0, first)),
        (1.0, RetryDetails(name, 2, 3, 2.0, second)),
    ]


async def test_an_error_in_on_retry_propagates(autojump_clock: trio.abc.Clock) -> None:
    def broken(details: RetryDetails) -> None:
        raise RuntimeError("hook failed")

    fn = Flaky([TimeoutError()])
    with pytest.raises(RuntimeError, match=r"^hook failed$"):
        await retry(fn, policy=attrs.evolve(NO_JITTER, on_retry=broken))
    assert fn.calls == [0.0]


# --- retry_testing -------------------------------------------------------------------------


async def test_retry_testing_removes_backoff(autojump_clock: trio.abc.Clock) -> None:
    fn = Flaky([TimeoutError(), TimeoutError()])
    with retry_testing(), capture_logs() as logs:
        assert await retry(fn, policy=NO_JITTER) == "ok"
    assert fn.calls == [0.0, 0.0, 0.0]
    assert [e["delay"] for e in logs] == [0.0, 0.0]
    # ...and only inside the block.
    fn = Flaky([TimeoutError()])
    assert await retry(fn, policy=NO_JITTER) == "ok"
    assert fn.calls == [0.0, 1.0]


@pytest.mark.parametrize(
    ("attempts", "cap", "max_attempts", "calls"),
    [(None, False, 3, 3), (1, False, 3, 1), (5, False, 3, 5), (5, True, 3, 3), (2, True, 3, 2)],
)
async def test_retry_testing_attempts(
    autojump_clock: trio.abc.Clock, attempts: int | None, cap: bool, max_attempts: int, calls: int
) -> None:
    fn = Flaky(always(TimeoutError))
    with retry_testing(attempts=attempts, cap=cap), pytest.raises(TimeoutError) as info:
        await retry(fn, policy=RetryPolicy(max_attempts=max_attempts))
    assert len(fn.calls) == calls
    assert info.value.__notes__[-1].endswith(f"after {calls} attempt{'s' if calls > 1 else ''}")
    assert trio.current_time() == 0.0


async def test_retry_testing_reaches_child_tasks_but_not_outside(
    autojump_clock: trio.abc.Clock,
) -> None:
    inside, outside = Flaky([TimeoutError()]), Flaky([TimeoutError()])
    async with trio.open_nursery() as nursery:
        with retry_testing():
            nursery.start_soon(functools.partial(retry, inside, policy=NO_JITTER))
        nursery.start_soon(functools.partial(retry, outside, policy=NO_JITTER))
    assert inside.calls == [0.0, 0.0]
    assert outside.calls == [0.0, 1.0]


def test_retry_testing_bad_attempts() -> None:
    # The message names retry_testing's own argument, ``attempts``.
    with (
        pytest.raises(ValueError, match=r"^attempts must be >= 1, got 0$"),
        retry_testing(attempts=0),
    ):
        pass  # pragma: no cover
    with (
        pytest.raises(TypeError, match=r"^attempts must be an int, got True$"),
        retry_testing(attempts=True),
    ):
        pass  # pragma: no cover


# --- @retrying ------------------------------------------------------------------------------


async def test_retrying_decorator(autojump_clock: trio.abc.Clock) -> None:
    failures = [TimeoutError()]

    @retrying(NO_JITTER)
    async def fetch(url: str, *, suffix: str = "") -> str:
        """Fetch a URL."""
        if failures:
            raise failures.pop()
        return url + suffix

    assert await fetch("a", suffix="!") == "a!"
    assert trio.current_time() == 1.0
    assert fetch.__name__ == "fetch"
    assert fetch.__doc__ == "Fetch a URL."
    assert fetch.__wrapped__ is not None  # type: ignore[attr-defined]
    assert inspect.iscoroutinefunction(fetch)
    assert str(inspect.signature(fetch)) == "(url: 'str', *, suffix: 'str' = '') -> 'str'"


async def test_retrying_forms(autojump_clock: trio.abc.Clock) -> None:
    @retrying
    async def bare() -> int:
        return 1

    @retrying()
    async def empty() -> int:
        return 2

    assert await bare() == 1
    assert await empty() == 2


async def test_retrying_timeout_and_kwargs(autojump_clock: trio.abc.Clock) -> None:
    @retrying(RetryPolicy(timeout=3.0, initial_delay=1.0, jitter=Jitter.NONE, max_attempts=10))
    async def slow(*, seconds: float) -> None:
        await trio.sleep(seconds)
        raise TimeoutError

    with pytest.raises(trio.TooSlowError):
        await slow(seconds=1.5)
    assert trio.current_time() == 3.0  # attempt 2 started at 2.5 and was cut off


async def test_retrying_works_on_methods(autojump_clock: trio.abc.Clock) -> None:
    @attrs.define
    class Client:
        failures: int = 2
        calls: int = 0

        @retrying(NO_JITTER)
        async def get(self, key: str) -> str:
            """Get a key."""
            self.calls += 1
            if self.calls <= self.failures:
                raise ConnectionResetError
            return key.upper()

    client = Client()
    assert await client.get("k") == "K"
    assert client.calls == 3
    assert Client.get.__qualname__.endswith("Client.get")
    assert Client.get.__doc__ == "Get a key."
    with capture_logs() as logs:
        assert await Client(failures=1).get("x") == "X"
    assert logs[0]["fn"].endswith("Client.get")


def test_retrying_rejects_bad_policies() -> None:
    with pytest.raises(TypeError, match=r"^policy must be a RetryPolicy, got 3$"):
        retrying(3)  # type: ignore[call-overload]


# --- checkpoints ---------------------------------------------------------------------------


async def _instant() -> int:
    return 1


_decorated = retrying(_instant)
_timed = retrying(RetryPolicy(timeout=5.0))(_instant)


@pytest.mark.parametrize(
    "call",
    [
        lambda: retry(_instant),
        lambda: retry(_instant, policy=RetryPolicy(timeout=5.0)),
        _decorated,
        _timed,
    ],
    ids=["retry", "retry-timeout", "retrying", "retrying-timeout"],
)
async def test_fast_path_checkpoints(call: Callable[[], object]) -> None:
    with trio.testing.assert_checkpoints():
        assert await call() == 1  # type: ignore[misc]


async def test_retry_path_checkpoints_even_with_zero_delay() -> None:
    fn = Flaky([TimeoutError()])
    with retry_testing(), trio.testing.assert_checkpoints():
        await retry(fn, policy=NO_JITTER)


async def test_already_cancelled_caller_never_calls_fn() -> None:
    fn = Flaky([])
    with trio.CancelScope() as scope:
        scope.cancel()
        await retry(fn)
    assert fn.calls == []


# --- bad input -----------------------------------------------------------------------------

BAD: list[tuple[dict[str, object], type[Exception], str]] = [
    ({"max_attempts": 0}, ValueError, "max_attempts must be >= 1, got 0"),
    ({"max_attempts": -3}, ValueError, "max_attempts must be >= 1, got -3"),
    ({"max_attempts": 2.0}, TypeError, "max_attempts must be an int, got 2.0"),
    ({"max_attempts": True}, TypeError, "max_attempts must be an int, got True"),
    ({"initial_delay": -1}, ValueError, "initial_delay must be finite and >= 0, got -1"),
    ({"initial_delay": math.nan}, ValueError, "initial_delay must be finite and >= 0, got nan"),
    ({"initial_delay": math.inf}, ValueError, "initial_delay must be finite and >= 0, got inf"),
    ({"initial_delay": "1"}, TypeError, "initial_delay must be a number, got '1'"),
    ({"max_delay": -0.5}, ValueError, "max_delay must be finite and >= 0, got -0.5"),
    ({"max_delay": math.nan}, ValueError, "max_delay must be finite and >= 0, got nan"),
    ({"max_delay": math.inf}, ValueError, "max_delay must be finite and >= 0, got inf"),
    ({"max_delay": None}, TypeError, "max_delay must be a number, got None"),
    ({"multiplier": 0.5}, ValueError, "multiplier must be finite and >= 1, got 0.5"),
    ({"multiplier": math.nan}, ValueError, "multiplier must be finite and >= 1, got nan"),
    ({"multiplier": math.inf}, ValueError, "multiplier must be finite and >= 1, got inf"),
    ({"multiplier": "2"}, TypeError, "multiplier must be a number, got '2'"),
    ({"jitter": "full"}, TypeError, "jitter must be a Jitter, got 'full'"),
    (
        {"retry_on": 42},
        TypeError,
        "retry_on must be a predicate or a tuple of exception types, got 42",
    ),
    (
        {"retry_on": (ValueError, "x")},
        TypeError,
        "retry_on must be a predicate or a tuple of exception types, got (<class 'ValueError'>, 'x')",
    ),
    ({"timeout": 0}, ValueError, "timeout must be > 0, got 0"),
    ({"timeout": -1.0}, ValueError, "timeout must be > 0, got -1.0"),
    ({"timeout": math.nan}, ValueError, "timeout must be > 0, got nan"),
    ({"timeout": "5"}, TypeError, "timeout must be a number or None, got '5'"),
    ({"on_retry": 3}, TypeError, "on_retry must be callable or None, got 3"),
]


@pytest.mark.parametrize(("kwargs", "exc_type", "message"), BAD, ids=[m for *_, m in BAD])
def test_bad_policy_input(
    kwargs: dict[str, object], exc_type: type[Exception], message: str
) -> None:
    with pytest.raises(exc_type, match=f"^{re.escape(message)}$"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen_keyword_only_and_comparable() -> None:
    policy = RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.max_attempts = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        RetryPolicy(3)  # type: ignore[call-arg]
    assert RetryPolicy(max_attempts=3) == policy
    assert hash(RetryPolicy(max_attempts=3)) == hash(policy)
    assert attrs.evolve(policy, max_attempts=5).max_attempts == 5
    assert "max_attempts=3" in repr(policy)
    assert "_accepts" not in repr(policy)


def test_policy_defaults_match_the_contract() -> None:
    policy = RetryPolicy()
    assert (
        policy.max_attempts,
        policy.initial_delay,
        policy.max_delay,
        policy.multiplier,
        policy.jitter,
        policy.timeout,
        policy.on_retry,
    ) == (3, 1.0, 30.0, 2.0, Jitter.FULL, None, None)
    assert policy.should_retry(TimeoutError())
    assert not policy.should_retry(RuntimeError())


def test_should_retry_refuses_non_exceptions_whatever_retry_on_says() -> None:
    policy = RetryPolicy(retry_on=lambda e: True)
    assert not policy.should_retry(KeyboardInterrupt())
    assert not policy.should_retry(trio.Cancelled._create(source="explicit"))
    assert not policy.should_retry(BaseExceptionGroup("g", [SystemExit()]))
    assert policy.should_retry(ExceptionGroup("g", [RuntimeError()]))


async def test_logged_name_of_a_partial_is_the_function_name(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def fetch(url: str, *, retries: list[int]) -> str:
        if not retries:
            retries.append(1)
            raise TimeoutError
        return url

    with capture_logs() as logs:
        await retry(functools.partial(fetch, retries=[]), "u", policy=NO_JITTER)
    assert logs[0]["fn"].endswith("<locals>.fetch")


async def test_real_connection_refused_is_retried_until_the_server_listens() -> None:
    # End to end on 127.0.0.1: nobody listens on the port at first, so trio.open_tcp_stream
    # fails for real; on_retry starts a listener, and the retry connects.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

        def start_listening(details: RetryDetails) -> None:
            server.bind(("127.0.0.1", port))
            server.listen()

        policy = RetryPolicy(
            max_attempts=3, initial_delay=0.0, max_delay=0.0, on_retry=start_listening
        )
        with capture_logs() as logs:
            stream = await retry(trio.open_tcp_stream, "127.0.0.1", port, policy=policy)
        await stream.aclose()
    assert [e["event"] for e in logs] == ["trio_orch.retry.scheduled"]
    assert logs[0]["fn"] == "open_tcp_stream"
    # trio's "OSError('all attempts to connect to 127.0.0.1:PORT failed')": errno None, TRANSIENT.
    assert logs[0]["error"].startswith("OSError('all attempts to connect")
