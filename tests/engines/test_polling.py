"""poll_job and open_job_poller on virtual time: the grid, no overlap, no burst, retries of
transient poll errors, the deadline (PollTimeout with the last status), cancellation."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing

from trio_orch import (
    GenerationRequest,
    Jitter,
    OrchError,
    PermanentError,
    PollResult,
    PollState,
    PollStatus,
    PollTimeout,
    RetryPolicy,
    TransientError,
    open_job_poller,
    poll_job,
)
from trio_orch.testing import FakeProvider

FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.25, jitter=Jitter.NONE)


async def submitted(provider: FakeProvider, feature: str = "text") -> str:
    return await provider.submit(GenerationRequest(feature, {"prompt": "hi"}, "u1"))


async def test_polls_on_a_grid_until_the_job_ends(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=3.5)
    job_id = await submitted(provider)
    statuses: list[PollStatus] = []
    result = await poll_job(provider, job_id, interval=1.0, on_status=statuses.append)
    assert trio.current_time() == 4.0
    assert provider.jobs[job_id].polls == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert isinstance(result, PollResult)
    assert result.ok
    assert result.attempts == 5
    assert result.result == {"provider": "fake", "feature": "text", "input": {"prompt": "hi"}}
    assert result.error is None
    assert result.status.state is PollState.SUCCEEDED
    assert [s.state for s in statuses] == [PollState.RUNNING] * 4 + [PollState.SUCCEEDED]
    assert [s.progress for s in statuses[:4]] == pytest.approx(
        [0.0, 100 / 3.5, 200 / 3.5, 300 / 3.5]
    )


async def test_a_failed_job_is_returned_not_raised(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=1.0, fail_jobs=1, failure="model overloaded")
    job_id = await submitted(provider)
    result = await poll_job(provider, job_id, interval=0.5)
    assert not result.ok
    assert result.status.state is PollState.FAILED
    assert result.error == "model overloaded"
    assert result.attempts == 3


async def test_polls_never_overlap_and_missed_ticks_are_not_burst(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = FakeProvider(latency=10.0, poll_duration=2.5)
    job_id = await submitted(provider)
    result = await poll_job(provider, job_id, interval=1.0)
    polls = provider.jobs[job_id].polls
    assert polls == [0.0, 3.0, 6.0, 9.0]  # each overran 2.5 ticks: 1, 2 / 4, 5 / 7, 8 skipped
    assert provider.max_polling == 1
    assert all(b >= a + 2.5 for a, b in itertools.pairwise(polls))
    assert result.ok
    assert trio.current_time() == 11.5


async def test_a_poll_that_ends_on_a_tick_polls_again_at_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = FakeProvider(latency=2.5, poll_duration=1.0)
    job_id = await submitted(provider)
    await poll_job(provider, job_id, interval=1.0)
    assert provider.jobs[job_id].polls == [0.0, 1.0, 2.0]


async def test_transient_poll_errors_go_through_the_retry_policy(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = FakeProvider(latency=1.5, poll_errors=[TransientError("503"), TransientError("503")])
    job_id = await submitted(provider)
    result = await poll_job(provider, job_id, interval=1.0, retry=FAST_RETRY)
    # 0: fails, 0.25: fails, 0.75: RUNNING; the next tick on the grid is 1.0, then 2.0.
    assert provider.jobs[job_id].polls == [0.0, 0.25, 0.75, 1.0, 2.0]
    assert result.attempts == 3
    assert result.ok


async def test_a_permanent_poll_error_propagates_at_once(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(poll_errors=[PermanentError("gone")])
    job_id = await submitted(provider)
    with pytest.raises(PermanentError, match=r"^gone$"):
        await poll_job(provider, job_id, retry=FAST_RETRY)
    assert trio.current_time() == 0.0
    with pytest.raises(KeyError):
        await poll_job(provider, "unknown")


async def test_the_deadline_raises_poll_timeout_with_the_last_status(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = FakeProvider(latency=10.0)
    job_id = await submitted(provider)
    with pytest.raises(PollTimeout) as info:
        await poll_job(provider, job_id, interval=1.0, timeout=2.5)
    assert trio.current_time() == 2.5
    error = info.value
    assert isinstance(error, trio.TooSlowError)
    assert isinstance(error, OrchError)
    assert error.last_status == PollStatus(PollState.RUNNING, progress=20.0)
    assert (error.job_id, error.attempts) == (job_id, 3)
    assert str(error) == f"job {job_id!r} did not end within 2.5 s (last state: RUNNING)"
    assert not provider.jobs[job_id].cancelled  # polling only watches


async def test_a_deadline_before_any_poll_returned(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(poll_duration=5.0)
    job_id = await submitted(provider)
    with pytest.raises(PollTimeout, match=r"\(last state: unknown\)$") as info:
        await poll_job(provider, job_id, timeout=1.0)
    assert info.value.last_status is None
    assert info.value.attempts == 0


async def test_max_attempts_bounds_the_polls(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=10.0)
    job_id = await submitted(provider)
    with pytest.raises(
        PollTimeout, match=r"^job 'fake-1' did not end within 2 polls \(last state: RUNNING\)$"
    ) as info:
        await poll_job(provider, job_id, interval=1.0, max_attempts=2)
    assert trio.current_time() == 1.0
    assert info.value.attempts == 2


async def test_a_cancel_exits_at_once(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=10.0, poll_duration=0.75)
    job_id = await submitted(provider)
    with trio.move_on_after(1.5) as scope:
        await poll_job(provider, job_id, interval=1.0, timeout=100)
    assert scope.cancelled_caught
    assert trio.current_time() == 1.5
    assert provider.polling == 0
    assert not provider.jobs[job_id].cancelled


async def test_on_status_may_be_async(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=1.0)
    job_id = await submitted(provider)
    seen: list[float] = []

    async def on_status(status: PollStatus) -> None:
        await trio.sleep(0.1)
        seen.append(trio.current_time())

    await poll_job(provider, job_id, interval=1.0, on_status=on_status)
    assert seen == [0.1, 1.1]


async def test_poll_job_checkpoints(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=0.0)
    job_id = await submitted(provider)
    with trio.testing.assert_checkpoints():
        await poll_job(provider, job_id)


async def test_poll_must_return_a_poll_status() -> None:
    class Broken:
        async def poll(self, job_id: str) -> Any:
            await trio.lowlevel.checkpoint()
            return "done"

    with pytest.raises(TypeError, match=r"^Broken.poll must return a PollStatus, got 'done'$"):
        await poll_job(Broken(), "j")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"interval": 0}, ValueError, r"^interval must be finite and > 0, got 0$"),
        ({"max_attempts": 0}, ValueError, r"^max_attempts must be >= 1, got 0$"),
        ({"timeout": -1}, ValueError, r"^timeout must be > 0, got -1$"),
        ({"retry": "x"}, TypeError, r"^retry must be a RetryPolicy or None, got 'x'$"),
        ({"on_status": 3}, TypeError, r"^on_status must be callable or None, got 3$"),
    ],
)
async def test_bad_poll_arguments(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await poll_job(FakeProvider(), "j", **kwargs)
    with pytest.raises(ValueError, match=r"^job_id must not be empty, got ''$"):
        await poll_job(FakeProvider(), "")


def test_poll_status_checks_its_fields() -> None:
    with pytest.raises(TypeError, match=r"^state must be a PollState, got 'done'$"):
        PollStatus("done")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^progress must be between 0 and 100, got 101$"):
        PollStatus(PollState.RUNNING, progress=101)
    with pytest.raises(TypeError, match=r"^progress must be a number or None, got '5'$"):
        PollStatus(PollState.RUNNING, progress="5")  # type: ignore[arg-type]
    assert PollState.CANCELLED.finished
    assert not PollState.QUEUED.finished


# --- open_job_poller ----------------------------------------------------------------------


async def test_the_poller_reports_by_callbacks_and_the_block_waits(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = FakeProvider(latency=2.0, queue_time=1.0)
    job_id = await submitted(provider)
    progress: list[tuple[PollState, float | None]] = []
    completed: list[PollResult] = []

    async def on_complete(result: PollResult) -> None:
        await trio.lowlevel.checkpoint()
        completed.append(result)

    async with open_job_poller(
        provider,
        job_id,
        interval=1.0,
        on_progress=lambda s: progress.append((s.state, s.progress)),
        on_complete=on_complete,
    ) as poller:
        assert "polling" in repr(poller)
        assert poller.job_id == job_id
        await trio.sleep(1.5)
        assert poller.status == PollStatus(PollState.RUNNING, progress=0.0)
        assert (poller.attempts, poller.result, poller.done) == (2, None, False)
        result = await poller.wait()
    assert trio.current_time() == 3.0
    assert poller.done
    assert result is not None
    assert result.ok
    assert poller.result == result
    assert completed == [result]
    assert progress == [
        (PollState.QUEUED, 0.0),
        (PollState.RUNNING, 0.0),
        (PollState.RUNNING, 50.0),
    ]


async def test_the_poller_hands_its_error_to_on_error(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=10.0)
    job_id = await submitted(provider)
    errors: list[Exception] = []
    async with open_job_poller(provider, job_id, timeout=2.0, on_error=errors.append) as poller:
        with pytest.raises(PollTimeout):
            await poller.wait()
    assert trio.current_time() == 2.0
    assert len(errors) == 1
    assert isinstance(errors[0], PollTimeout)


async def test_without_on_error_the_error_leaves_the_block(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=10.0)
    job_id = await submitted(provider)
    with pytest.raises(PollTimeout):
        async with open_job_poller(provider, job_id, max_attempts=3):
            await trio.sleep_forever()
    assert trio.current_time() == 2.0


async def test_poller_cancel_stops_polling(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=10.0)
    job_id = await submitted(provider)
    async with open_job_poller(provider, job_id) as poller:
        await trio.sleep(2.5)
        poller.cancel()
        assert await poller.wait() is None
    assert trio.current_time() == 2.5
    assert poller.done
    assert "done" in repr(poller)
    assert len(provider.jobs[job_id].polls) == 3
    assert not provider.jobs[job_id].cancelled


async def test_cancelling_the_poller_block_stops_at_once(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=10.0)
    job_id = await submitted(provider)
    with trio.move_on_after(1.25):
        async with open_job_poller(provider, job_id):
            pass
    assert trio.current_time() == 1.25


async def test_bad_poller_arguments() -> None:
    with pytest.raises(TypeError, match=r"^on_complete must be callable or None, got 1$"):
        async with open_job_poller(FakeProvider(), "j", on_complete=1):  # type: ignore[arg-type]
            pass  # pragma: no cover
    with pytest.raises(ValueError, match=r"^interval must be finite and > 0, got -1$"):
        async with open_job_poller(FakeProvider(), "j", interval=-1):
            pass  # pragma: no cover


async def test_poller_wait_and_the_fake_provider_checkpoint_on_every_path(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = FakeProvider(latency=0.0)
    with trio.testing.assert_checkpoints():
        job_id = await provider.submit(GenerationRequest("text", 1))
    async with open_job_poller(provider, job_id) as poller:
        with trio.testing.assert_checkpoints():
            assert await poller.wait() is not None  # waits
        with trio.testing.assert_checkpoints():
            assert await poller.wait() is not None  # already done: still a checkpoint
    for call in (provider.poll(job_id), provider.cancel(job_id), provider.cancel("unknown")):
        with trio.testing.assert_checkpoints():
            await call
