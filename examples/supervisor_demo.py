"""A Supervisor restarting crashing children, and a supervised subprocess.

Run it: ``python examples/supervisor_demo.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import trio

from trio_orch import (
    Backoff,
    ChildRestarted,
    Jitter,
    RestartPolicy,
    Supervisor,
    SupervisorStrategy,
    monitor_process,
    open_event_bus,
)

POLICY = RestartPolicy(
    max_restarts=5, window=10.0, backoff=Backoff(initial_delay=0.01, jitter=Jitter.NONE)
)


async def main() -> None:
    async with open_event_bus() as bus:
        bus.on(ChildRestarted, lambda e: print(f"restarted {e.name} ({e.restarts}): {e.error!r}"))
        attempts = 0

        async def flaky_worker() -> None:
            nonlocal attempts
            attempts += 1
            await trio.sleep(0.01)
            if attempts < 3:
                raise ConnectionError(f"lost the connection (attempt {attempts})")
            await trio.sleep_forever()

        beats = 0

        async def heartbeat() -> None:
            nonlocal beats
            while True:
                await trio.sleep(0.02)
                beats += 1

        async with Supervisor(SupervisorStrategy.REST_FOR_ONE, POLICY, bus=bus) as sup:
            await sup.start_child("worker", flaky_worker)
            await sup.start_child("heartbeat", heartbeat)
            await trio.sleep(0.2)
            print(f"children {sup.children()}, restarts {sup.stats.restarts}")

        # A subprocess that fails twice, then succeeds; its output lines are printed.
        with tempfile.TemporaryDirectory() as tmp:
            counter = Path(tmp, "runs")
            script = (
                "import pathlib, sys\n"
                f"p = pathlib.Path({str(counter)!r})\n"
                "n = int(p.read_text()) + 1 if p.exists() else 1\n"
                "p.write_text(str(n))\n"
                "print(f'child process, run {n}')\n"
                "sys.exit(0 if n == 3 else 1)\n"
            )
            report = await monitor_process(
                [sys.executable, "-c", script], restart=POLICY, on_output=print, bus=bus
            )
        print(f"exit codes {report.exit_codes}, restarts {report.restarts}")


if __name__ == "__main__":
    trio.run(main)
