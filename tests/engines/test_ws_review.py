"""Review fixes: errors from the WebSocket client and test server come out as themselves."""

from __future__ import annotations

import pytest
import trio
from structlog.testing import capture_logs

from trio_orch import DropPolicy, Envelope, ReconnectPolicy, open_ws_client
from trio_orch.testing import open_ws_test_server

NO_RETRY_DELAY = ReconnectPolicy(max_attempts=5, initial_delay=0.0, max_delay=0.0)


async def test_system_exit_beside_a_retryable_error_is_not_swallowed() -> None:
    # A connect_stream with an inner nursery (happy eyeballs, as trio.open_tcp_stream has)
    # can fail with a group; a SystemExit in it must end the client, not be retried away.
    attempts = 0

    async def connect() -> trio.abc.Stream:
        nonlocal attempts
        attempts += 1
        raise BaseExceptionGroup("connect", [ConnectionRefusedError(), SystemExit(3)])

    with capture_logs(), pytest.raises(BaseExceptionGroup) as info:
        async with open_ws_client(
            "ws://x/ws", reconnect=NO_RETRY_DELAY, connect_stream=connect
        ) as client:
            await client.wait_open()
    assert info.value.subgroup(SystemExit) is not None
    assert attempts == 1


async def test_fatal_error_beside_a_retryable_error_is_raised() -> None:
    attempts = 0

    async def connect() -> trio.abc.Stream:
        nonlocal attempts
        attempts += 1
        raise ExceptionGroup("connect", [ConnectionRefusedError(), TypeError("a bug")])

    with capture_logs(), pytest.raises(TypeError, match=r"^a bug$"):
        async with open_ws_client(
            "ws://x/ws", reconnect=NO_RETRY_DELAY, connect_stream=connect
        ) as client:
            await client.wait_open()
    assert attempts == 1


async def test_supervisor_bug_reaches_a_waiting_block_as_itself() -> None:
    # The block waiting in wait_open() is cancelled, not woken into a ClosedResourceError
    # that would travel beside the bug in an ExceptionGroup.
    async def connect() -> trio.abc.Stream:
        raise TypeError("a bug")

    with capture_logs(), pytest.raises(TypeError, match=r"^a bug$"):
        async with open_ws_client("ws://x/ws", connect_stream=connect) as client:
            await client.wait_open()


async def test_ws_test_server_body_error_is_not_wrapped() -> None:
    with pytest.raises(KeyError, match=r"^'body'$"):
        async with open_ws_test_server():
            raise KeyError("body")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"port": -1}, ValueError, "port must be >= 0, got -1"),
        ({"port": 70000}, ValueError, "port must be in 0..65535, got 70000"),
        ({"port": True}, TypeError, "port must be an int, got True"),
        ({"port": "80"}, TypeError, "port must be an int, got '80'"),
        ({"path": 5}, TypeError, "path must be a str, got 5"),
        ({"path": "ws"}, ValueError, "path must start with '/', got 'ws'"),
    ],
)
async def test_ws_test_server_rejects_bad_arguments(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"^{message}$"):
        async with open_ws_test_server(**kwargs):  # type: ignore[arg-type]
            raise AssertionError("must not start")


async def test_deeply_nested_json_is_dropped_not_fatal() -> None:
    deep = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError on it
    with trio.fail_after(5), capture_logs() as logs:
        async with (
            open_ws_test_server() as server,
            open_ws_client(server.url, heartbeat_interval=None) as client,
        ):
            await client.wait_open()
            await server.send_to_all(deep)
            await server.send_to_all('{"t": "after", "data": 1}')
            envelope = await client.receive()
            stats = client.stats
    assert envelope == Envelope("after", 1)
    assert (stats.invalid_json, stats.received, stats.connects) == (1, 2, 1)
    dropped = [e for e in logs if e["event"] == "trio_orch.ws.message_dropped"]
    assert [e["detail"] for e in dropped] == ["JSON nested too deeply"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"send_drop": "x"}, TypeError, "send_drop must be a DropPolicy, got 'x'"),
        ({"receive_drop": None}, TypeError, "receive_drop must be a DropPolicy, got None"),
        (
            {"send_buffer": 0, "send_drop": DropPolicy.OLDEST},
            ValueError,
            r"send_buffer must be >= 1 with send_drop=DropPolicy\.OLDEST, got 0",
        ),
    ],
)
async def test_buffer_arguments_are_named_in_errors(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"^{message}$"):
        async with open_ws_client("ws://127.0.0.1:1/ws", **kwargs):  # type: ignore[arg-type]
            raise AssertionError("must not start")
