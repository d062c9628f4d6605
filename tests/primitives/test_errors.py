"""Error classification: the default table, ExceptionGroups, and extensible classifiers."""

from __future__ import annotations

import errno
import json
import socket

import attrs
import pytest
import trio

from trio_orch import (
    DEFAULT_CLASSIFIER,
    ErrorClassifier,
    ErrorKind,
    LimiterFull,
    PermanentError,
    QueueFull,
    TransientError,
    classify_error,
    is_permanent,
    is_transient,
)

T, P, U = ErrorKind.TRANSIENT, ErrorKind.PERMANENT, ErrorKind.UNKNOWN


class HTTPError(Exception):
    def __init__(self, status_code: object) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class AiohttpLike(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@attrs.frozen
class _Response:
    status_code: int


class HttpxLike(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.response = _Response(status_code)


class MyTransient(TransientError):
    pass


class MyPermanent(PermanentError):
    pass


class BadRequestButMarkedTransient(TransientError):
    status_code = 400


class MarkedValueError(ValueError, TransientError):
    pass


CASES: list[tuple[BaseException, ErrorKind]] = [
    # timeouts
    (TimeoutError(), T),
    (trio.TooSlowError(), T),
    # connection errors, resets, broken streams
    (ConnectionError(), T),
    (ConnectionResetError(), T),
    (ConnectionRefusedError(), T),
    (ConnectionAbortedError(), T),
    (BrokenPipeError(), T),
    (trio.BrokenResourceError(), T),
    (OSError(errno.ENETUNREACH, "network is unreachable"), T),
    (OSError(errno.EHOSTUNREACH, "no route to host"), T),
    (OSError(errno.ECONNRESET, "reset"), T),
    (socket.gaierror(socket.EAI_AGAIN, "temporary failure in name resolution"), T),
    (socket.gaierror(socket.EAI_NONAME, "name or service not known"), U),
    # backpressure: come back later
    (trio.WouldBlock(), T),
    (QueueFull(10), T),
    (LimiterFull(5), T),
    # HTTP-like status codes
    (HTTPError(408), T),
    (HTTPError(425), T),
    (HTTPError(429), T),
    (HTTPError(500), T),
    (HTTPError(503), T),
    (HTTPError(599), T),
    (HTTPError(400), P),
    (HTTPError(401), P),
    (HTTPError(404), P),
    (HTTPError(499), P),
    (HTTPError(302), U),
    (HTTPError(200), U),
    (HTTPError("503"), U),  # not an int
    (HTTPError(True), U),  # a bool is not a status code
    (HTTPError(1503), U),
    (AiohttpLike(502), T),
    (AiohttpLike(403), P),
    (HttpxLike(504), T),
    (HttpxLike(422), P),
    # bad input and bugs
    (ValueError(), P),
    (TypeError(), P),
    (KeyError("k"), P),
    (IndexError(), P),
    (AttributeError(), P),
    (NotImplementedError(), P),
    (ZeroDivisionError(), P),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), P),
    (json.JSONDecodeError("bad", "{", 0), P),
    (PermissionError(), P),
    (FileNotFoundError(), P),
    (trio.ClosedResourceError(), P),
    # markers
    (TransientError("x"), T),
    (PermanentError("x"), P),
    (MyTransient(), T),
    (MyPermanent(), P),
    (MarkedValueError(), T),  # the marker beats the type table
    (BadRequestButMarkedTransient(), T),  # the marker beats the status code
    # no rule
    (RuntimeError(), U),
    (Exception(), U),
    (OSError(errno.EIO, "I/O error"), U),
    (OSError(errno.ENOSPC, "no space left"), U),
    (OSError("all attempts to connect to 127.0.0.1:1 failed"), T),  # trio.open_tcp_stream
    (OSError(), T),
    # never retryable
    (trio.Cancelled._create(source="explicit"), P),
    (KeyboardInterrupt(), P),
    (SystemExit(1), P),
    (GeneratorExit(), P),
]


@pytest.mark.parametrize(
    ("exc", "kind"), CASES, ids=[f"{type(e).__name__}-{i}" for i, (e, _) in enumerate(CASES)]
)
def test_default_classification(exc: BaseException, kind: ErrorKind) -> None:
    assert classify_error(exc) is kind
    assert DEFAULT_CLASSIFIER.classify(exc) is kind
    assert is_transient(exc) is (kind is T)
    assert is_permanent(exc) is (kind is P)


