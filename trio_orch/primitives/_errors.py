"""Error classification: is this failure worth retrying?

:func:`classify_error` sorts an exception into :class:`ErrorKind` ``TRANSIENT`` (it may go away:
a timeout, a reset connection, an HTTP 503), ``PERMANENT`` (retrying cannot fix it: a
``ValueError``, an HTTP 404) or ``UNKNOWN``.  The rules live in an immutable
:class:`ErrorClassifier`; :meth:`ErrorClassifier.with_rule` returns a *new* classifier, so
extending the classification never changes what anyone else (another test, another library)
sees.

Precedence, first match wins:

1. a ``BaseException`` that is not an ``Exception`` (``trio.Cancelled``, ``KeyboardInterrupt``,
   ``SystemExit``, ``GeneratorExit``, a ``BaseExceptionGroup`` holding one) is always PERMANENT;
2. the classifier's own rules, the most recently added first;
3. an ``ExceptionGroup`` combines its leaves: PERMANENT if any leaf is PERMANENT, TRANSIENT
   if every leaf is TRANSIENT, otherwise UNKNOWN;
4. :class:`~trio_orch.TransientError` / :class:`~trio_orch.PermanentError` subclasses;
5. (``defaults=True``) an HTTP-like status code on ``status_code``, ``status`` or
   ``response.status_code``: 408, 425, 429 and 5xx are TRANSIENT, other 4xx PERMANENT;
6. (``defaults=True``) the built-in table of exception types, see :data:`TRANSIENT_TYPES` and
   :data:`PERMANENT_TYPES`; then an ``OSError`` with a network ``errno`` (or none at all, as
   trio's "all attempts to connect failed") is TRANSIENT;
7. otherwise UNKNOWN.
"""

from __future__ import annotations

import enum
import errno
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias, final, overload

import attrs
import trio

from trio_orch._exceptions import LimiterFull, PermanentError, TransientError
from trio_orch._groups import leaves


class ErrorKind(enum.Enum):
    """What retrying an error can achieve.

    ``TRANSIENT``: the error may go away on its own; retrying is reasonable.
    ``PERMANENT``: retrying cannot help (bad input, a bug, a 404).
    ``UNKNOWN``: no rule says; the default :class:`~trio_orch.RetryPolicy` does not retry it.
    """

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"


#: Exception types that are TRANSIENT by default: timeouts, connection errors and resets,
#: broken streams, and backpressure that asks the caller to come back later.
TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    TimeoutError,  # socket.timeout is an alias
    trio.TooSlowError,
    ConnectionError,  # ConnectionReset/Refused/Aborted, BrokenPipeError
    trio.BrokenResourceError,
    trio.WouldBlock,  # includes trio_orch.QueueFull
    LimiterFull,
)

#: Exception types that are PERMANENT by default: bad input and bugs, which come back
#: unchanged on every attempt.
PERMANENT_TYPES: tuple[type[BaseException], ...] = (
    ValueError,  # includes UnicodeError, json.JSONDecodeError
    TypeError,
    LookupError,  # KeyError, IndexError
    AttributeError,
    NameError,
    NotImplementedError,
    AssertionError,
    ArithmeticError,
    PermissionError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    trio.ClosedResourceError,  # the caller closed it; it will not reopen itself
)

#: ``errno`` values of a plain ``OSError`` that mean a network hiccup (TRANSIENT).
TRANSIENT_ERRNOS: frozenset[int] = frozenset(
    getattr(errno, name)
    for name in (
        "EAGAIN",
        "EWOULDBLOCK",
        "EINTR",
        "ENETDOWN",
        "ENETUNREACH",
        "ENETRESET",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "ECONNABORTED",
        "ECONNRESET",
        "ECONNREFUSED",
        "ETIMEDOUT",
        "EPIPE",
    )
    if hasattr(errno, name)
)

#: HTTP status codes that are TRANSIENT; every other 4xx is PERMANENT.
TRANSIENT_STATUS_CODES: frozenset[int] = frozenset({408, 425, 429, *range(500, 600)})

