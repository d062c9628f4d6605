"""trio_orch._log: quiet by default, structlog when configured, one rate-limited drop log."""

from __future__ import annotations

import functools
import logging
import textwrap
from typing import TYPE_CHECKING

import pytest
import structlog
import trio
import trio.testing
from structlog.testing import capture_logs

from tests._subprocess import run_python
from trio_orch._log import DropLogger, callable_name, get_logger

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return run_python("-c", textwrap.dedent(code))


def test_unconfigured_warnings_go_to_stderr_as_plain_lines_and_nothing_else() -> None:
    done = _run(
        """
        from trio_orch._log import get_logger
        log = get_logger("retry").bind(job="j1")
        log.debug("trio_orch.retry.debug_event", a=1)
        log.info("trio_orch.retry.info_event", a=1)
        log.warning("trio_orch.retry.scheduled", fn="fetch", delay=0.5)
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("trio_orch.retry.crashed", attempt=2)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == "trio_orch.retry.scheduled job='j1' fn='fetch' delay=0.5"
    assert lines[1] == "trio_orch.retry.crashed job='j1' attempt=2"
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert "info_event" not in done.stderr
    assert "debug_event" not in done.stderr


def test_stdlib_configuration_sees_every_level_on_trio_orch_loggers() -> None:
    done = _run(
        """
        import logging, sys
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
        import structlog
        from trio_orch._log import get_logger
        structlog.contextvars.bind_contextvars(request=7)
        get_logger("limiter").debug("trio_orch.limiter.debug_event", a=1)
        get_logger("trio_orch.custom").info("trio_orch.custom.info_event")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "trio_orch.limiter DEBUG trio_orch.limiter.debug_event a=1 request=7",
        "trio_orch.custom INFO trio_orch.custom.info_event request=7",
    ]


