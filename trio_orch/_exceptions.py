"""Every exception that trio_orch defines.

The hierarchy::

    OrchError                     base of every error trio_orch raises itself
    ├── TransientError            mark your own errors as worth retrying
    ├── PermanentError            mark your own errors as never worth retrying
    ├── LimiterFull               ConcurrencyLimiter.run: the wait queue is full
    ├── QueueFull                 a DropPolicy.REJECT channel is full (also a trio.WouldBlock)
    ├── WorkflowDefinitionError   a Workflow is malformed: cycle, unknown dependency, duplicate
    │                             step name, a parameter that is no dependency (a ValueError)
    ├── WorkflowFailed            Workflow.run: a step failed; ``.result`` holds the
    │                             WorkflowResult
    ├── ConnectionLost            a WebSocket client gave up (attempts ran out)
    │   ├── HandshakeRejected     ... the server refused the handshake with a fatal status
    │   └── FatalCloseCode        ... the server closed with a close code marked fatal
    ├── BusClosed                 the event bus was used after its block ended
    │                             (also a trio.ClosedResourceError)
    ├── FlowDeadlock              a blocking send would close a cycle of full actor inboxes
    ├── ServiceNotFound           ServiceOrchestrator.call: no such service (a LookupError)
    ├── JobNotFound               a job queue or store: no job with this id (a LookupError)
    ├── JobStateError             JobQueue.retry of a job that is not FAILED or CANCELLED
    ├── PollTimeout               poll_job: the deadline passed (also a trio.TooSlowError)
    ├── ProviderNotFound          generation: no provider fits the request (a LookupError)
    ├── GenerationFailed          generation: the provider reported the job FAILED/CANCELLED
    ├── PluginError               a plugin cannot be registered, resolved, found or run
    ├── ResourceError             a ResourceManager request above the limit, a double free
    ├── ConfigError               every problem of a configuration (also a ValueError)
    ├── SpecError                 trio-orch run: every problem of a workflow file at once
    ├── CommandFailed             trio-orch run: a step's command exited non-zero (retried)
    ├── CannotStart               trio-orch run: a step's command could not be started
    ├── TasksNotFound             trio-orch worker: --tasks names no TaskRegistry
    └── BenchmarkSkipped          trio-orch bench: a benchmark or baseline cannot run here

Components higher up (events, workflows, the WebSocket client, ...) add their own
subclasses of :class:`OrchError` here, each under its own heading.

trio's own exceptions are reused where they fit: ``trio.ClosedResourceError``,
``trio.BrokenResourceError``, ``trio.EndOfChannel``, ``trio.WouldBlock``,
``trio.TooSlowError``.  ``trio.Cancelled``, ``KeyboardInterrupt`` and ``SystemExit`` are never
wrapped in any of these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from trio_orch.engines import WorkflowResult


class OrchError(Exception):
    """Base class of every exception defined by trio_orch."""


# --- primitives ---------------------------------------------------------------------------


class TransientError(OrchError):
    """An error that is expected to go away: :func:`trio_orch.classify_error` says TRANSIENT.

    Subclass it (or raise it) to mark your own errors as retryable by the default policy.
    """


class PermanentError(OrchError):
    """An error that retrying cannot fix: :func:`trio_orch.classify_error` says PERMANENT."""


class LimiterFull(OrchError):
    """Raised by :meth:`trio_orch.ConcurrencyLimiter.run` when ``queue_limit`` callers wait.

    Attributes:
        queue_limit: the limit that was reached.
    """

    def __init__(self, queue_limit: int) -> None:
        self.queue_limit = queue_limit
        waiting = (
            "1 caller already waits" if queue_limit == 1 else f"{queue_limit} callers already wait"
        )
        super().__init__(f"limiter queue is full: {waiting}")


class QueueFull(OrchError, trio.WouldBlock):
    """Raised when an item is sent to a full :attr:`DropPolicy.REJECT` channel.

    It is also a :class:`trio.WouldBlock`, so code written for ``send_nowait`` handles it.

    Attributes:
        max_size: the channel's capacity.
    """

    def __init__(self, max_size: int) -> None:
        # BaseException.__new__ has already set args = (max_size,), so that repr() and pickle
        # rebuild it; the message is formatted only when someone reads it, which keeps a
        # rejection as cheap as raising trio.WouldBlock.
        self.max_size = max_size

    def __str__(self) -> str:
        return f"channel is full: {self.max_size} items queued"


# --- workflows ---------------------------------------------------------------------------


class WorkflowDefinitionError(OrchError, ValueError):
    """A :class:`trio_orch.Workflow` is malformed; raised before any of its steps starts.

    Raised for a dependency cycle (the message names the steps on it), a dependency on an
    unknown step (or on a function that is no step of the workflow), a duplicate step name,
    or a step function with a required parameter that is not one of its dependencies.  It is
    also a :class:`ValueError`.

    Attributes:
        workflow: the id of the workflow.
    """

    def __init__(self, message: str, *, workflow: str = "") -> None:
        self.workflow = workflow
        super().__init__(message)


class WorkflowFailed(OrchError):
    """Raised by :meth:`trio_orch.Workflow.run` when a step failed.

    The message lists the failed steps and their errors (and any failed compensation); the
    first step error (in completion order) is chained as ``__cause__``.

    Attributes:
        result: the :class:`WorkflowResult` of the run (``status`` is ``FAILED``).
    """

    def __init__(self, result: WorkflowResult, *, first_error: BaseException | None = None) -> None:
        self.result = result
        failed = ", ".join(f"{name!r} ({result.steps[name].error!r})" for name in result.failed)
        message = f"workflow {result.workflow!r} failed: step {failed}"
        if len(result.failed) > 1:
            message = f"workflow {result.workflow!r} failed: steps {failed}"
        if result.compensation_errors:
            undo = ", ".join(f"{n!r} ({e!r})" for n, e in result.compensation_errors.items())
            message += f"; compensations failed: {undo}"
        super().__init__(message)
        if first_error is not None:
            self.__cause__ = first_error

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.result,), self.__dict__)


# --- WebSocket client ---------------------------------------------------------------------


class ConnectionLost(OrchError):
    """A :func:`trio_orch.open_ws_client` client gave up: it is closed and will not reconnect.

    Raised by iterating or receiving from the client, by ``send`` and ``wait_open`` once the
    client has given up, and by the ``async with`` block if nobody saw it before.  The error
    that ended the last attempt is chained as ``__cause__``.

    Attributes:
        url: the URL the client was connected to.
        attempts: the connection attempts made in the last series (since the last healthy
            connection), including the one that failed.
    """

    def __init__(self, url: str, attempts: int, detail: str | None = None) -> None:
        self.url = url
        self.attempts = attempts
        reason = detail or f"gave up after {attempts} connection attempts"
        super().__init__(f"WebSocket connection to {url!r} lost: {reason}")


class HandshakeRejected(ConnectionLost):
    """The server refused the WebSocket handshake with a status the policy treats as fatal.

    By default every status except 500, 502, 503 and 504 is fatal (see
    :attr:`trio_orch.ReconnectPolicy.retry_statuses`); no further attempt is made.

    Attributes:
        status_code: the HTTP status of the refusal.
        body: the response body, if the server sent one.
    """

    def __init__(self, url: str, attempts: int, status_code: int, body: bytes | None) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(
            url, attempts, f"the server refused the handshake with HTTP status {status_code}"
        )


class FatalCloseCode(ConnectionLost):
    """The server closed the connection with a close code the policy marks fatal.

    The default fatal codes are 1002 (protocol error), 1003 (unsupported data) and 1008
    (policy violation); see :attr:`trio_orch.ReconnectPolicy.fatal_close_codes`.

    Attributes:
        code: the WebSocket close code.
        reason: the close reason the server gave, if any.
    """

    def __init__(self, url: str, attempts: int, code: int, reason: str | None) -> None:
        self.code = code
        self.reason = reason
        super().__init__(
            url, attempts, f"the server closed the connection with fatal code {code} ({reason!r})"
        )


# --- events -------------------------------------------------------------------------------


class BusClosed(OrchError, trio.ClosedResourceError):
    """The event bus was used after its ``async with open_event_bus()`` block ended.

    Also a :class:`trio.ClosedResourceError`, so code written for closed channels handles it.
    """


class FlowDeadlock(OrchError):
    """A blocking send would close a cycle of full ``DropPolicy.BLOCK`` inboxes.

    Raised by ``await bus.publish(...)`` or ``await actor_ref.send(...)`` in the actor (or flow)
    task whose wait would complete the cycle, instead of letting every task on it wait forever.

    Attributes:
        cycle: the names of the tasks on the cycle, starting and ending with the sender.
    """

    def __init__(self, cycle: tuple[str, ...]) -> None:
        self.cycle = cycle
        path = " -> ".join(cycle)
        super().__init__(
            f"circular flow would deadlock: {path} (every inbox on the cycle is full "
            "and blocks); use a drop policy or emit() on one edge of the cycle"
        )


# --- runtime: supervision -------------------------------------------------------------------


class RestartIntensityExceeded(OrchError):
    """A :class:`trio_orch.Supervisor` gave up: a child needed more than ``max_restarts``
    restarts within ``window`` seconds.  Raised out of the supervisor's block, chained from
    the child's last error (``__cause__``).

    Attributes:
        supervisor: the supervisor's name.
        child: the child whose restart exceeded the intensity.
        max_restarts: the intensity's restart budget.
        window: the intensity's window, in seconds.
    """

    def __init__(self, supervisor: str, child: str, max_restarts: int, window: float) -> None:
        super().__init__(
            f"supervisor {supervisor!r} gave up: child {child!r} needed more than "
            f"{max_restarts} restarts within {window:g} s"
        )
        self.supervisor = supervisor
        self.child = child
        self.max_restarts = max_restarts
        self.window = window


# --- runtime ------------------------------------------------------------------------------


class PluginError(OrchError):
    """A plugin could not be registered, resolved, found or run.

    Raised by :class:`trio_orch.PluginRegistry` for a duplicate name, a missing dependency,
    a version that does not satisfy a dependency's range, a conflict, a dependency cycle, an
    ``unregister`` while dependents are registered, and an unknown plugin or action; and by
    ``shutdown_all`` when teardowns failed (the errors are ``errors`` and the first one is
    ``__cause__``).  An error raised by a plugin's own ``setup`` or action is never wrapped
    in it: that error propagates as itself.

    Attributes:
        plugins: the names of the plugins concerned, in a stable order.
        reason: a short machine-readable reason: ``"duplicate"``, ``"missing_dependency"``,
            ``"version_mismatch"``, ``"conflict"``, ``"cycle"``, ``"has_dependents"``,
            ``"unknown_plugin"``, ``"unknown_action"``, ``"not_initialized"`` or
            ``"teardown_failed"``.
        errors: for ``"teardown_failed"``, the exceptions the teardowns raised.
    """

    def __init__(
        self,
        message: str,
        *,
        plugins: tuple[str, ...] = (),
        reason: str = "",
        errors: tuple[BaseException, ...] = (),
    ) -> None:
        self.plugins = plugins
        self.reason = reason
        self.errors = errors
        super().__init__(message)


class ResourceError(OrchError):
    """A :class:`trio_orch.ResourceManager` refused a request or a free.

    Raised at once by ``allocate`` for a request larger than the whole ``memory_limit`` (it
    could never be granted), and by ``free`` for a handle that was already freed or that
    belongs to another manager.

    Attributes:
        size: the size of the request or handle concerned.
        kind: its kind.
    """

    def __init__(self, message: str, *, size: int, kind: str) -> None:
        self.size = size
        self.kind = kind
        super().__init__(message)


class ConfigProblem:
    """One problem found by a :class:`trio_orch.ConfigManager` (an item of ``ConfigError``).

    Attributes:
        path: the dotted key (``"db.port"``; ``""`` for the file as a whole).
        source: where the value came from: ``"config.yaml:12"`` (file and line where the
            format gives a line), ``"config.toml"``, the environment variable's name
            (``"APP_DB__PORT"``), ``"mappings[0]"``, ``"set()"`` or ``"defaults"``.
        value: the offending value (``None`` when there is none, e.g. a missing key).
        message: what is wrong.
    """

    __slots__ = ("message", "path", "source", "value")
    __match_args__ = ("path", "source", "value", "message")

    def __init__(self, path: str, source: str, value: object, message: str) -> None:
        self.path = path
        self.source = source
        self.value = value
        self.message = message

    def __repr__(self) -> str:
        return (
            f"ConfigProblem(path={self.path!r}, source={self.source!r}, "
            f"value={self.value!r}, message={self.message!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConfigProblem):
            return NotImplemented
        return (self.path, self.source, self.message) == (
            other.path,
            other.source,
            other.message,
        ) and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.path, self.source, self.message))

    def __str__(self) -> str:
        where = self.path or "<file>"
        return f"{where}: {self.message} (from {self.source})"


class ConfigError(OrchError, ValueError):
    """A configuration failed to load, validate or save; ``problems`` lists every problem.

    Raised by :class:`trio_orch.ConfigManager` when it is built or reloaded (every source is
    checked and every problem reported at once: bad files, unknown keys with a "did you
    mean", values of the wrong type, failed validators, missing required keys), by
    ``get``/``set``/``has`` for an unknown key, by ``set`` for an invalid value, and by
    ``save`` for a format it cannot write.  It is also a :class:`ValueError`.

    Attributes:
        problems: the :class:`ConfigProblem` items, in the order they were found.
    """

    def __init__(self, problems: list[ConfigProblem] | tuple[ConfigProblem, ...]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = "1 configuration problem" if count == 1 else f"{count} configuration problems"
        lines = "".join(f"\n  {problem}" for problem in self.problems)
        super().__init__(f"{head}:{lines}")


class ProcessFailed(OrchError):
    """A process run by :func:`trio_orch.monitor_process` exited with a non-zero status.

    Attributes:
        name: the process's name.
        returncode: its exit status (negative: killed by that signal).
    """

    def __init__(self, name: str, returncode: int) -> None:
        super().__init__(f"process {name!r} exited with status {returncode}")
        self.name = name
        self.returncode = returncode


# --- jobs and generation ------------------------------------------------------------------


class JobNotFound(OrchError, LookupError):
    """No job with this id is in the :class:`trio_orch.JobStore` (also a :class:`LookupError`).

    Raised by :meth:`trio_orch.JobQueue.status`, ``cancel``, ``retry`` and ``wait``, and by
    every store's ``get``, ``cancel`` and ``retry``.

    Attributes:
        job_id: the id that was asked for.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r}")


