"""WebSocket client throughput: small envelopes echoed through a local server.

One trio-websocket echo server on 127.0.0.1 (``trio_orch.testing``); a sender task and a
receiver task pipeline ``n`` small ``{"t": ..., "data": ...}`` messages through it.

- raw: trio-websocket ``send_message``/``get_message`` with ``json.dumps``/``json.loads``
  (the work an application does by hand);
- client: :func:`trio_orch.open_ws_client` ``send``/``receive`` with raw JSON data;
- client typed: the same with an attrs payload structured by cattrs both ways.

Target: client >= 0.7x raw.
"""

from __future__ import annotations

import json

import attrs
import trio
import trio_websocket

from trio_orch import open_ws_client
from trio_orch.bench import Figure, best_of, measures
from trio_orch.testing import open_ws_test_server


@attrs.frozen
class Tick:
    seq: int
    name: str


async def _raw(url: str, n: int) -> None:
    async with trio_websocket.open_websocket_url(url) as ws, trio.open_nursery() as nursery:

        async def sender() -> None:  # noqa: ASYNC910 - its loop's awaits checkpoint
            for i in range(n):
                await ws.send_message(
                    json.dumps(
                        {"t": "tick", "data": {"seq": i, "name": "x"}}, separators=(",", ":")
                    )
                )

        nursery.start_soon(sender)
        for i in range(n):
            message = json.loads(await ws.get_message())
            assert message["data"]["seq"] == i


async def _client(url: str, n: int, *, typed: bool) -> None:
    async with (
        open_ws_client(url, heartbeat_interval=None, send_buffer=256) as client,
        trio.open_nursery() as nursery,
    ):
        if typed:
            client.register("tick", Tick)

        async def sender() -> None:  # noqa: ASYNC910 - its loop's awaits checkpoint
            for i in range(n):
                data = Tick(i, "x") if typed else {"seq": i, "name": "x"}
                await client.send("tick", data)

        nursery.start_soon(sender)
        for i in range(n):
            envelope = await client.receive()
            seq = envelope.data.seq if typed else envelope.data["seq"]
            assert seq == i


def _measure(n: int, repeat: int) -> tuple[float, float, float]:
    async def run(kind: str) -> None:
        async with open_ws_test_server() as server:
            server.received = _Discard()  # type: ignore[assignment]  # keep memory flat
            if kind == "raw":
                await _raw(server.url, n)
            else:
                await _client(server.url, n, typed=kind == "typed")

    # No logging configuration: the client logs nothing on this path (connecting, sending
    # and receiving are events, not log lines), so this is what users get by default.
    raw = best_of(lambda: trio.run(run, "raw"), repeat)
    client = best_of(lambda: trio.run(run, "client"), repeat)
    typed = best_of(lambda: trio.run(run, "typed"), repeat)
    return raw, client, typed


class _Discard(list[object]):
    def append(self, item: object) -> None:
        pass


@measures
def suite(quick: bool) -> list[Figure]:
    n = 300 if quick else 10_000
    repeat = 1 if quick else 2  # the harness repeats the whole suite too
    raw, client, typed = _measure(n, repeat)
    raw_rate, client_rate, typed_rate = n / raw, n / client, n / typed
    return [
        Figure("raw trio-websocket send/get_message + json", raw_rate, "msg/s"),
        Figure(
            "open_ws_client send/receive (raw JSON data)",
            client_rate,
            "msg/s",
            baseline="raw",
            ratio=client_rate / raw_rate,
            target=">= 0.7x",
        ),
        Figure(
            "open_ws_client send/receive (attrs payload via cattrs)",
            typed_rate,
            "msg/s",
            baseline="raw",
            ratio=typed_rate / raw_rate,
        ),
    ]