def test_structlog_configuration_applies_even_when_made_after_the_import() -> None:
    done = _run(
        """
        import logging, sys
        from trio_orch._log import get_logger
        log = get_logger("channel")
        log.warning("trio_orch.channel.before")
        import structlog
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.JSONRenderer(sort_keys=True),
            ],
        )
        structlog.contextvars.bind_contextvars(request=7)
        log.bind(channel="jobs").info("trio_orch.channel.after", n=1)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        '{"channel": "jobs", "event": "trio_orch.channel.after", "level": "info", "n": 1, '
        '"request": 7}\n'
    )
    assert done.stderr == "trio_orch.channel.before\n"


def test_logger_api() -> None:
    log = get_logger("retry")
    assert log.name == "trio_orch.retry"
    assert get_logger("trio_orch.x.y").name == "trio_orch.x.y"
    assert log.is_enabled_for(logging.WARNING)
    with capture_logs() as logs:
        log.bind(a=1).bind(b=2).warning("trio_orch.retry.e", c=3)
        log.error("trio_orch.retry.err")
        log.log(logging.WARNING, "trio_orch.retry.lvl")
        try:
            raise KeyError("k")
        except KeyError:
            log.exception("trio_orch.retry.exc")
    assert logs == [
        {"a": 1, "b": 2, "c": 3, "event": "trio_orch.retry.e", "log_level": "warning"},
        {"event": "trio_orch.retry.err", "log_level": "error"},
        {"event": "trio_orch.retry.lvl", "log_level": "warning"},
        {"event": "trio_orch.retry.exc", "log_level": "error", "exc_info": True},
    ]


def test_disabled_levels_do_not_reach_structlog(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("quiet_area")
    caplog.set_level(logging.ERROR, logger="trio_orch.quiet_area")
    with capture_logs() as logs:
        log.debug("trio_orch.quiet_area.d")
        log.info("trio_orch.quiet_area.i")
        log.warning("trio_orch.quiet_area.w")
        log.error("trio_orch.quiet_area.e")
    assert [entry["event"] for entry in logs] == ["trio_orch.quiet_area.e"]
    caplog.set_level(logging.DEBUG, logger="trio_orch.quiet_area")
    with capture_logs() as logs:
        log.debug("trio_orch.quiet_area.d")
        log.info("trio_orch.quiet_area.i")
    assert [entry["event"] for entry in logs] == [
        "trio_orch.quiet_area.d",
        "trio_orch.quiet_area.i",
    ]


class _Callable:
    def __call__(self) -> None: ...

    def method(self) -> None: ...


def test_callable_name() -> None:
    def local() -> None: ...

    assert callable_name(len) == "len"
    assert callable_name(local) == "test_callable_name.<locals>.local"
    assert callable_name(functools.partial(functools.partial(local))) == callable_name(local)
    assert callable_name(_Callable()) == "_Callable"
    assert callable_name(_Callable().method) == "_Callable.method"
    assert callable_name(lambda: None) == "test_callable_name.<locals>.<lambda>"


def _drops(logger_area: str = "drops") -> DropLogger:
    return DropLogger(get_logger(logger_area), "trio_orch.drops.dropped", {"channel": "c"})


async def test_drop_logger_logs_the_first_drop_at_once_then_at_most_once_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    drops = _drops()
    with capture_logs() as logs:
        drops.add()  # t=0: logged at once
        for _ in range(999):
            drops.add()  # within the same second: counted only
        assert logs == [_entry(total=1, since=1)]
        for _ in range(5):
            await trio.sleep(0.5)
            for _ in range(1000):
                drops.add()
        drops.flush()  # the rest
        drops.flush()  # nothing new: nothing logged
    assert drops.count == drops.logged == 6000
    assert repr(drops) == "<DropLogger trio_orch.drops.dropped count=6000 logged=6000>"
    totals = [entry["total"] for entry in logs]
    assert totals[0] == 1
    assert totals[-1] == 6000
    assert totals == sorted(totals)
    assert 3 <= len(logs) <= 5  # at most one summary per second of trio time (2.5 s), + flush
    assert sum(entry["since_last_log"] for entry in logs) == 6000
    assert all(
        entry == _entry(total=entry["total"], since=entry["since_last_log"]) for entry in logs
    )


def _entry(*, total: int, since: int, **extra: object) -> dict[str, object]:
    return {
        "event": "trio_orch.drops.dropped",
        "log_level": "warning",
        "channel": "c",
        **extra,
        "total": total,
        "since_last_log": since,
    }


async def test_drop_logger_flood_reads_the_clock_rarely(
    autojump_clock: trio.testing.MockClock,
) -> None:
    drops = _drops()
    with capture_logs() as logs:
        for _ in range(100_000):
            drops.count += 1  # the inlined form of add()
            if drops.count >= drops.log_at:
                drops.maybe_log()
    assert len(logs) == 1
    assert drops.log_at - drops.count <= 4096
    assert drops.log_at > 100_000


def test_drop_logger_outside_trio_logs_on_powers_of_two() -> None:
    drops = _drops()
    with capture_logs() as logs:
        for _ in range(100):
            drops.add()
        drops.flush(reason="closed")
    assert [entry["total"] for entry in logs] == [1, 2, 4, 8, 16, 32, 64, 100]
    assert logs[-1] == _entry(total=100, since=36, reason="closed")


def test_drop_logger_count_logged_and_level() -> None:
    drops = DropLogger(get_logger("drops"), "trio_orch.drops.shed", level=logging.ERROR)
    drops.count_logged(3)
    with capture_logs() as logs:
        drops.flush()
        drops.add()
    assert drops.count == 4
    assert logs == [
        {"event": "trio_orch.drops.shed", "log_level": "error", "total": 4, "since_last_log": 1}
    ]


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """structlog as an application that never configured it sees it; restored afterwards."""
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


@pytest.mark.usefixtures("unconfigured_structlog")
def test_unconfigured_records_are_plain_stdlib_records(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_orch.plain")
    log = get_logger("plain").bind(job="j1")
    log.debug("trio_orch.plain.dbg")
    log.info("trio_orch.plain.info", n=1, text="a b")
    try:
        raise KeyError("k")
    except KeyError:
        log.exception("trio_orch.plain.crashed")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("trio_orch.plain", logging.DEBUG, "trio_orch.plain.dbg job='j1'"),
        ("trio_orch.plain", logging.INFO, "trio_orch.plain.info job='j1' n=1 text='a b'"),
        ("trio_orch.plain", logging.ERROR, "trio_orch.plain.crashed job='j1'"),
    ]
    assert caplog.records[-1].exc_info is not None
    assert caplog.records[-1].exc_info[0] is KeyError
    assert caplog.records[0].exc_info is None
