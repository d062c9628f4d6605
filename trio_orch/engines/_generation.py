"""Generation: providers chosen by capability, long-running jobs polled to completion, middleware.

:class:`GenerationOrchestrator` runs one :class:`GenerationRequest` through its middleware's
``before`` hooks (in list order), chooses a :class:`Provider` (by ``provider_id``, or the
first registered one that supports the request's ``feature``), submits the job and polls it
with :func:`~trio_orch.poll_job` until it ends, then runs the ``after`` hooks (in reverse
order).  Transient errors of ``submit`` and ``poll`` go through the retry policy; a failure
runs the ``on_error`` hooks (in reverse order) and propagates.  Progress is reported in
stages (:data:`STAGES`).

In background mode (:meth:`GenerationOrchestrator.register_task` and
:meth:`~GenerationOrchestrator.enqueue`) requests run as jobs on a
:class:`~trio_orch.JobQueue`.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, Final, final

import attrs
import trio

from trio_orch._exceptions import GenerationFailed, ProviderNotFound
from trio_orch._log import get_logger
from trio_orch._shielded import Cleaned, run_shielded
from trio_orch._validate import (
    check_callable,
    check_instance,
    check_nonempty_str,
    check_number,
)
from trio_orch.engines._polling import PollState, PollStatus, poll_job
from trio_orch.primitives import RetryPolicy, retry

if TYPE_CHECKING:
    from collections.abc import Callable

    from trio_orch.engines._jobs_model import Job
    from trio_orch.engines._jobs_queue import JobQueue
    from trio_orch.engines._jobs_registry import TaskRegistry

__all__ = [
    "STAGES",
    "GenerationOrchestrator",
    "GenerationRequest",
    "GenerationResult",
    "Middleware",
    "Progress",
    "Provider",
    "ProviderRegistry",
]

_logger = get_logger("generation")

#: The progress stages of :meth:`GenerationOrchestrator.execute`, in order, with the percent
#: each starts at.  ``running`` goes from 10 to 90 as the provider reports its progress.
STAGES: Final = (
    ("preparing", 0.0),
    ("submitting", 5.0),
    ("queued", 10.0),
    ("running", 10.0),
    ("finalizing", 95.0),
    ("completed", 100.0),
)
_STAGE_INDEX = {name: i for i, (name, _) in enumerate(STAGES)}
_START = dict(STAGES)

#: Seconds the provider's ``cancel`` (and each ``on_error`` hook) may take, shielded, after
#: execute was cancelled or failed.
_CANCEL_TIMEOUT = 5.0


# --- values -------------------------------------------------------------------------------


@final
@attrs.frozen
class GenerationRequest:
    """One generation to run.

    Attributes:
        feature: the capability needed (``"text"``, ``"image"``, ...).
        input: what to generate from (JSON data in background mode).
        user_id: who asked (for middleware: quotas, audit).
        provider_id: a provider to use; ``None``: the first that supports ``feature``.
    """

    feature: str = attrs.field(validator=lambda _i, _a, v: check_nonempty_str("feature", v))
    input: Any
    user_id: str | None = None
    provider_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        """This request as a JSON-ready dict (for a job payload)."""
        return {
            "feature": self.feature,
            "input": self.input,
            "user_id": self.user_id,
            "provider_id": self.provider_id,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> GenerationRequest:
        """The request :meth:`to_data` made."""
        return cls(data["feature"], data["input"], data.get("user_id"), data.get("provider_id"))


@final
@attrs.frozen
class GenerationResult:
    """What :meth:`GenerationOrchestrator.execute` returns.

    Attributes:
        request: the request as the ``before`` hooks left it.
        provider_id: the provider that ran it.
        output: the provider's result.
        duration: seconds from the call to the end, on Trio's clock.
        job_id: the provider's job id.
    """

    request: GenerationRequest
    provider_id: str
    output: Any
    duration: float
    job_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        """This result as a JSON-ready dict (a background job's result)."""
        return {
            "request": self.request.to_data(),
            "provider_id": self.provider_id,
            "output": self.output,
            "duration": self.duration,
            "job_id": self.job_id,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> GenerationResult:
        """The result :meth:`to_data` made (e.g. ``GenerationResult.from_data(job.result)``)."""
        return cls(
            GenerationRequest.from_data(data["request"]),
            data["provider_id"],
            data["output"],
            data["duration"],
            data.get("job_id"),
        )


@final
@attrs.frozen
class Progress:
    """A progress report of :meth:`GenerationOrchestrator.execute` (to ``on_progress``).

    Attributes:
        stage: one of the :data:`STAGES` names, never going back.
        percent: 0 to 100, never going down.
        message: a short human-readable note.
    """

    stage: str
    percent: float
    message: str = ""


# --- providers ----------------------------------------------------------------------------


class Provider(abc.ABC):
    """Base class of a generation backend: subclass it.

    Set ``id`` and ``capabilities`` (class attributes or in ``__init__``) and implement
    :meth:`submit` and :meth:`poll`; override :meth:`cancel` if the backend can cancel.

    Attributes:
        id: the provider's unique id.
        capabilities: the features it supports.
    """

    id: str = ""
    capabilities: Collection[str] = frozenset()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r} {sorted(self.capabilities)}>"

    def supports(self, feature: str) -> bool:
        """Whether ``feature`` is one of :attr:`capabilities`."""
        return feature in self.capabilities

    @abc.abstractmethod
    async def submit(self, request: GenerationRequest) -> str:
        """Start a job for ``request``; return the backend's job id."""

    @abc.abstractmethod
    async def poll(self, job_id: str) -> PollStatus:
        """Return the job's current :class:`~trio_orch.PollStatus`."""

    async def cancel(self, job_id: str) -> None:
        """Cancel the job, if the backend can; the default does nothing but checkpoint."""
        await trio.lowlevel.checkpoint()


@final
class ProviderRegistry:
    """The providers a :class:`GenerationOrchestrator` chooses from, in registration order."""

    def __init__(self, providers: Iterable[Provider] = ()) -> None:
        self._providers: dict[str, Provider] = {}
        for provider in providers:
            self.register(provider)

    def __repr__(self) -> str:
        return f"<ProviderRegistry {list(self._providers)}>"

    def __len__(self) -> int:
        return len(self._providers)

    def register(self, provider: Provider) -> Provider:
        """Add ``provider``; return it.

        Raises:
            TypeError: ``provider`` is not a :class:`Provider`.
            ValueError: its id is empty or already registered.
        """
        check_instance("provider", provider, Provider, "a Provider")  # type: ignore[type-abstract]  # isinstance only
        provider_id = provider.id
        if not isinstance(provider_id, str) or not provider_id:
            msg = f"provider id must be a non-empty str, got {provider_id!r}"
            raise ValueError(msg)
        if provider_id in self._providers:
            msg = f"provider id must be unique, got {provider_id!r} (already registered)"
            raise ValueError(msg)
        self._providers[provider_id] = provider
        return provider

    def get(self, provider_id: str) -> Provider:
        """The provider with this id.

        Raises:
            ProviderNotFound: no provider has this id (the message lists the ids).
        """
        try:
            return self._providers[provider_id]
        except KeyError:
            known = ", ".join(repr(p) for p in self._providers) or "none"
            msg = f"no provider with id {provider_id!r} (registered: {known})"
            raise ProviderNotFound(msg, provider_id=provider_id, feature=None) from None

    def all(self) -> list[Provider]:
        """Every provider, in registration order."""
        return list(self._providers.values())

    def for_feature(self, feature: str) -> list[Provider]:
        """The providers that support ``feature``, in registration order."""
        return [p for p in self._providers.values() if p.supports(feature)]

    def supports(self, feature: str) -> bool:
        """Whether any provider supports ``feature``."""
        return any(p.supports(feature) for p in self._providers.values())

    def choose(self, request: GenerationRequest) -> Provider:
        """The provider for ``request``: its ``provider_id``, else the first for its feature.

        Raises:
            ProviderNotFound: the id is unknown, that provider lacks the feature, or no
                provider supports the feature.
        """
        feature = request.feature
        if request.provider_id is not None:
            provider = self.get(request.provider_id)
            if not provider.supports(feature):
                msg = (
                    f"provider {provider.id!r} does not support feature {feature!r} "
                    f"(it supports: {', '.join(sorted(provider.capabilities)) or 'nothing'})"
                )
                raise ProviderNotFound(msg, provider_id=provider.id, feature=feature)
            return provider
        for provider in self._providers.values():
            if provider.supports(feature):
                return provider
        msg = f"no provider supports feature {feature!r}"
        raise ProviderNotFound(msg, provider_id=None, feature=feature)


# --- middleware ---------------------------------------------------------------------------


class Middleware:
    """Base class of generation middleware: override the hooks you need.

    ``before`` hooks run in list order before the provider is chosen (returning a new
    :class:`GenerationRequest` replaces the request); ``after`` hooks run in reverse order
    once the job succeeded (returning a new :class:`GenerationResult` replaces it);
    ``on_error`` hooks run in reverse order when ``execute`` fails after their ``before``
    returned (they observe; the error still propagates).  Hooks are async.
    """

    async def before(self, request: GenerationRequest) -> GenerationRequest | None:
        """Called before the provider is chosen; return a new request or ``None``."""
        await trio.lowlevel.checkpoint()
        return None

    async def after(
        self, request: GenerationRequest, result: GenerationResult
    ) -> GenerationResult | None:
        """Called after the job succeeded; return a new result or ``None``."""
        await trio.lowlevel.checkpoint()
        return None

    async def on_error(self, request: GenerationRequest, error: Exception) -> None:
        """Called when ``execute`` fails (not for ``trio.Cancelled``); shielded, at most 5 s."""
        await trio.lowlevel.checkpoint()


def _check_middleware(middleware: object) -> tuple[Middleware, ...]:
    if not isinstance(middleware, Iterable):
        msg = f"middleware must be a list of Middleware, got {middleware!r}"
        raise TypeError(msg)
    items = tuple(middleware)
    for i, item in enumerate(items):
        if not all(callable(getattr(item, hook, None)) for hook in ("before", "after", "on_error")):
            msg = (
                f"middleware[{i}] must have before, after and on_error methods "
                f"(subclass trio_orch.Middleware), got {item!r}"
            )
            raise TypeError(msg)
    return items


@attrs.define(eq=False)
class _Reporter:
    """Sends monotone :class:`Progress` reports to ``on_progress`` (sync or async)."""

    fn: Callable[[Progress], object] | None
    stage: int = -1
    percent: float = -1.0

    async def report(self, stage: str, percent: float, message: str) -> None:  # noqa: ASYNC910 - private: execute checkpoints on every path
        index = _STAGE_INDEX[stage]
        percent = max(self.percent, percent)
        if self.fn is None or index < self.stage or (index, percent) == (self.stage, self.percent):
            return  # noqa: ASYNC910 - see above
        self.stage, self.percent = index, percent
        value = self.fn(Progress(stage, percent, message))
        if inspect.isawaitable(value):
            await value


# --- the orchestrator ---------------------------------------------------------------------


@final
class GenerationOrchestrator:
    """Run generation requests on the providers of a :class:`ProviderRegistry`.

    Args:
        registry: the providers to choose from.
        retry: the policy ``submit`` and every ``poll`` go through; ``None``:
            ``RetryPolicy()`` (transient errors, 3 attempts).
        timeout: seconds one ``execute`` may take in all (middleware included); ``None``:
            no limit.  Exceeding it raises ``trio.TooSlowError``.
        middleware: :class:`Middleware` objects, applied as described there.
        poll_interval: seconds between polls of a running job.

    Raises:
        TypeError, ValueError: a bad argument (the message names it).
    """

    def __init__(
        self,
        registry: ProviderRegistry,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        middleware: Iterable[Middleware] = (),
        poll_interval: float = 1.0,
    ) -> None:
        check_instance("registry", registry, ProviderRegistry, "a ProviderRegistry")
        check_instance("retry", retry, RetryPolicy, "a RetryPolicy", allow_none=True)
        check_number("timeout", timeout, strict=True, allow_none=True, allow_inf=True)
        check_number("poll_interval", poll_interval, strict=True)
        self.registry = registry
        self._retry = RetryPolicy() if retry is None else retry
        self._timeout = timeout
        self._middleware = _check_middleware(middleware)
        self._poll_interval = poll_interval
        self._task_name: str | None = None

    def __repr__(self) -> str:
        return f"<GenerationOrchestrator providers={len(self.registry)} middleware={len(self._middleware)}>"

    async def execute(
        self,
        request: GenerationRequest,
        *,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> GenerationResult:
        """Run ``request`` to its end and return the result.

        Args:
            request: what to generate.
            on_progress: called (sync or async) with :class:`Progress` reports: the stages
                of :data:`STAGES` in order, percent never going down.

        Raises:
            ProviderNotFound: no provider fits (unknown id, unsupported feature).
            GenerationFailed: the provider reported the job FAILED or CANCELLED.
            trio.TooSlowError: ``timeout`` expired (the provider's job is cancelled).
            TypeError: ``request`` is not a GenerationRequest, or a hook returned something
                of the wrong type.
            Exception: what ``submit``/``poll`` raised that the retry policy does not retry
                (or retried until it gave up), or what a hook raised.

        Cancellation:
            Exits at once; a submitted job is cancelled with the provider's ``cancel``
            (shielded, at most 5 s).  ``on_error`` hooks are not called for a cancel; once
            called (for an error), each runs shielded, at most 5 s, so a cancel arriving
            meanwhile skips none of them (it takes effect after them).

        Checkpoints:
            Always.
        """
        check_instance("request", request, GenerationRequest, "a GenerationRequest")
        check_callable("on_progress", on_progress, allow_none=True)
        await trio.lowlevel.checkpoint()
        started = trio.current_time()
        reporter = _Reporter(on_progress)
        entered: list[Middleware] = []
        current = request
        try:
            with trio.move_on_after(
                self._timeout if self._timeout is not None else float("inf")
            ) as scope:
                await reporter.report("preparing", 0.0, "running the before hooks")
                for middleware in self._middleware:
                    replaced = await middleware.before(current)
                    entered.append(middleware)
                    if replaced is not None:
                        current = _expect(replaced, GenerationRequest, "before")
                provider = self.registry.choose(current)
                result = await self._run(provider, current, reporter, started)
                await reporter.report("finalizing", 95.0, "running the after hooks")
                for middleware in reversed(entered):
                    changed = await middleware.after(current, result)
                    if changed is not None:
                        result = _expect(changed, GenerationResult, "after")
            if scope.cancelled_caught:
                msg = f"generation of {current.feature!r} did not finish within {self._timeout:g} s"
                raise trio.TooSlowError(msg)
        except Exception as exc:
            for middleware in reversed(entered):
                await _on_error_hook(middleware, current, exc)
            raise
        await reporter.report("completed", 100.0, "done")
        return result

    async def _run(
        self,
        provider: Provider,
        request: GenerationRequest,
        reporter: _Reporter,
        started: float,
    ) -> GenerationResult:
        await reporter.report("submitting", 5.0, f"submitting to provider {provider.id!r}")
        job_id = await retry(provider.submit, request, policy=self._retry)

        async def on_status(status: PollStatus) -> None:  # noqa: ASYNC910 - a poll_job callback: the poll checkpointed
            if status.state is PollState.QUEUED:
                await reporter.report("queued", 10.0, f"job {job_id!r} queued")
            elif status.state is PollState.RUNNING:
                percent = 10.0 + 0.8 * (status.progress or 0.0)
                await reporter.report("running", percent, f"job {job_id!r} running")

        ended = False
        try:
            polled = await poll_job(
                provider,
                job_id,
                interval=self._poll_interval,
                retry=self._retry,
                on_status=on_status,
            )
            ended = True
        finally:
            if not ended:
                await _cancel_job(provider, job_id)
        if not polled.ok:
            raise GenerationFailed(provider.id, job_id, polled.status.state.name, polled.error)
        return GenerationResult(
            request, provider.id, polled.result, trio.current_time() - started, job_id
        )

    # ---- background mode -------------------------------------------------------------------

    def register_task(self, tasks: TaskRegistry, name: str = "trio_orch.generate") -> None:
        """Register a task ``name`` in ``tasks`` that runs a request as :meth:`execute` does.

        Its payload is :meth:`GenerationRequest.to_data`, its result
        :meth:`GenerationResult.to_data`; :meth:`enqueue` adds such jobs.  The job queue's
        retry policy then decides whether a failed ``execute`` is run again.

        Raises:
            ValueError: ``name`` is empty or already registered in ``tasks``.
        """

        async def generate(payload: dict[str, Any]) -> dict[str, Any]:
            result = await self.execute(GenerationRequest.from_data(payload))
            return result.to_data()

        generate.__qualname__ = f"GenerationOrchestrator.task[{name}]"
        tasks.register(name, generate)
        self._task_name = name

    async def enqueue(
        self,
        queue: JobQueue,
        request: GenerationRequest,
        *,
        key: str | None = None,
        priority: int = 0,
        run_at: float | None = None,
        max_attempts: int | None = None,
    ) -> Job:
        """Add ``request`` as a job on ``queue`` (background mode); return the job.

        ``await queue.wait(job.id)`` waits for it; ``GenerationResult.from_data(job.result)``
        reads its result.  The options are those of :meth:`~trio_orch.JobQueue.add`.

        Raises:
            RuntimeError: :meth:`register_task` was not called.
            ValueError, TypeError: as :meth:`~trio_orch.JobQueue.add` (e.g. the task is
                not in the queue's registry, or ``request.input`` is not JSON data).

        Checkpoints:
            Always.
        """
        if self._task_name is None:
            msg = "call register_task(tasks) before enqueue(): no generation task is registered"
            raise RuntimeError(msg)
        return await queue.add(
            self._task_name,
            request.to_data(),
            key=key,
            priority=priority,
            run_at=run_at,
            max_attempts=max_attempts,
        )


def _expect(value: object, cls: type[Any], hook: str) -> Any:
    if not isinstance(value, cls):
        msg = f"middleware {hook} must return a {cls.__name__} or None, got {value!r}"
        raise TypeError(msg)
    return value


async def _on_error_hook(  # noqa: ASYNC910 - private: runs shielded after a checkpoint
    middleware: Middleware, request: GenerationRequest, error: Exception
) -> None:
    """Run one ``on_error`` hook, shielded and bounded: a cancel does not skip the others."""
    done = await run_shielded(lambda: middleware.on_error(request, error), _CANCEL_TIMEOUT)
    failure = _failure(done)
    if failure is not None:
        _logger.error(
            "trio_orch.generation.hook_failed",
            hook=f"{type(middleware).__name__}.on_error",
            error=failure,
        )


async def _cancel_job(provider: Provider, job_id: str) -> None:  # noqa: ASYNC910 - private: runs shielded after a checkpoint
    """Ask the provider to cancel a job we stop watching (shielded and bounded)."""
    error = _failure(await run_shielded(lambda: provider.cancel(job_id), _CANCEL_TIMEOUT))
    if error is not None:
        _logger.warning(
            "trio_orch.generation.cancel_failed", provider=provider.id, job_id=job_id, error=error
        )


def _failure(done: Cleaned[None]) -> str | None:
    """What went wrong in a shielded cleanup call, for the log (``None``: nothing)."""
    if done.error is not None:
        return repr(done.error)
    return "timeout" if done.timed_out else None
