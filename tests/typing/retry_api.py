"""assert_type checks of the errors & retry API.  NOT meant to be executed: run mypy on it.

.venv/bin/mypy --strict tests/typing/retry_api.py
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, assert_type

import trio_orch
from trio_orch import (
    DEFAULT_CLASSIFIER,
    ErrorClassifier,
    ErrorKind,
    Jitter,
    RetryDetails,
    RetryPolicy,
    classify_error,
    is_permanent,
    is_transient,
    retry,
    retry_testing,
    retrying,
)


async def fetch(url: str, scale: float) -> bytes:
    return url.encode()


async def typed_calls() -> None:
    policy = RetryPolicy(max_attempts=5, jitter=Jitter.EQUAL, retry_on=(ConnectionError,))
    assert_type(await retry(fetch, "u", 1.0), bytes)
    assert_type(await retry(fetch, "u", 1.0, policy=policy), bytes)
    await retry(fetch, "u")  # type: ignore[arg-type]  # missing argument
    await retry(fetch, 1, 1.0)  # type: ignore[arg-type]  # wrong argument type
    await retrying(policy)(fetch)("u", "slow")  # type: ignore[arg-type]  # wrong type

    decorated = retrying(policy)(fetch)
    same: Callable[[str, float], Coroutine[Any, Any, bytes]] = decorated  # signature kept
    assert_type(same, Callable[[str, float], Coroutine[Any, Any, bytes]])
    assert_type(await decorated("u", scale=2.0), bytes)

    @retrying
    async def bare(n: int) -> int:
        return n

    assert_type(await bare(1), int)

    @retrying()
    async def empty(*, flag: bool = False) -> str:
        return ""

    assert_type(await empty(flag=True), str)


def typed_values() -> None:
    policy = RetryPolicy()
    assert_type(policy.delays(), Iterator[float])
    assert_type(policy.delays(random.Random(1)), Iterator[float])
    assert_type(policy.base_delay(3), float)
    assert_type(policy.should_retry(ValueError()), bool)
    assert_type(classify_error(ValueError()), ErrorKind)
    assert_type(is_transient(ValueError()), bool)
    assert_type(is_permanent(ValueError()), bool)
    classifier = DEFAULT_CLASSIFIER.with_rule(ValueError, ErrorKind.TRANSIENT)
    assert_type(classifier, ErrorClassifier)
    assert_type(classifier.with_rule(lambda e: None), ErrorClassifier)
    assert_type(classifier.with_status(404, kind=ErrorKind.TRANSIENT), ErrorClassifier)
    assert_type(classify_error(ValueError(), classifier=classifier), ErrorKind)

    def hook(details: RetryDetails) -> None:
        assert_type(details.error, Exception)
        assert_type(details.delay, float)

    RetryPolicy(on_retry=hook, retry_on=classifier.is_transient, timeout=10.0)
    with retry_testing(attempts=1, cap=True):
        pass
    jitter: Jitter = trio_orch.Jitter.FULL
    assert_type(RetryPolicy(jitter=jitter).jitter, Jitter)