def test_status_code_beats_the_exception_type() -> None:
    class RateLimited(ValueError):
        status_code = 429

    assert classify_error(RateLimited()) is T


@pytest.mark.parametrize(
    ("leaves", "kind"),
    [
        ([TimeoutError(), ConnectionResetError()], T),
        ([TimeoutError(), ValueError()], P),
        ([TimeoutError(), RuntimeError()], U),
        ([RuntimeError(), KeyError("k")], P),
        ([ExceptionGroup("inner", [TimeoutError()]), HTTPError(503)], T),
        ([ExceptionGroup("inner", [TimeoutError(), HTTPError(404)]), TimeoutError()], P),
    ],
)
def test_exception_group_combines_its_leaves(leaves: list[Exception], kind: ErrorKind) -> None:
    assert classify_error(ExceptionGroup("group", leaves)) is kind


def test_base_exception_group_with_cancelled_is_permanent() -> None:
    group = BaseExceptionGroup("g", [TimeoutError(), KeyboardInterrupt()])
    assert classify_error(group) is P


def test_classify_rejects_non_exceptions() -> None:
    with pytest.raises(TypeError, match=r"^exc must be an exception, got 'boom'$"):
        classify_error("boom")  # type: ignore[arg-type]


def test_with_rule_returns_a_new_classifier_and_leaves_the_default_alone() -> None:
    custom = DEFAULT_CLASSIFIER.with_rule(RuntimeError, T)
    assert custom is not DEFAULT_CLASSIFIER
    assert custom.classify(RuntimeError()) is T
    assert classify_error(RuntimeError(), classifier=custom) is T
    assert is_transient(RuntimeError(), classifier=custom)
    # Nobody else sees the rule.
    assert classify_error(RuntimeError()) is U
    assert DEFAULT_CLASSIFIER.rules == ()
    assert ErrorClassifier() == DEFAULT_CLASSIFIER


def test_default_classifier_is_immutable() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        DEFAULT_CLASSIFIER.rules = ()  # type: ignore[misc]


def test_newer_rules_win_and_rules_beat_the_defaults() -> None:
    c = ErrorClassifier().with_rule(ValueError, T).with_rule(UnicodeError, P)
    assert c.classify(ValueError()) is T  # a rule beats the default table
    assert c.classify(UnicodeDecodeError("utf-8", b"", 0, 1, "x")) is P  # newest first
    assert c.classify(TimeoutError()) is T  # defaults still apply
    # A rule also beats the markers.
    assert ErrorClassifier().with_rule(MyTransient, P).classify(MyTransient()) is P


def test_rule_forms() -> None:
    c = (
        ErrorClassifier()
        .with_rule((LookupError, ArithmeticError), T)
        .with_rule(lambda e: "busy" in str(e), T)
        .with_rule(lambda e: P if isinstance(e, OSError) and e.errno == errno.EIO else None)
    )
    assert c.classify(KeyError("x")) is T
    assert c.classify(ZeroDivisionError()) is T
    assert c.classify(RuntimeError("server busy")) is T
    assert c.classify(RuntimeError("other")) is U
    assert c.classify(OSError(errno.EIO, "io")) is P
    assert len(c.rules) == 3


def test_with_status() -> None:
    c = ErrorClassifier().with_status(404, 409, kind=T).with_status(503, kind=P)
    assert c.classify(HTTPError(404)) is T
    assert c.classify(HttpxLike(409)) is T
    assert c.classify(HTTPError(503)) is P
    assert c.classify(HTTPError(400)) is P  # default table
    assert classify_error(HTTPError(404)) is P


def test_without_defaults_only_rules_and_markers_apply() -> None:
    bare = ErrorClassifier(defaults=False)
    assert bare.classify(TimeoutError()) is U
    assert bare.classify(ValueError()) is U
    assert bare.classify(HTTPError(503)) is U
    assert bare.classify(TransientError()) is T
    assert bare.classify(PermanentError()) is P
    assert bare.classify(KeyboardInterrupt()) is P
    assert bare.with_rule(TimeoutError, T).classify(TimeoutError()) is T


def test_defaults_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"^defaults must be a bool, got 0$"):
        ErrorClassifier(defaults=0)  # type: ignore[arg-type]


def test_rules_apply_to_groups_and_leaves() -> None:
    c = ErrorClassifier().with_rule(RuntimeError, T)
    assert c.classify(ExceptionGroup("g", [RuntimeError(), TimeoutError()])) is T
    whole = ErrorClassifier().with_rule(ExceptionGroup, P)
    assert whole.classify(ExceptionGroup("g", [TimeoutError()])) is P


