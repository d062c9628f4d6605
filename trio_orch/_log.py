"""The library's loggers: structlog bound to standard-library loggers ``trio_orch.<area>``.

The library never configures logging.  :func:`get_logger` wraps ``logging.getLogger(name)``
in a structlog bound logger, so an application that configures structlog gets every event
through its own processors (key-value context, contextvars, JSON, ...), one that configures
only stdlib logging gets ``"<event> key=value ..."`` records on the ``trio_orch.<area>``
loggers, and one that configures nothing gets Python's default: WARNING and above on stderr
(``logging.lastResort``), nothing on stdout.

Each call first asks the stdlib logger ``isEnabledFor(level)`` (a dict lookup that stdlib
caches), so a disabled debug or info call on a hot path costs one level check and never runs
a processor.  structlog itself is imported on the first call that is enabled, which keeps
``import trio_orch`` light (``import structlog`` loads its console renderer and, when
installed, rich).

Also here, because every layer needs them: :class:`DropLogger`, the one rate-limited log of
a growing drop counter, and :func:`callable_name`, the one readable name of a callable.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, final

import trio

if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping

__all__ = ["DropLogger", "Logger", "callable_name", "get_logger"]


def _render_plain(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> tuple[tuple[str], dict[str, Any]]:
    """The last processor when structlog is not configured: one plain stdlib record.

    ``"trio_orch.retry.scheduled fn='fetch' attempt=1 ..."``; a traceback is left to the
    stdlib handler's formatter (``exc_info``), as for any other library's record.
    """
    exc_info = event_dict.pop("exc_info", None)
    event = event_dict.pop("event", "")
    fields = " ".join(f"{key}={value!r}" for key, value in event_dict.items())
    message = f"{event} {fields}" if fields else str(event)
    return (message,), ({"exc_info": exc_info} if exc_info else {})


@final
class Logger:
    """A structlog bound logger that checks the stdlib level before doing any work.

    Methods mirror the stdlib levels; ``event`` is the structlog event name
    (``"trio_orch.<area>.<event>"``) and keywords are its key-value context.  Logging never
    raises into the caller's code path for a disabled level and never writes to stdout.
    """

    __slots__ = ("_configured", "_context", "_plain", "_std")

    def __init__(self, std: logging.Logger, context: Mapping[str, Any] | None = None) -> None:
        self._std = std
        self._context: dict[str, Any] = dict(context) if context else {}
        self._configured: Any = None
        self._plain: Any = None

    @property
    def name(self) -> str:
        """The stdlib logger's name (``trio_orch.<area>``)."""
        return self._std.name

    def bind(self, **context: Any) -> Logger:
        """Return a logger carrying ``context`` in every event it logs."""
        return Logger(self._std, {**self._context, **context})

    def is_enabled_for(self, level: int) -> bool:
        """Whether a call at ``level`` would be logged (one cached stdlib check)."""
        return self._std.isEnabledFor(level)

    def _structlog(self) -> Any:
        """The structlog logger to log through (built on first use, then kept).

        Once the application has configured structlog, its processors and wrapper class apply
        (looked up at each call, so configuring after trio_orch was imported works) around
        the stdlib logger; until then a plain ``"event key=value"`` record goes to it.
        """
        import structlog  # lazily: importing structlog costs ~60 ms

        if structlog.is_configured():
            bound = self._configured
            if bound is None:
                # The configured wrapper class too: a filtering one filters our events.
                bound = structlog.wrap_logger(self._std, **self._context)
                self._configured = bound
            return bound
        bound = self._plain
        if bound is None:
            bound = structlog.wrap_logger(
                self._std,
                processors=[structlog.contextvars.merge_contextvars, _render_plain],
                wrapper_class=structlog.stdlib.BoundLogger,
                **self._context,
            )
            self._plain = bound
        return bound

    def debug(self, event: str, **kw: Any) -> None:
        """Log ``event`` at DEBUG."""
        if self._std.isEnabledFor(logging.DEBUG):
            self._structlog().debug(event, **kw)

    def info(self, event: str, **kw: Any) -> None:
        """Log ``event`` at INFO."""
        if self._std.isEnabledFor(logging.INFO):
            self._structlog().info(event, **kw)

    def warning(self, event: str, **kw: Any) -> None:
        """Log ``event`` at WARNING."""
        if self._std.isEnabledFor(logging.WARNING):
            self._structlog().warning(event, **kw)

    def error(self, event: str, **kw: Any) -> None:
        """Log ``event`` at ERROR."""
        if self._std.isEnabledFor(logging.ERROR):
            self._structlog().error(event, **kw)

    def exception(self, event: str, **kw: Any) -> None:
        """Log ``event`` at ERROR with the exception being handled (``exc_info=True``)."""
        if self._std.isEnabledFor(logging.ERROR):
            kw.setdefault("exc_info", True)
            self._structlog().error(event, **kw)

    def log(self, level: int, event: str, **kw: Any) -> None:
        """Log ``event`` at the stdlib ``level`` (``logging.WARNING``, ...)."""
        if self._std.isEnabledFor(level):
            self._structlog().log(level, event, **kw)


