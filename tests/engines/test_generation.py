"""GenerationOrchestrator: provider selection and its errors, retries, the timeout, middleware
order, progress stages, cancellation, and the background mode on a job queue."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from tests.faults import hang_then_fail_in_a_child
from trio_orch import (
    GenerationFailed,
    GenerationOrchestrator,
    GenerationRequest,
    GenerationResult,
    Jitter,
    JobStatus,
    Middleware,
    OrchError,
    PermanentError,
    PollState,
    PollStatus,
    Progress,
    Provider,
    ProviderNotFound,
    ProviderRegistry,
    RetryPolicy,
    TaskRegistry,
    TransientError,
    open_job_queue,
)
from trio_orch.engines._generation import STAGES
from trio_orch.testing import FakeProvider

FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.5, jitter=Jitter.NONE)


def request(feature: str = "text", provider_id: str | None = None) -> GenerationRequest:
    return GenerationRequest(feature, {"prompt": "a cat"}, "user-1", provider_id=provider_id)


def two_providers() -> tuple[ProviderRegistry, FakeProvider, FakeProvider]:
    text = FakeProvider("text-a", ["text"], latency=1.0)
    both = FakeProvider("multi", ["image", "text"], latency=2.0)
    return ProviderRegistry([text, both]), text, both


# --- selection ----------------------------------------------------------------------------


async def test_chooses_by_capability_or_by_id(autojump_clock: trio.abc.Clock) -> None:
    registry, text, both = two_providers()
    gen = GenerationOrchestrator(registry, poll_interval=0.5)
    by_feature = await gen.execute(request("text"))
    assert by_feature.provider_id == "text-a"  # the first registered that supports it
    assert by_feature.output == {
        "provider": "text-a",
        "feature": "text",
        "input": {"prompt": "a cat"},
    }
    assert by_feature.duration == 1.0
    assert by_feature.job_id == "text-a-1"
    assert by_feature.request == request("text")
    image = await gen.execute(request("image"))
    assert image.provider_id == "multi"
    by_id = await gen.execute(request("text", provider_id="multi"))
    assert by_id.provider_id == "multi"
    assert len(both.jobs) == 2
    assert len(text.jobs) == 1


def test_the_registry() -> None:
    registry, text, both = two_providers()
    assert registry.all() == [text, both]
    assert registry.for_feature("image") == [both]
    assert registry.for_feature("text") == [text, both]
    assert registry.supports("image")
    assert not registry.supports("video")
    assert registry.get("multi") is both
    assert len(registry) == 2
    assert repr(registry) == "<ProviderRegistry ['text-a', 'multi']>"
    assert repr(both) == "<FakeProvider 'multi' ['image', 'text']>"


async def test_provider_selection_errors(autojump_clock: trio.abc.Clock) -> None:
    registry, _, _ = two_providers()
    gen = GenerationOrchestrator(registry)
    with pytest.raises(
        ProviderNotFound, match=r"^no provider with id 'nope' \(registered: 'text-a', 'multi'\)$"
    ) as info:
        await gen.execute(request(provider_id="nope"))
    assert (info.value.provider_id, info.value.feature) == ("nope", None)
    assert isinstance(info.value, OrchError)
    assert isinstance(info.value, LookupError)
    with pytest.raises(
        ProviderNotFound,
        match=r"^provider 'text-a' does not support feature 'image' \(it supports: text\)$",
    ) as info:
        await gen.execute(request("image", provider_id="text-a"))
    assert (info.value.provider_id, info.value.feature) == ("text-a", "image")
    with pytest.raises(ProviderNotFound, match=r"^no provider supports feature 'video'$") as info:
        await gen.execute(request("video"))
    assert (info.value.provider_id, info.value.feature) == (None, "video")
    with pytest.raises(ProviderNotFound, match=r"\(registered: none\)$"):
        ProviderRegistry().get("x")


def test_register_refuses_duplicates_and_non_providers() -> None:
    registry = ProviderRegistry([FakeProvider("a")])
    with pytest.raises(
        ValueError, match=r"^provider id must be unique, got 'a' \(already registered\)$"
    ):
        registry.register(FakeProvider("a"))
    with pytest.raises(TypeError, match=r"^provider must be a Provider, got 'a'$"):
        registry.register("a")  # type: ignore[arg-type]

    class Nameless(Provider):
        async def submit(self, request: GenerationRequest) -> str:
            raise NotImplementedError

        async def poll(self, job_id: str) -> PollStatus:
            raise NotImplementedError

    with pytest.raises(ValueError, match=r"^provider id must be a non-empty str, got ''$"):
        registry.register(Nameless())
    assert len(registry) == 1


async def test_the_base_providers_cancel_is_a_checkpoint() -> None:
    class Minimal(Provider):
        id = "minimal"
        capabilities = frozenset({"text"})

        async def submit(self, request: GenerationRequest) -> str:
            raise NotImplementedError

        async def poll(self, job_id: str) -> PollStatus:
            raise NotImplementedError

    provider = Minimal()
    assert provider.supports("text")
    with trio.testing.assert_checkpoints():
        await provider.cancel("j")


# --- retries, failures, the timeout, cancellation -------------------------------------------


async def test_transient_submit_and_poll_errors_are_retried(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(
        latency=1.0, submit_errors=[TransientError("busy")], poll_errors=[TransientError("503")]
    )
    gen = GenerationOrchestrator(ProviderRegistry([provider]), retry=FAST_RETRY, poll_interval=1.0)
    result = await gen.execute(request())
    # submit fails at 0, succeeds at 0.5; poll fails at 0.5, succeeds at 1.0 (RUNNING),
    # then the grid tick at 1.5 finds the job done.
    assert result.duration == 1.5
    assert provider.jobs["fake-1"].polls == [0.5, 1.0, 1.5]


async def test_a_permanent_error_propagates_at_once(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(submit_errors=[PermanentError("quota exceeded")])
    gen = GenerationOrchestrator(ProviderRegistry([provider]), retry=FAST_RETRY)
    with pytest.raises(PermanentError, match=r"^quota exceeded$"):
        await gen.execute(request())
    assert trio.current_time() == 0.0


async def test_a_failed_job_raises_generation_failed(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(fail_jobs=1, failure="content filtered")
    gen = GenerationOrchestrator(ProviderRegistry([provider]), poll_interval=0.5)
    with pytest.raises(
        GenerationFailed, match=r"^provider 'fake' reported job 'fake-1' FAILED: content filtered$"
    ) as info:
        await gen.execute(request())
    error = info.value
    assert (error.provider_id, error.job_id, error.state, error.error) == (
        "fake",
        "fake-1",
        "FAILED",
        "content filtered",
    )
    assert len(provider.jobs) == 1  # not retried: the provider decided


async def test_the_timeout_raises_too_slow_and_cancels_the_job(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = FakeProvider(latency=10.0)
    seen: list[Exception] = []

    class Watch(Middleware):
        async def on_error(self, request: GenerationRequest, error: Exception) -> None:
            await trio.lowlevel.checkpoint()
            seen.append(error)

    gen = GenerationOrchestrator(ProviderRegistry([provider]), timeout=2.0, middleware=[Watch()])
    with pytest.raises(
        trio.TooSlowError, match=r"^generation of 'text' did not finish within 2 s$"
    ):
        await gen.execute(request())
    assert trio.current_time() == 2.0
    assert provider.jobs["fake-1"].cancelled
    assert len(seen) == 1
    assert isinstance(seen[0], trio.TooSlowError)


async def test_cancelling_execute_cancels_the_providers_job(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=10.0)
    seen: list[Exception] = []

    class Watch(Middleware):
        async def on_error(self, request: GenerationRequest, error: Exception) -> None:
            seen.append(error)  # pragma: no cover - never called for a cancel

    gen = GenerationOrchestrator(ProviderRegistry([provider]), middleware=[Watch()])
    with trio.move_on_after(1.5) as scope:
        await gen.execute(request())
    assert scope.cancelled_caught
    assert trio.current_time() == 1.5
    assert provider.jobs["fake-1"].cancelled
    assert seen == []


async def test_a_failing_provider_cancel_is_logged(autojump_clock: trio.abc.Clock) -> None:
    class Stubborn(FakeProvider):
        async def cancel(self, job_id: str) -> None:
            await trio.lowlevel.checkpoint()
            raise RuntimeError("cannot cancel")

    gen = GenerationOrchestrator(ProviderRegistry([Stubborn(latency=10)]))
    with capture_logs() as logs, trio.move_on_after(1):
        await gen.execute(request())
    assert [e["event"] for e in logs] == ["trio_orch.generation.cancel_failed"]
    assert logs[0]["error"] == "RuntimeError('cannot cancel')"


async def test_execute_checkpoints(autojump_clock: trio.abc.Clock) -> None:
    gen = GenerationOrchestrator(ProviderRegistry([FakeProvider(latency=0)]))
    with trio.testing.assert_checkpoints():
        await gen.execute(request())


# --- middleware ---------------------------------------------------------------------------


class Recording(Middleware):
    def __init__(self, name: str, log: list[str], *, fail_before: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail_before = fail_before

    async def before(self, request: GenerationRequest) -> GenerationRequest | None:
        await trio.lowlevel.checkpoint()
        self.log.append(f"before {self.name}")
        if self.fail_before:
            raise PermanentError(f"{self.name} refused")
        return None

    async def after(
        self, request: GenerationRequest, result: GenerationResult
    ) -> GenerationResult | None:
        await trio.lowlevel.checkpoint()
        self.log.append(f"after {self.name}")
        return None

    async def on_error(self, request: GenerationRequest, error: Exception) -> None:
        await trio.lowlevel.checkpoint()
        self.log.append(f"on_error {self.name}: {error}")


async def test_middleware_runs_in_list_order_and_unwinds_in_reverse(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    gen = GenerationOrchestrator(
        ProviderRegistry([FakeProvider()]),
        middleware=[Recording("m1", log), Recording("m2", log), Recording("m3", log)],
    )
    await gen.execute(request())
    assert log == ["before m1", "before m2", "before m3", "after m3", "after m2", "after m1"]


async def test_on_error_runs_in_reverse_for_the_middleware_that_was_entered(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []
    gen = GenerationOrchestrator(
        ProviderRegistry([FakeProvider()]),
        middleware=[
            Recording("m1", log),
            Recording("m2", log, fail_before=True),
            Recording("m3", log),
        ],
    )
    with pytest.raises(PermanentError, match=r"^m2 refused$"):
        await gen.execute(request())
    assert log == ["before m1", "before m2", "on_error m1: m2 refused"]

    log.clear()
    failing = GenerationOrchestrator(
        ProviderRegistry([FakeProvider(fail_jobs=1)]),
        middleware=[Recording("m1", log), Recording("m2", log)],
    )
    with pytest.raises(GenerationFailed):
        await failing.execute(request())
    assert log == [
        "before m1",
        "before m2",
        "on_error m2: provider 'fake' reported job 'fake-1' FAILED: simulated failure",
        "on_error m1: provider 'fake' reported job 'fake-1' FAILED: simulated failure",
    ]


async def test_middleware_may_replace_the_request_and_the_result(
    autojump_clock: trio.abc.Clock,
) -> None:
    class Route(Middleware):
        async def before(self, request: GenerationRequest) -> GenerationRequest:
            await trio.lowlevel.checkpoint()
            return GenerationRequest(
                request.feature, request.input, request.user_id, provider_id="b"
            )

    class Redact(Middleware):
        async def after(
            self, request: GenerationRequest, result: GenerationResult
        ) -> GenerationResult:
            await trio.lowlevel.checkpoint()
            return GenerationResult(
                request, result.provider_id, "[redacted]", result.duration, result.job_id
            )

    gen = GenerationOrchestrator(
        ProviderRegistry([FakeProvider("a"), FakeProvider("b")]), middleware=[Route(), Redact()]
    )
    result = await gen.execute(request())
    assert (result.provider_id, result.output, result.request.provider_id) == (
        "b",
        "[redacted]",
        "b",
    )


async def test_a_hook_returning_the_wrong_type_is_refused(autojump_clock: trio.abc.Clock) -> None:
    class Wrong(Middleware):
        async def before(self, request: GenerationRequest) -> Any:
            await trio.lowlevel.checkpoint()
            return "not a request"

    gen = GenerationOrchestrator(ProviderRegistry([FakeProvider()]), middleware=[Wrong()])
    with pytest.raises(
        TypeError,
        match=r"^middleware before must return a GenerationRequest or None, got 'not a request'$",
    ):
        await gen.execute(request())


async def test_a_failing_on_error_hook_is_logged_and_the_error_still_propagates(
    autojump_clock: trio.abc.Clock,
) -> None:
    class Broken(Middleware):
        async def on_error(self, request: GenerationRequest, error: Exception) -> None:
            await trio.lowlevel.checkpoint()
            raise RuntimeError("hook bug")

    gen = GenerationOrchestrator(
        ProviderRegistry([FakeProvider(fail_jobs=1)]), middleware=[Broken()]
    )
    with capture_logs() as logs, pytest.raises(GenerationFailed):
        await gen.execute(request())
    assert [e["event"] for e in logs] == ["trio_orch.generation.hook_failed"]
    assert logs[0]["hook"] == "Broken.on_error"


# --- progress -----------------------------------------------------------------------------


async def test_progress_goes_through_the_stages_in_order(autojump_clock: trio.abc.Clock) -> None:
    provider = FakeProvider(latency=2.0, queue_time=1.0)
    gen = GenerationOrchestrator(ProviderRegistry([provider]), poll_interval=0.5)
    reports: list[Progress] = []
    await gen.execute(request(), on_progress=reports.append)
    assert [(p.stage, p.percent) for p in reports] == [
        ("preparing", 0.0),
        ("submitting", 5.0),
        ("queued", 10.0),  # polls at 0 and 0.5 are QUEUED: reported once
        ("running", 10.0),  # 1.0: 0 %
        ("running", 30.0),  # 1.5: 25 %
        ("running", 50.0),
        ("running", 70.0),
        ("finalizing", 95.0),
        ("completed", 100.0),
    ]
    assert [name for name, _ in STAGES] == [
        "preparing",
        "submitting",
        "queued",
        "running",
        "finalizing",
        "completed",
    ]
    assert reports[1].message == "submitting to provider 'fake'"


async def test_progress_never_goes_back(autojump_clock: trio.abc.Clock) -> None:
    class Wobbly(FakeProvider):
        statuses = iter(
            [
                PollStatus(PollState.RUNNING, progress=50.0),
                PollStatus(PollState.QUEUED),
                PollStatus(PollState.RUNNING, progress=20.0),
                PollStatus(PollState.SUCCEEDED, result="ok"),
            ]
        )

        async def poll(self, job_id: str) -> PollStatus:
            await trio.lowlevel.checkpoint()
            return next(self.statuses)

    reports: list[Progress] = []

    async def on_progress(progress: Progress) -> None:
        await trio.lowlevel.checkpoint()
        reports.append(progress)

    gen = GenerationOrchestrator(ProviderRegistry([Wobbly()]), poll_interval=1.0)
    result = await gen.execute(request(), on_progress=on_progress)
    assert result.output == "ok"
    assert [(p.stage, p.percent) for p in reports] == [
        ("preparing", 0.0),
        ("submitting", 5.0),
        ("running", 50.0),
        ("finalizing", 95.0),
        ("completed", 100.0),
    ]


# --- background mode ----------------------------------------------------------------------


async def test_requests_run_as_jobs_on_a_queue(autojump_clock: trio.abc.Clock) -> None:
    gen = GenerationOrchestrator(ProviderRegistry([FakeProvider(latency=3.0)]), poll_interval=1.0)
    tasks = TaskRegistry()
    gen.register_task(tasks)
    assert tasks.names() == ("trio_orch.generate",)
    async with open_job_queue(tasks) as queue:
        job = await gen.enqueue(queue, request(), priority=2, key="cat-1")
        assert job.payload == request().to_data()
        done = await queue.wait(job.id)
    assert done.status is JobStatus.SUCCEEDED
    result = GenerationResult.from_data(done.result)
    assert result.request == request()
    assert (result.provider_id, result.duration, result.job_id) == ("fake", 3.0, "fake-1")
    assert result.output == {"provider": "fake", "feature": "text", "input": {"prompt": "a cat"}}


async def test_enqueue_needs_the_task_and_json_input() -> None:
    gen = GenerationOrchestrator(ProviderRegistry([FakeProvider()]))
    tasks = TaskRegistry()
    async with open_job_queue(tasks) as queue:
        with pytest.raises(RuntimeError, match=r"^call register_task\(tasks\) before enqueue\(\)"):
            await gen.enqueue(queue, request())
        gen.register_task(tasks)
        with pytest.raises(
            TypeError, match=r"^payload must be JSON data, got \{1\} at payload\['input'\]$"
        ):
            await gen.enqueue(queue, GenerationRequest("text", {1}))


# --- bad input ----------------------------------------------------------------------------


def test_bad_orchestrator_arguments() -> None:
    registry = ProviderRegistry()
    with pytest.raises(TypeError, match=r"^registry must be a ProviderRegistry, got \[\]$"):
        GenerationOrchestrator([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^retry must be a RetryPolicy or None, got 3$"):
        GenerationOrchestrator(registry, retry=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^timeout must be > 0, got 0$"):
        GenerationOrchestrator(registry, timeout=0)
    with pytest.raises(ValueError, match=r"^poll_interval must be finite and > 0, got 0$"):
        GenerationOrchestrator(registry, poll_interval=0)
    with pytest.raises(
        TypeError,
        match=r"^middleware\[0\] must have before, after and on_error methods \(subclass trio_orch.Middleware\), got 1$",
    ):
        GenerationOrchestrator(registry, middleware=[1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"^middleware must be a list of Middleware, got 5$"):
        GenerationOrchestrator(registry, middleware=5)  # type: ignore[arg-type]
    assert (
        repr(GenerationOrchestrator(registry))
        == "<GenerationOrchestrator providers=0 middleware=0>"
    )


async def test_bad_execute_arguments() -> None:
    gen = GenerationOrchestrator(ProviderRegistry([FakeProvider()]))
    with pytest.raises(TypeError, match=r"^request must be a GenerationRequest, got 'x'$"):
        await gen.execute("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^on_progress must be callable or None, got 1$"):
        await gen.execute(request(), on_progress=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^feature must not be empty, got ''$"):
        GenerationRequest("", None)


async def test_a_hanging_provider_cancel_is_given_up_after_5_s(
    autojump_clock: trio.abc.Clock,
) -> None:
    class Hanging(FakeProvider):
        async def cancel(self, job_id: str) -> None:
            await trio.sleep_forever()

    gen = GenerationOrchestrator(ProviderRegistry([Hanging(latency=10)]))
    with capture_logs() as logs, trio.move_on_after(1):
        await gen.execute(request())
    assert trio.current_time() == 6.0  # the shielded cancel is bounded
    assert [(e["event"], e["error"]) for e in logs] == [
        ("trio_orch.generation.cancel_failed", "timeout")
    ]


async def test_a_provider_cancel_that_times_out_with_a_group_is_logged_not_raised(
    autojump_clock: trio.abc.Clock,
) -> None:
    class Grouped(FakeProvider):
        async def cancel(self, job_id: str) -> None:
            await hang_then_fail_in_a_child()

    gen = GenerationOrchestrator(ProviderRegistry([Grouped(latency=10)]), timeout=1.0)
    with capture_logs() as logs, pytest.raises(trio.TooSlowError):
        await gen.execute(request())
    assert trio.current_time() == 6.0  # the timeout, then the bounded shielded cancel
    assert [(e["event"], e["error"]) for e in logs] == [
        (
            "trio_orch.generation.cancel_failed",
            "ExceptionGroup('Exceptions from Trio nursery', [ValueError('child cleanup failed')])",
        )
    ]


async def test_a_cancel_during_the_on_error_hooks_skips_none_of_them(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[str] = []

    class Release(Middleware):
        def __init__(self, name: str, *, hang: bool = False) -> None:
            self.name = name
            self.hang = hang

        async def on_error(self, request: GenerationRequest, error: Exception) -> None:
            await trio.sleep(1)  # e.g. give a reserved quota back to a remote service
            if self.hang:
                await trio.sleep_forever()
            log.append(f"released {self.name} at {trio.current_time():g}")

    provider = FakeProvider(latency=1.0, fail_jobs=1)
    gen = GenerationOrchestrator(
        ProviderRegistry([provider]),
        middleware=[Release("outer"), Release("hung", hang=True), Release("inner")],
    )
    with capture_logs() as logs, pytest.raises(GenerationFailed):  # the error, after the hooks
        with trio.move_on_after(1.5):  # cancelled while the first hook runs
            await gen.execute(request())
    assert log == ["released inner at 2", "released outer at 8"]  # hung: given up after 5 s
    assert [(e["event"], e["hook"], e["error"]) for e in logs] == [
        ("trio_orch.generation.hook_failed", "Release.on_error", "timeout")
    ]