class JobStateError(OrchError):
    """The job is in a state that does not allow the operation.

    Raised by :meth:`trio_orch.JobQueue.retry` (and ``JobStore.retry``) for a job that is
    QUEUED, RUNNING or SUCCEEDED: only a FAILED or CANCELLED job can be retried.

    Attributes:
        job_id: the job's id.
        status: the name of the job's status (a :class:`trio_orch.JobStatus` member name).
        operation: what was refused (``"retry"``).
    """

    def __init__(self, job_id: str, status: str, operation: str) -> None:
        self.job_id = job_id
        self.status = status
        self.operation = operation
        super().__init__(
            f"cannot {operation} job {job_id!r}: it is {status} "
            "(only a FAILED or CANCELLED job can be retried)"
        )


class PollTimeout(OrchError, trio.TooSlowError):
    """:func:`trio_orch.poll_job` gave up before the job ended (also a ``trio.TooSlowError``).

    Raised when ``timeout`` seconds passed or ``max_attempts`` polls returned without the job
    reaching an end state.

    Attributes:
        job_id: the provider's job id.
        last_status: the last :class:`trio_orch.PollStatus` seen, or ``None`` if no poll
            returned before the deadline.
        attempts: the polls that returned a status.
    """

    def __init__(self, job_id: str, last_status: object, attempts: int, reason: str) -> None:
        self.job_id = job_id
        self.last_status = last_status
        self.attempts = attempts
        state = getattr(getattr(last_status, "state", None), "name", "unknown")
        super().__init__(f"job {job_id!r} did not end {reason} (last state: {state})")


