"""The WebSocket client's surface: validation, policy schedule, checkpoints, callbacks."""

from __future__ import annotations

import itertools
import random
import ssl
import subprocess
import sys
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from trio_orch import (
    Backoff,
    ConnectionState,
    DropPolicy,
    Envelope,
    Jitter,
    ReconnectPolicy,
    RetryPolicy,
    open_ws_client,
)
from trio_orch.testing import WebSocketTestServer, open_ws_test_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

LIMIT = 5.0


# --- ReconnectPolicy ------------------------------------------------------------------------


def test_reconnect_policy_defaults() -> None:
    policy = ReconnectPolicy()
    assert (policy.max_attempts, policy.initial_delay, policy.max_delay) == (10, 1.0, 30.0)
    assert policy.jitter is Jitter.FULL
    assert policy.retry_statuses == frozenset({500, 502, 503, 504})
    assert policy.fatal_close_codes == frozenset({1002, 1003, 1008})
    assert policy.should_retry_status(503)
    assert not policy.should_retry_status(403)
    assert policy.is_fatal_close(1008)
    assert not policy.is_fatal_close(1001)
    assert not policy.is_fatal_close(None)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_attempts": 0}, ValueError, "max_attempts must be >= 1, got 0"),
        ({"max_attempts": 1.5}, TypeError, "max_attempts must be an int or None, got 1.5"),
        ({"initial_delay": -1}, ValueError, "initial_delay must be finite and >= 0, got -1"),
        (
            {"max_delay": float("inf")},
            ValueError,
            "max_delay must be finite and >= 0, got inf",
        ),
        ({"healthy_after": "5"}, TypeError, "healthy_after must be a number, got '5'"),
        ({"multiplier": 0.5}, ValueError, "multiplier must be finite and >= 1, got 0.5"),
        ({"max_delay": None}, TypeError, "max_delay must be a number, got None"),
        ({"jitter": "full"}, TypeError, "jitter must be a Jitter, got 'full'"),
        (
            {"retry_statuses": {"503"}},
            TypeError,
            r"retry_statuses must be a frozenset of ints, got frozenset\(\{'503'\}\)",
        ),
    ],
)
def test_reconnect_policy_rejects_bad_values(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"^{message}$"):
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


def test_reconnect_policy_accepts_sets_of_codes() -> None:
    policy = ReconnectPolicy(fatal_close_codes=[4000, 4001], retry_statuses={429, 503})
    assert policy.fatal_close_codes == frozenset({4000, 4001})
    assert policy.should_retry_status(429)


def test_delays_are_retry_policy_delays() -> None:
    policy = ReconnectPolicy(max_attempts=6, initial_delay=0.5, max_delay=3.0)
    retry = RetryPolicy(max_attempts=6, initial_delay=0.5, max_delay=3.0)
    assert list(policy.delays(random.Random(3))) == list(retry.delays(random.Random(3)))
    # One schedule: the policy holds the same Backoff that RetryPolicy builds.
    assert policy.backoff == retry.backoff
    assert policy.backoff == Backoff(initial_delay=0.5, max_delay=3.0)


def test_initial_delay_above_max_delay_is_clamped_not_refused() -> None:
    policy = ReconnectPolicy(max_attempts=4, initial_delay=100.0, jitter=Jitter.NONE)
    assert list(policy.delays()) == [30.0, 30.0, 30.0]  # the default cap
    assert ReconnectPolicy(initial_delay=5.0, max_delay=1.0).backoff.base_delay(1) == 1.0


def test_reconnect_policy_is_a_value() -> None:
    policy = ReconnectPolicy(initial_delay=0.5)
    assert policy == ReconnectPolicy(initial_delay=0.5)
    assert policy != ReconnectPolicy(initial_delay=0.25)
    evolved = attrs.evolve(policy, max_delay=2.0)
    assert evolved.backoff == Backoff(initial_delay=0.5, max_delay=2.0)
    assert "backoff" not in repr(policy)


def test_unbounded_policy_has_an_endless_capped_schedule() -> None:
    policy = ReconnectPolicy(max_attempts=None, initial_delay=1, max_delay=60, jitter=Jitter.NONE)
    delays = list(itertools.islice(policy.delays(), 5000))
    assert delays[:7] == [1, 2, 4, 8, 16, 32, 60]
    assert delays[-1] == 60


