"""A reconnecting WebSocket client against a local server that misbehaves on purpose.

Runs in about a second, on 127.0.0.1 only:

1. connect, register payload types, round-trip a typed message;
2. the server drops the TCP connection mid-stream; sends made while reconnecting are
   buffered and go out in order, once, on the new connection;
3. the server stops, and restarts on the same port; the client comes back by itself;
4. the server refuses the handshake with 403: fatal, reported as HandshakeRejected.

Run it: ``python examples/ws_demo.py``
"""

from __future__ import annotations

import logging
import sys

import attrs
import trio

from trio_orch import (
    ConnectionState,
    HandshakeRejected,
    Jitter,
    ReconnectPolicy,
    open_ws_client,
)
from trio_orch.testing import open_ws_test_server

# The library logs only unusual paths (a reconnect, a give-up, lost messages) on the
# standard-library logger "trio_orch.ws", WARNING and up; the application decides where
# they go.  Here: inline with the demo's output.
logging.basicConfig(
    level=logging.WARNING, stream=sys.stdout, format="  log %(levelname)s: %(message)s"
)


@attrs.frozen
class Hello:
    client_info: str


@attrs.frozen
class Chat:
    seq: int
    text: str


class States:
    """Records state changes and lets the demo wait for one."""

    def __init__(self) -> None:
        self.seen: list[ConnectionState] = []
        self._changed = trio.Event()

    def __call__(self, state: ConnectionState) -> None:
        print(f"  state: {state.name}")
        self.seen.append(state)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, state: ConnectionState, count: int) -> None:
        while self.seen.count(state) < count:
            await self._changed.wait()


async def main() -> None:
    policy = ReconnectPolicy(
        max_attempts=20, initial_delay=0.01, max_delay=0.2, jitter=Jitter.EQUAL
    )
    states = States()
    async with open_ws_test_server() as server:
        print(f"server listening at {server.url}")
        async with open_ws_client(
            server.url, reconnect=policy, heartbeat_interval=1.0, on_state_change=states
        ) as client:
            client.register("hello", Hello)
            client.register("chat", Chat)

            print("1. typed round trip")
            await client.send("hello", Hello(client_info="python"))
            print(f"  echoed: {await client.receive()}")

            print("2. the server drops the TCP connection after its next message")
            server.drop_after = 1
            server.reject_status = 503  # and refuses (retryably) while we buffer
            await client.send("chat", Chat(0, "this one hits the dying connection"))
            await states.wait_for(ConnectionState.RECONNECTING, 1)
            for seq in range(1, 4):
                await client.send("chat", Chat(seq, "buffered while reconnecting"))
            print(f"  buffered: {client.stats.buffered} messages")
            server.drop_after = None
            server.reject_status = None
            await states.wait_for(ConnectionState.OPEN, 2)
            for _ in range(3):
                envelope = await client.receive()
                print(f"  echoed after reconnect: {envelope.data}")
            print(f"  possibly lost with the old connection: {client.stats.possibly_lost}")

            print("3. the server stops and restarts on the same port")
            await server.stop()
            await states.wait_for(ConnectionState.RECONNECTING, 2)
            await server.start()
            await client.wait_open()
            await client.send("chat", Chat(4, "back again"))
            print(f"  echoed: {(await client.receive()).data}")
            print(f"  stats: {client.stats}")

        print("4. the server refuses the handshake with 403 (fatal, not retried)")
        server.reject_status = 403
        try:
            async with open_ws_client(server.url, reconnect=policy) as client:
                await client.wait_open()
        except HandshakeRejected as exc:
            print(f"  {type(exc).__name__}: {exc} (status {exc.status_code})")
        print(f"  handshakes the server saw in all: {server.handshakes}")


if __name__ == "__main__":
    trio.run(main)