class ProviderNotFound(OrchError, LookupError):
    """No registered :class:`trio_orch.Provider` fits the request (also a ``LookupError``).

    Raised by :meth:`trio_orch.ProviderRegistry.get` for an unknown id and by
    :meth:`trio_orch.GenerationOrchestrator.execute` when the requested provider is unknown
    or does not support the feature, or when no provider supports the feature.

    Attributes:
        provider_id: the id asked for, or ``None`` when the choice was by feature.
        feature: the feature asked for, or ``None`` (a lookup by id only).
    """

    def __init__(self, message: str, *, provider_id: str | None, feature: str | None) -> None:
        self.provider_id = provider_id
        self.feature = feature
        super().__init__(message)


class GenerationFailed(OrchError):
    """The provider reported the generation job FAILED or CANCELLED.

    Raised by :meth:`trio_orch.GenerationOrchestrator.execute`.  It is not retried (the
    provider has decided); errors raised by ``submit`` and ``poll`` go through the retry
    policy instead.

    Attributes:
        provider_id: the provider's id.
        job_id: the provider's job id.
        state: the :class:`trio_orch.PollState` member name (``"FAILED"`` or ``"CANCELLED"``).
        error: the provider's error message, if it gave one.
    """

    def __init__(self, provider_id: str, job_id: str, state: str, error: str | None) -> None:
        self.provider_id = provider_id
        self.job_id = job_id
        self.state = state
        self.error = error
        detail = f": {error}" if error else ""
        super().__init__(f"provider {provider_id!r} reported job {job_id!r} {state}{detail}")