def get_logger(area: str) -> Logger:
    """Return the logger for ``area``: stdlib ``logging.getLogger(f"trio_orch.{area}")``.

    ``area`` is the component (``"retry"``, ``"workflow"``, ``"bus"``, ...); a dotted name
    that already starts with ``trio_orch`` is used as it is.  Cheap: nothing is imported or
    built until the first enabled call.
    """
    name = area if area.startswith("trio_orch") else f"trio_orch.{area}"
    return Logger(logging.getLogger(name))


def callable_name(fn: object) -> str:
    """A readable name for a callable, for logs, events and task names.

    Its ``__qualname__`` (looking through ``functools.partial``); for an object without one
    (a callable instance), its class's ``__qualname__``.  Never raises.
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


#: A drop summary is logged at most this often (seconds of trio time).
DROP_LOG_INTERVAL = 1.0
#: Under a flood of drops the clock is read at least every this many drops.
_MAX_LOG_STEP = 4096


@final
class DropLogger:
    """The log of a growing drop counter: at once for the first drop, then at most once a second.

    Whatever drops, rejects or discards items (a bounded channel, a limiter, an inbox, a stream
    operator) counts them here and gets one log event per interval instead of one per item::

        trio_orch.channel.dropped channel='jobs' policy='OLDEST' total=1000 since_last_log=999

    Per drop, :meth:`add` costs one addition and one comparison: the clock is read only when
    ``count`` reaches ``log_at``.  The step between clock readings doubles while nothing is due
    (up to 4096 drops) and shrinks back to 1 after a log, so a slow trickle is logged promptly
    and a flood costs one clock read per thousands of drops.  Outside a trio run (no trio
    clock) it logs on powers of two.  A hot path may inline :meth:`add` as
    ``d.count += 1; if d.count >= d.log_at: d.maybe_log()``.

    Call :meth:`flush` when the owner closes, so that the last drops are logged too.

    Args:
        logger: the :class:`Logger` to log through (its area names the stdlib logger).
        event: the structlog event name (``"trio_orch.<area>.dropped"``).
        context: key-value fields logged with every summary (the owner's name, policy, ...).
        level: the stdlib level of the summaries (default WARNING: something was lost).
    """

    __slots__ = (
        "_last_time",
        "_logged",
        "_step",
        "context",
        "count",
        "event",
        "level",
        "log_at",
        "logger",
    )

    def __init__(
        self,
        logger: Logger,
        event: str,
        context: Mapping[str, object] | None = None,
        *,
        level: int = logging.WARNING,
    ) -> None:
        self.logger = logger
        self.event = event
        self.context: dict[str, object] = dict(context) if context else {}
        self.level = level
        #: Drops counted so far.
        self.count = 0
        #: ``count`` at which :meth:`maybe_log` is due to look at the clock.
        self.log_at = 1
        self._logged = 0
        self._last_time: float | None = None
        self._step = 1

    def __repr__(self) -> str:
        return f"<DropLogger {self.event} count={self.count} logged={self._logged}>"

    @property
    def logged(self) -> int:
        """Drops already reported in a log event."""
        return self._logged

    def add(self, n: int = 1) -> None:
        """Count ``n`` drops; log a summary if one is due."""
        self.count += n
        if self.count >= self.log_at:
            self.maybe_log()

    def maybe_log(self) -> None:
        """Log a summary if the interval since the last one has passed; plan the next look."""
        try:
            now: float | None = trio.current_time()
        except RuntimeError:
            now = None
        last = self._last_time
        if now is None or last is None or now - last >= DROP_LOG_INTERVAL:
            self.flush()
            self._last_time = now
            self._step = 1 if now is not None else max(self.count, 1)
        else:
            self._step = min(self._step * 2, _MAX_LOG_STEP)
        self.log_at = self.count + self._step

    def count_logged(self, n: int) -> None:
        """Count ``n`` drops that the caller reports in a log event of its own."""
        self.count += n
        self._logged += n

    def flush(self, **extra: object) -> None:
        """Log the drops not logged yet, if any (``extra`` fields are added to the event)."""
        if self.count == self._logged:
            return
        self.logger.log(
            self.level,
            self.event,
            **self.context,
            **extra,
            total=self.count,
            since_last_log=self.count - self._logged,
        )
        self._logged = self.count