def test_non_exceptions_cannot_be_made_transient() -> None:
    c = ErrorClassifier().with_rule(lambda e: True, T)
    assert c.classify(KeyboardInterrupt()) is P
    assert c.classify(trio.Cancelled._create(source="explicit")) is P
    assert c.classify(ValueError()) is T


def test_classifier_methods_plug_into_retry_on() -> None:
    c = DEFAULT_CLASSIFIER.with_rule(RuntimeError, T)
    assert c.is_transient(RuntimeError())
    assert not c.is_permanent(RuntimeError())
    assert c.is_permanent(ValueError())


def test_bad_rules() -> None:
    with pytest.raises(TypeError, match=r"^kind must be an ErrorKind, got 'transient'$"):
        ErrorClassifier().with_rule(ValueError, "transient")  # type: ignore[call-overload]
    with pytest.raises(
        TypeError,
        match=r"^match must be an exception type, a tuple of them or a predicate, got \(<class 'ValueError'>, 1\)$",
    ):
        ErrorClassifier().with_rule((ValueError, 1), T)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError,
        match=r"^match must be an exception type, a tuple of them or a predicate, got 3$",
    ):
        ErrorClassifier().with_rule(3, T)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"^with_rule\(\) needs a kind for <class 'ValueError'>$"):
        ErrorClassifier().with_rule(ValueError)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^rules must be rules or \(match, kind\) pairs, got 1$"):
        ErrorClassifier(rules=[1])
    with pytest.raises(
        TypeError, match=r"^rules must be rules or \(match, kind\) pairs, got <class 'ValueError'>$"
    ):
        ErrorClassifier(rules=[ValueError])
    with pytest.raises(
        TypeError, match=r"^rules must be an iterable of rules or \(match, kind\) pairs, got 3$"
    ):
        ErrorClassifier(rules=3)
    with pytest.raises(
        TypeError,
        match=r"^rules must be rules or \(match, kind\) pairs, got \(<class 'ValueError'>, 'transient'\)$",
    ):
        ErrorClassifier(rules={ValueError: "transient"})
    with pytest.raises(TypeError, match=r"^rule .* returned True, not an ErrorKind or None$"):
        ErrorClassifier().with_rule(lambda e: True).classify(ValueError())  # type: ignore[arg-type, return-value]


def test_bad_status_rules() -> None:
    with pytest.raises(ValueError, match=r"^with_status\(\) needs at least one status code$"):
        ErrorClassifier().with_status(kind=T)
    with pytest.raises(ValueError, match=r"^status codes must be in 100\.\.599, got 600$"):
        ErrorClassifier().with_status(600, kind=T)
    with pytest.raises(TypeError, match=r"^status codes must be ints, got '404'$"):
        ErrorClassifier().with_status("404", kind=T)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^kind must be an ErrorKind, got None$"):
        ErrorClassifier().with_status(404, kind=None)  # type: ignore[arg-type]


def busy(exc: BaseException) -> bool:
    return "busy" in str(exc)


def test_rule_reprs_are_readable() -> None:
    c = ErrorClassifier().with_rule(busy, T).with_rule(ValueError, T).with_status(404, kind=P)
    assert repr(c.rules[0]) == "<rule status [404] -> PERMANENT>"
    assert repr(c.rules[1]) == "<rule (ValueError) -> TRANSIENT>"
    assert repr(c.rules[2]) == "<rule busy -> TRANSIENT>"


def test_rules_can_be_given_to_the_constructor() -> None:
    def busy(exc: BaseException) -> ErrorKind | None:
        return T if "busy" in str(exc) else None

    as_pairs = ErrorClassifier(rules=[(RuntimeError, T), busy, ((KeyError, IndexError), T)])
    assert as_pairs.classify(RuntimeError()) is T
    assert as_pairs.classify(OSError("server busy")) is T
    assert as_pairs.classify(IndexError()) is T
    assert isinstance(as_pairs.rules, tuple)
    assert len(as_pairs.rules) == 3
    as_mapping = ErrorClassifier(rules={RuntimeError: T, ValueError: T})
    assert as_mapping.classify(ValueError()) is T
    # Constructor order is precedence order: the first rule that matches wins.
    ordered = ErrorClassifier(rules=[(ValueError, P), (ValueError, T)])
    assert ordered.classify(ValueError()) is P