# --- command line (trio-orch run) ---------------------------------------------------------


class SpecProblem:
    """One thing wrong in a ``trio-orch run`` workflow file (see :class:`SpecError`).

    Attributes:
        key: the key path, e.g. ``("steps", "test", "timeout")`` (empty: the whole file).
        message: what is wrong.
        line: the 1-based line where the key is set, when it could be found.
        column: the column, when known (TOML syntax errors).
    """

    __slots__ = ("column", "key", "line", "message")

    def __init__(
        self,
        key: tuple[str | int, ...],
        message: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.key = key
        self.message = message
        self.line = line
        self.column = column

    def with_line(self, line: int | None) -> SpecProblem:
        """A copy located at ``line``."""
        return SpecProblem(self.key, self.message, line, self.column)

    def describe(self, path: object) -> str:
        """``FILE:LINE[:COL]: dotted.key: message``, the way it is shown."""
        where = str(path)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = ""
        for part in self.key:
            if isinstance(part, int):
                key += f"[{part}]"
            else:
                plain = bool(part) and all(c.isalnum() or c in "_-" for c in part)
                shown = part if plain and part.isascii() else f'"{part}"'
                key += f".{shown}" if key else shown
        return f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"SpecProblem(key={self.key!r}, message={self.message!r}, line={self.line!r}, "
            f"column={self.column!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpecProblem):
            return NotImplemented
        return (self.key, self.message, self.line, self.column) == (
            other.key,
            other.message,
            other.line,
            other.column,
        )

    def __hash__(self) -> int:
        return hash((self.key, self.message, self.line, self.column))


class SpecError(OrchError):
    """A ``trio-orch run`` workflow file cannot be used; ``str()`` lists every problem.

    One line per problem, ``FILE:LINE: key: message``, in the order of the file: a type
    error does not hide an unknown dependency or a cycle.

    Attributes:
        path: the file.
        problems: the :class:`SpecProblem` items.
    """

    def __init__(self, path: object, problems: list[SpecProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(p.describe(path) for p in problems))


class CommandFailed(OrchError):
    """A ``trio-orch run`` step's command exited with a non-zero status (or was killed).

    Retried when the step has ``retry``.

    Attributes:
        step: the step's name.
        returncode: the exit status; negative: killed by that signal number.
    """

    def __init__(self, step: str, returncode: int) -> None:
        self.step = step
        self.returncode = returncode
        if returncode < 0:
            import signal  # only when a command was killed

            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            reason = f"killed by {name}"
        else:
            reason = f"exit status {returncode}"
        super().__init__(reason)


class CannotStart(OrchError):
    """A ``trio-orch run`` step's command could not be started; never retried.

    Attributes:
        program: the program (or working directory) that was missing or not executable.
    """

    def __init__(self, program: str, reason: str) -> None:
        self.program = program
        self.reason = reason
        super().__init__(f"cannot start {program!r}: {reason}")


# --- services -----------------------------------------------------------------------------


class TasksNotFound(OrchError):
    """``trio-orch worker --tasks module:attribute`` names no TaskRegistry (the message says
    why: malformed, the module cannot be imported, or no registry there)."""


class ServiceNotFound(OrchError, LookupError):
    """:meth:`trio_orch.ServiceOrchestrator.call` named a service that is not registered.

    Also a :class:`LookupError`, so the default classification makes it PERMANENT: the
    operation that made the call fails without a retry.

    Attributes:
        service: the name that was asked for.
        known: the names of the registered services.
    """

    def __init__(self, service: str, known: tuple[str, ...]) -> None:
        self.service = service
        self.known = known
        names = ", ".join(repr(n) for n in known) or "none"
        super().__init__(f"no service named {service!r} is registered (registered: {names})")


# --- durable job stores -------------------------------------------------------------------


class JobStoreError(OrchError):
    """A durable :class:`trio_orch.JobStore` could not be opened or reached.

    Raised by :class:`trio_orch.SqliteJobStore` and :class:`trio_orch.PostgresJobStore` when
    their database cannot be opened, connected to or migrated (the cause is chained).  The
    message names the database, with any password masked as ``***``.

    Attributes:
        url: the database's path or URL, password masked.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"job store {url}: {reason}")


# --- bench ---------------------------------------------------------------------------------


class BenchmarkSkipped(OrchError):
    """A benchmark (or one of its baselines) cannot run here and is reported as skipped.

    Raised by :func:`trio_orch.bench.require` when a peer library is not installed, and by a
    user's benchmark itself for any other reason it cannot run (no PostgreSQL, no ``make``).
    ``trio-orch bench`` shows the reason and the install hint in its table instead of failing.

    Attributes:
        reason: why it cannot run, e.g. ``"pyee is not installed"``.
        hint: what to do about it, e.g. ``"pip install 'trio-orch[bench]'"``, or None.
    """

    def __init__(self, reason: str, *, hint: str | None = None) -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason} ({hint})" if hint else reason)


class CheckpointError(OrchError, TypeError):
    """A workflow step's result cannot be checkpointed (durable runs, ``run_id=``).

    The result is not JSON data, even after cattrs unstructure.  The step fails with it (a
    :class:`TypeError`: not retried by the default policy); the message names the step and
    where in the value the problem is.

    Attributes:
        step: the step's name.
    """

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        super().__init__(f"step {step!r} returned a result that cannot be checkpointed: {reason}")
