"""Backoff: the one delay schedule behind RetryPolicy, reconnects and restarts."""

from __future__ import annotations

import itertools
import math
import random
import re

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trio_orch.primitives
from trio_orch import Backoff, Jitter
from trio_orch.primitives._retry import Jitter as OldHomeJitter


def _take(backoff: Backoff, count: int, seed: int = 1) -> list[float]:
    return list(itertools.islice(backoff.delays(random.Random(seed)), count))


def test_defaults_follow_the_contract() -> None:
    backoff = Backoff()
    assert (backoff.initial_delay, backoff.max_delay, backoff.multiplier, backoff.jitter) == (
        1.0,
        30.0,
        2.0,
        Jitter.FULL,
    )
    assert trio_orch.primitives.Backoff is Backoff
    assert OldHomeJitter is Jitter


def test_exact_schedule_without_jitter() -> None:
    backoff = Backoff(initial_delay=0.5, max_delay=10.0, multiplier=3.0, jitter=Jitter.NONE)
    assert _take(backoff, 7) == [0.5, 1.5, 4.5, 10.0, 10.0, 10.0, 10.0]
    assert [backoff.delay(n) for n in range(1, 8)] == _take(backoff, 7)
    assert [backoff.base_delay(n) for n in range(1, 5)] == [0.5, 1.5, 4.5, 10.0]


def test_delays_is_infinite_and_restarts_on_every_call() -> None:
    backoff = Backoff(jitter=Jitter.NONE)
    assert _take(backoff, 100_000)[-1] == 30.0
    assert _take(backoff, 3) == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("n", [1, 2, 1024, 1025, 10_000, 10**400])
@pytest.mark.parametrize("jitter", list(Jitter))
def test_zero_initial_delay_is_zero_for_every_n(n: int, jitter: Jitter) -> None:
    backoff = Backoff(initial_delay=0.0, max_delay=30.0, jitter=jitter)
    assert backoff.delay(n, rng=random.Random(0)) == 0.0
    assert backoff.base_delay(n) == 0.0


def test_huge_n_is_the_cap_without_overflow() -> None:
    assert Backoff().base_delay(10**400) == 30.0
    huge = Backoff(initial_delay=1e-300, max_delay=1e300, multiplier=1e10)
    assert huge.base_delay(10_000) == 1e300
    assert huge.base_delay(10**12) == 1e300
    tiny = Backoff(initial_delay=5e-324, max_delay=1.0, multiplier=1.5)
    assert tiny.base_delay(10_000) == 1.0
    assert tiny.base_delay(10**400) == 1.0
    assert Backoff(multiplier=1.0).base_delay(10**400) == 1.0


def test_initial_delay_above_max_delay_is_clamped() -> None:
    backoff = Backoff(initial_delay=100.0, jitter=Jitter.NONE)
    assert _take(backoff, 3) == [30.0, 30.0, 30.0]
    for jitter in (Jitter.FULL, Jitter.EQUAL, Jitter.DECORRELATED):
        delays = _take(attrs.evolve(backoff, jitter=jitter), 50)
        assert all(0.0 <= d <= 30.0 for d in delays)


def test_decorrelated_uses_the_previous_delay() -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=50.0, jitter=Jitter.DECORRELATED)
    rng = random.Random(4)
    first = backoff.delay(1, rng=rng)
    assert 1.0 <= first <= 3.0
    assert 1.0 <= backoff.delay(2, previous=10.0, rng=rng) <= 30.0
    assert backoff.delay(9, previous=1e308, rng=rng) == 50.0  # 3 * previous overflows
    chain = _take(backoff, 200, seed=8)
    previous = 1.0
    for d in chain:
        assert 1.0 <= d <= min(50.0, 3 * previous)
        previous = d
    # delay(n, previous=...) draws exactly what delays() draws for the same rng state.
    rng_a, rng_b = random.Random(8), random.Random(8)
    replay: list[float] = []
    previous_delay: float | None = None
    for n in range(1, 6):
        previous_delay = backoff.delay(n, previous=previous_delay, rng=rng_a)
        replay.append(previous_delay)
    assert replay == list(itertools.islice(backoff.delays(rng_b), 5))


def test_jittered_delays_match_delays_drawn_one_by_one() -> None:
    for jitter in (Jitter.FULL, Jitter.EQUAL):
        backoff = Backoff(initial_delay=0.25, max_delay=4.0, jitter=jitter)
        rng = random.Random(11)
        one_by_one = [backoff.delay(n, rng=rng) for n in range(1, 10)]
        assert one_by_one == _take(backoff, 9, seed=11)


def test_unseeded_uses_the_random_module() -> None:
    backoff = Backoff()
    random.seed(5)
    first = [backoff.delay(1), *itertools.islice(backoff.delays(), 4)]
    random.seed(5)
    assert [backoff.delay(1), *itertools.islice(backoff.delays(), 4)] == first


@settings(max_examples=300)
@given(
    initial=st.floats(0.0, 1e6),
    cap=st.floats(0.0, 1e300),
    multiplier=st.floats(1.0, 1e6),
    jitter=st.sampled_from(Jitter),
    seed=st.integers(0, 2**32),
)
def test_every_delay_is_a_float_in_zero_to_cap(
    initial: float, cap: float, multiplier: float, jitter: Jitter, seed: int
) -> None:
    backoff = Backoff(initial_delay=initial, max_delay=cap, multiplier=multiplier, jitter=jitter)
    delays = _take(backoff, 60, seed)
    assert all(isinstance(d, float) and 0.0 <= d <= cap for d in delays)
    if jitter is Jitter.NONE:
        expected = [min(cap, _power(initial, multiplier, n - 1)) for n in range(1, 61)]
        assert delays == pytest.approx(expected, rel=1e-9)


def _power(initial: float, multiplier: float, exponent: int) -> float:
    try:
        return initial * multiplier**exponent
    except OverflowError:
        return 0.0 if initial == 0.0 else math.inf


BAD: list[tuple[dict[str, object], type[Exception], str]] = [
    ({"initial_delay": -1}, ValueError, "initial_delay must be finite and >= 0, got -1"),
    ({"initial_delay": math.inf}, ValueError, "initial_delay must be finite and >= 0, got inf"),
    ({"max_delay": math.nan}, ValueError, "max_delay must be finite and >= 0, got nan"),
    ({"max_delay": "1"}, TypeError, "max_delay must be a number, got '1'"),
    ({"multiplier": 0.5}, ValueError, "multiplier must be finite and >= 1, got 0.5"),
    ({"jitter": "full"}, TypeError, "jitter must be a Jitter, got 'full'"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD)
def test_bad_arguments_are_refused(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"^{re.escape(message)}$"):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_bad_delay_arguments_are_refused() -> None:
    backoff = Backoff()
    with pytest.raises(ValueError, match=r"^n must be >= 1, got 0$"):
        backoff.delay(0)
    with pytest.raises(TypeError, match=r"^n must be an int, got 1\.0$"):
        backoff.delay(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^previous must be finite and >= 0, got -1\.0$"):
        backoff.delay(2, previous=-1.0)
    with pytest.raises(ValueError, match=r"^n must be >= 1, got 0$"):
        backoff.base_delay(0)


def test_frozen_and_keyword_only() -> None:
    backoff = Backoff()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        backoff.max_delay = 3.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        Backoff(1.0)  # type: ignore[call-arg]
    assert Backoff(max_delay=3) == Backoff(max_delay=3.0)
    assert hash(Backoff()) == hash(Backoff())
    assert "max_delay=30.0" in repr(Backoff())
    assert "_cap" not in repr(Backoff())