#: A rule: called with an exception, it returns a kind, or ``None`` to let the next rule decide.
ErrorRule: TypeAlias = Callable[[BaseException], ErrorKind | None]

_Match: TypeAlias = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]
)


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP-like status code carried by ``exc``, or ``None``.

    Looks at ``exc.status_code``, ``exc.status`` (aiohttp) and ``exc.response.status_code``
    (httpx, requests), in that order, and accepts only a plain ``int`` (not a ``bool``) in
    the range 100-599.
    """
    for candidate in (
        getattr(exc, "status_code", None),
        getattr(exc, "status", None),
        getattr(getattr(exc, "response", None), "status_code", None),
    ):
        if (
            isinstance(candidate, int)
            and not isinstance(candidate, bool)
            and 100 <= candidate <= 599
        ):
            return candidate
    return None


def _classify_builtin(exc: BaseException) -> ErrorKind:
    status = status_code_of(exc)
    if status is not None:
        if status in TRANSIENT_STATUS_CODES:
            return ErrorKind.TRANSIENT
        if 400 <= status <= 499:
            return ErrorKind.PERMANENT
    if isinstance(exc, TRANSIENT_TYPES):
        return ErrorKind.TRANSIENT
    if isinstance(exc, PERMANENT_TYPES):
        return ErrorKind.PERMANENT
    if isinstance(exc, socket.gaierror):
        # EAI_AGAIN is "temporary failure in name resolution"; other lookups failures repeat.
        return ErrorKind.TRANSIENT if exc.errno == socket.EAI_AGAIN else ErrorKind.UNKNOWN
    if isinstance(exc, OSError) and (exc.errno is None or exc.errno in TRANSIENT_ERRNOS):
        # errno None: trio.open_tcp_stream's "all attempts to connect ... failed" is one.
        return ErrorKind.TRANSIENT
    return ErrorKind.UNKNOWN


@final
@attrs.frozen(repr=False)
class _TypeRule:
    types: tuple[type[BaseException], ...]
    kind: ErrorKind

    def __call__(self, exc: BaseException) -> ErrorKind | None:
        return self.kind if isinstance(exc, self.types) else None

    def __repr__(self) -> str:
        names = ", ".join(t.__qualname__ for t in self.types)
        return f"<rule ({names}) -> {self.kind.name}>"


@final
@attrs.frozen(repr=False)
class _PredicateRule:
    predicate: Callable[[BaseException], bool]
    kind: ErrorKind

    def __call__(self, exc: BaseException) -> ErrorKind | None:
        return self.kind if self.predicate(exc) else None

    def __repr__(self) -> str:
        name = getattr(self.predicate, "__qualname__", repr(self.predicate))
        return f"<rule {name} -> {self.kind.name}>"


@final
@attrs.frozen(repr=False)
class _StatusRule:
    codes: frozenset[int]
    kind: ErrorKind

    def __call__(self, exc: BaseException) -> ErrorKind | None:
        return self.kind if status_code_of(exc) in self.codes else None

    def __repr__(self) -> str:
        return f"<rule status {sorted(self.codes)} -> {self.kind.name}>"


def _check_kind(kind: object) -> ErrorKind:
    if not isinstance(kind, ErrorKind):
        msg = f"kind must be an ErrorKind, got {kind!r}"
        raise TypeError(msg)
    return kind


def _is_exception_type(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseException)


def _make_rule(match: object, kind: object) -> ErrorRule:
    """``match -> kind`` as a rule; ``match`` is a type, a tuple of types or a predicate."""
    kind = _check_kind(kind)
    if _is_exception_type(match):
        return _TypeRule((match,), kind)  # type: ignore[arg-type]  # checked above
    if isinstance(match, tuple) and all(_is_exception_type(t) for t in match):
        return _TypeRule(match, kind)
    if callable(match) and not isinstance(match, tuple):
        return _PredicateRule(match, kind)
    msg = f"match must be an exception type, a tuple of them or a predicate, got {match!r}"
    raise TypeError(msg)


def _to_rules(value: object) -> tuple[ErrorRule, ...]:
    """Accept rules as callables or ``(match, kind)`` pairs, in any iterable or a mapping."""
    if isinstance(value, Mapping):
        value = list(value.items())
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        msg = f"rules must be an iterable of rules or (match, kind) pairs, got {value!r}"
        raise TypeError(msg)
    rules: list[ErrorRule] = []
    for item in value:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], ErrorKind):
            rules.append(_make_rule(*item))
        elif callable(item) and not _is_exception_type(item):
            rules.append(item)
        else:
            msg = f"rules must be rules or (match, kind) pairs, got {item!r}"
            raise TypeError(msg)
    return tuple(rules)


def _check_defaults(_: object, __: object, value: object) -> None:
    if not isinstance(value, bool):
        msg = f"defaults must be a bool, got {value!r}"
        raise TypeError(msg)


@final
@attrs.frozen
class ErrorClassifier:
    """An immutable set of rules that sorts exceptions into :class:`ErrorKind`.

    Extend it with :meth:`with_rule` / :meth:`with_status`, which return a new classifier;
    the original (including :data:`DEFAULT_CLASSIFIER`) never changes, so nothing leaks
    between tests or libraries.  Plug it into retry with
    ``RetryPolicy(retry_on=classifier.is_transient)``.

    Args:
        rules: callables ``(exc) -> ErrorKind | None`` (``None`` passes to the next rule)
            or ``(match, kind)`` pairs (as :meth:`with_rule` takes them), in any iterable or
            a ``{match: kind}`` mapping; stored as a tuple of callables and consulted in
            order before the built-in rules.  :meth:`with_rule` puts new rules first.
        defaults: consult the built-in status-code and exception-type tables after the rules.
            The TransientError/PermanentError markers and the "non-``Exception`` is
            PERMANENT" rule always apply.

    Raises:
        TypeError: a rule is neither a callable nor a ``(match, kind)`` pair, or
            ``defaults`` is not a bool.
    """

    rules: tuple[ErrorRule, ...] = attrs.field(default=(), converter=_to_rules)
    defaults: bool = attrs.field(default=True, kw_only=True, validator=_check_defaults)

    @overload
    def with_rule(self, match: _Match, kind: ErrorKind, /) -> ErrorClassifier: ...

    @overload
    def with_rule(self, rule: ErrorRule, /) -> ErrorClassifier: ...

    def with_rule(
        self, match: _Match | ErrorRule, kind: ErrorKind | None = None, /
    ) -> ErrorClassifier:
        """Return a new classifier whose first rule is ``match -> kind``.

        ``match`` is an exception type, a tuple of them, or a predicate ``(exc) -> bool``.
        With a single argument, ``rule`` is a full rule ``(exc) -> ErrorKind | None``.

        Raises:
            TypeError: ``match`` is neither a type, a tuple of types nor a callable, or
                ``kind`` is not an :class:`ErrorKind`.
        """
        rule: ErrorRule
        if kind is None:
            if _is_exception_type(match) or not callable(match):
                msg = f"with_rule() needs a kind for {match!r}"
                raise TypeError(msg)
            rule = match  # type: ignore[assignment]  # a full rule, by the overload
        else:
            rule = _make_rule(match, kind)
        return attrs.evolve(self, rules=(rule, *self.rules))

    def with_status(self, *codes: int, kind: ErrorKind) -> ErrorClassifier:
        """Return a new classifier that maps the HTTP-like status ``codes`` to ``kind``.

        Raises:
            ValueError: no code given, or a code outside 100-599.
            TypeError: a code is not an ``int`` or ``kind`` is not an :class:`ErrorKind`.
        """
        kind = _check_kind(kind)
        if not codes:
            msg = "with_status() needs at least one status code"
            raise ValueError(msg)
        for code in codes:
            if not isinstance(code, int) or isinstance(code, bool):
                msg = f"status codes must be ints, got {code!r}"
                raise TypeError(msg)
            if not 100 <= code <= 599:
                msg = f"status codes must be in 100..599, got {code!r}"
                raise ValueError(msg)
        return attrs.evolve(self, rules=(_StatusRule(frozenset(codes), kind), *self.rules))

    def classify(self, exc: BaseException) -> ErrorKind:
        """Sort ``exc`` into an :class:`ErrorKind` (see the module docs for the precedence).

        Raises:
            TypeError: ``exc`` is not an exception, or a rule returned something other than
                an ``ErrorKind`` or ``None``.  Whatever a rule raises propagates.
        """
        value: object = exc
        if not isinstance(value, Exception):
            if isinstance(value, BaseException):
                return ErrorKind.PERMANENT
            msg = f"exc must be an exception, got {value!r}"
            raise TypeError(msg)
        for rule in self.rules:
            kind: object = rule(exc)
            if kind is not None:
                if not isinstance(kind, ErrorKind):
                    msg = f"rule {rule!r} returned {kind!r}, not an ErrorKind or None"
                    raise TypeError(msg)
                return kind
        if isinstance(exc, BaseExceptionGroup):
            return self._classify_group(exc)
        if isinstance(exc, TransientError):
            return ErrorKind.TRANSIENT
        if isinstance(exc, PermanentError):
            return ErrorKind.PERMANENT
        if self.defaults:
            return _classify_builtin(exc)
        return ErrorKind.UNKNOWN

    def _classify_group(self, group: BaseExceptionGroup[BaseException]) -> ErrorKind:
        all_transient = True
        for leaf in leaves(group):
            kind = self.classify(leaf)
            if kind is ErrorKind.PERMANENT:
                return ErrorKind.PERMANENT
            all_transient = all_transient and kind is ErrorKind.TRANSIENT
        return ErrorKind.TRANSIENT if all_transient else ErrorKind.UNKNOWN

    def is_transient(self, exc: BaseException) -> bool:
        """``True`` when :meth:`classify` says TRANSIENT."""
        return self.classify(exc) is ErrorKind.TRANSIENT

    def is_permanent(self, exc: BaseException) -> bool:
        """``True`` when :meth:`classify` says PERMANENT."""
        return self.classify(exc) is ErrorKind.PERMANENT


#: The classifier behind :func:`classify_error`, :func:`is_transient` and :func:`is_permanent`
#: when none is given.  It is immutable: extend it with ``DEFAULT_CLASSIFIER.with_rule(...)``.
DEFAULT_CLASSIFIER = ErrorClassifier()


def classify_error(
    exc: BaseException, *, classifier: ErrorClassifier = DEFAULT_CLASSIFIER
) -> ErrorKind:
    """Sort ``exc`` into TRANSIENT, PERMANENT or UNKNOWN with ``classifier``.

    ``trio.Cancelled``, ``KeyboardInterrupt``, ``SystemExit`` and every other
    non-``Exception`` are PERMANENT.  An ``ExceptionGroup`` is PERMANENT if any leaf is,
    TRANSIENT if all leaves are, UNKNOWN otherwise.

    Raises:
        TypeError: ``exc`` is not an exception.
    """
    return classifier.classify(exc)


def is_transient(exc: BaseException, *, classifier: ErrorClassifier = DEFAULT_CLASSIFIER) -> bool:
    """``True`` when ``exc`` is TRANSIENT: the default ``retry_on`` of :class:`RetryPolicy`."""
    return classifier.classify(exc) is ErrorKind.TRANSIENT


def is_permanent(exc: BaseException, *, classifier: ErrorClassifier = DEFAULT_CLASSIFIER) -> bool:
    """``True`` when ``exc`` is PERMANENT (never worth retrying)."""
    return classifier.classify(exc) is ErrorKind.PERMANENT