@settings(max_examples=30)
@given(max_attempts=st.integers(1, 20), jitter=st.sampled_from(Jitter), seed=st.integers(0, 2**32))
def test_delays_are_the_first_delays_of_the_backoff_schedule(
    max_attempts: int, jitter: Jitter, seed: int
) -> None:
    # The schedule itself (bounds, clamping, overflow) is Backoff's, tested with it.
    policy = ReconnectPolicy(
        max_attempts=max_attempts, initial_delay=0.5, max_delay=4.0, jitter=jitter
    )
    schedule = policy.backoff.delays(random.Random(seed))
    expected = list(itertools.islice(schedule, max_attempts - 1))
    assert list(policy.delays(random.Random(seed))) == expected


# --- open_ws_client arguments ---------------------------------------------------------------


async def _async_callback(state: ConnectionState) -> None:
    await trio.lowlevel.checkpoint()


@pytest.mark.parametrize(
    ("url", "kwargs", "error", "message"),
    [
        (
            "http://x/ws",
            {},
            ValueError,
            "url must be a ws:// or wss:// URL with a host, got 'http://x/ws'",
        ),
        (
            "ws:///ws",
            {},
            ValueError,
            "url must be a ws:// or wss:// URL with a host, got 'ws:///ws'",
        ),
        (5, {}, TypeError, "url must be a str, got 5"),
        ("ws://x", {"reconnect": 3}, TypeError, "reconnect must be a ReconnectPolicy, got 3"),
        (
            "ws://x",
            {"heartbeat_interval": 0},
            ValueError,
            "heartbeat_interval must be finite and > 0, got 0",
        ),
        (
            "ws://x",
            {"heartbeat_timeout": None},
            TypeError,
            "heartbeat_timeout must be a number, got None",
        ),
        ("ws://x", {"send_buffer": -1}, ValueError, "send_buffer must be >= 0, got -1"),
        ("ws://x", {"receive_buffer": 0}, ValueError, "receive_buffer must be >= 1, got 0"),
        ("ws://x", {"send_buffer": 1.0}, TypeError, "send_buffer must be an int, got 1.0"),
        (
            "ws://x",
            {"send_drop": "oldest"},
            TypeError,
            "send_drop must be a DropPolicy, got 'oldest'",
        ),
        (
            "ws://x",
            {"receive_drop": DropPolicy.REJECT},
            ValueError,
            "receive_drop must be BLOCK, OLDEST or NEWEST, got <DropPolicy.REJECT: 'reject'>",
        ),
        (
            "ws://x",
            {"on_state_change": 1},
            TypeError,
            "on_state_change must be callable or None, got 1",
        ),
        (
            "ws://x",
            {"on_state_change": _async_callback},
            TypeError,
            r"on_state_change must be a sync callable \(it is called inline; subscribe an "
            r"async handler on a bus instead\), got <function _async_callback at 0x[0-9a-f]+>",
        ),
        (
            "ws://x",
            {"bus": object()},
            TypeError,
            "bus must have an emit\\(event\\) method, got <object object at 0x[0-9a-f]+>",
        ),
        (
            "ws://x",
            {"ssl_context": ssl.create_default_context()},
            ValueError,
            "ssl_context is only for wss:// URLs, got 'ws://x'",
        ),
        (
            "wss://x",
            {"ssl_context": "tls"},
            TypeError,
            "ssl_context must be an ssl.SSLContext or None, got 'tls'",
        ),
        (
            "ws://x",
            {"converter": object()},
            TypeError,
            "converter must be a cattrs.Converter or None, got <object object at 0x[0-9a-f]+>",
        ),
        (
            "ws://x",
            {"subprotocols": "chat"},
            TypeError,
            "subprotocols must be an iterable of str, got 'chat'",
        ),
        (
            "ws://x",
            {"subprotocols": [1]},
            TypeError,
            r"subprotocols must be an iterable of str, got \(1,\)",
        ),
        (
            "ws://x",
            {"extra_headers": [("a", "b")]},
            TypeError,
            r"extra_headers must be an iterable of \(bytes, bytes\) pairs, got \(\('a', 'b'\),\)",
        ),
        (
            "ws://x",
            {"extra_headers": 5},
            TypeError,
            r"extra_headers must be an iterable of \(bytes, bytes\) pairs, got 5",
        ),
        (
            "ws://x",
            {"max_message_size": 0},
            ValueError,
            "max_message_size must be >= 1, got 0",
        ),
        (
            "ws://x",
            {"connect_stream": 3},
            TypeError,
            "connect_stream must be callable or None, got 3",
        ),
        ("ws://x", {"rng": 7}, TypeError, "rng must be a random.Random or None, got 7"),
        (
            "ws://x",
            {"connect_timeout": -1},
            ValueError,
            "connect_timeout must be finite and > 0, got -1",
        ),
        (
            "ws://x",
            {"close_timeout": float("inf")},
            ValueError,
            "close_timeout must be finite and > 0, got inf",
        ),
        (
            "ws://x:99999",
            {},
            ValueError,
            "url must be a ws:// or wss:// URL with a host, got 'ws://x:99999'",
        ),
    ],
)
async def test_open_ws_client_rejects_bad_arguments(
    url: object, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"^{message}$"):
        async with open_ws_client(url, **kwargs):  # type: ignore[arg-type]
            raise AssertionError("must not start")


async def test_register_and_send_validate_their_input() -> None:
    async def refuse() -> trio.abc.Stream:
        raise ConnectionRefusedError

    with capture_logs():
        async with open_ws_client("ws://x/ws", connect_stream=refuse) as client:
            with pytest.raises(TypeError, match=r"^t must be a str, got 1$"):
                client.register(1, int)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match=r"^t must not be empty, got ''$"):
                client.register("", int)
            client.register("a", int)
            client.register("a", int)  # the same again: fine
            with pytest.raises(ValueError, match=r"^t 'a' is already registered to "):
                client.register("a", str)
            with pytest.raises(TypeError, match=r"^t must be a str, got None$"):
                await client.send(None, 1)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="not JSON serializable"):
                await client.send("a", object())
            with pytest.raises(ValueError, match="Out of range float values"):
                await client.send("a", float("nan"))
            assert client.stats.buffered == 0
            await client.aclose()


# --- checkpoints ----------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[WebSocketTestServer]:
    async with open_ws_test_server() as server:
        yield server


async def test_public_async_methods_checkpoint_on_fast_paths(
    server: WebSocketTestServer,
) -> None:
    with trio.fail_after(LIMIT), capture_logs():
        async with open_ws_client(server.url) as client:
            await client.wait_open()
            with trio.testing.assert_checkpoints():
                await client.wait_open()
            with trio.testing.assert_checkpoints():
                await client.send("n", 1)
            await server.wait_received(1)
            while client.stats.received < 1:  # noqa: ASYNC110 - real socket: poll the counter
                await trio.sleep(0.001)
            with trio.testing.assert_checkpoints():
                assert await client.receive() == Envelope("n", 1)
            await client.aclose()
            with trio.testing.assert_checkpoints():
                await client.aclose()


async def test_a_failing_state_callback_is_logged_and_ignored(
    server: WebSocketTestServer,
) -> None:
    seen: list[ConnectionState] = []

    def bad_callback(state: ConnectionState) -> None:
        seen.append(state)
        raise RuntimeError("boom")

    with trio.fail_after(LIMIT), capture_logs() as logs:
        async with open_ws_client(server.url, on_state_change=bad_callback) as client:
            await client.wait_open()
            await client.send("n", 1)
            assert await client.receive() == Envelope("n", 1)
    assert seen == [ConnectionState.CONNECTING, ConnectionState.OPEN, ConnectionState.CLOSED]
    assert [e["event"] for e in logs].count("trio_orch.ws.callback_failed") == 3


async def test_an_error_in_the_block_propagates_unwrapped(server: WebSocketTestServer) -> None:
    with trio.fail_after(LIMIT), capture_logs(), pytest.raises(KeyError, match="mine"):  # noqa: PT012 - the error comes out of the async with
        async with open_ws_client(server.url) as client:
            await client.wait_open()
            raise KeyError("mine")
    assert client.state is ConnectionState.CLOSED


# --- import cost ----------------------------------------------------------------------------


def test_the_modules_without_a_socket_do_not_import_trio_websocket() -> None:
    # trio_orch maps WebSocketClient, WebSocketClientStats and open_ws_client lazily from
    # _ws_client; everything else of the WebSocket client must stay cheap to import.
    code = (
        "import sys\n"
        "import trio_orch.engines._ws_config, trio_orch.engines._ws_state\n"
        "import trio_orch.engines._ws_policy, trio_orch.engines._ws_events\n"
        "import trio_orch.engines._ws_envelope\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'trio_websocket', 'wsproto'})\n"
        "assert not heavy, heavy\n"
        "import trio_orch.engines._ws_client\n"
        "assert 'trio_websocket' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
