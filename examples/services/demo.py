"""Four real HTTP services, one ServiceOrchestrator, and one of the services going down.

Run it (from the repository root): ``python examples/services/demo.py``
(or ``python -m examples.services``, or ``python examples/services_demo.py``).

It serves identity, communication, content and workflow with hypercorn on trio (each on a
free port of 127.0.0.1), talks to them with httpx, runs the four cross-service operations,
then stops the workflow service and shows what the orchestrator reports: the failed
onboarding (attributed to "workflow", its user deleted again by the compensation), the
health of every service, and the metrics.  Needs the ``examples`` extra
(``pip install trio-orch[examples]``: hypercorn and httpx).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import trio

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "examples.services"

from trio_orch import OperationResult, ServiceEvent, ServiceHealthChanged, ServiceOrchestrator

from .clients import Clients, make_orchestrator
from .operations import Operations
from .servers import start_services

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def show(result: OperationResult[object]) -> None:
    """One line per operation: outcome, attempts, duration, and which services failed."""
    outcome = "ok    " if result.success else "FAILED"
    line = f"  {result.operation:<34} {outcome} attempts={result.attempts} {result.duration * 1000:6.1f} ms"
    if not result.success:
        line += f"\n      error: {result.error}"
    for service, error in result.service_errors.items():
        line += f"\n      {service} failed: {error}"
    print(line)


def on_event(event: ServiceEvent) -> None:
    if isinstance(event, ServiceHealthChanged):
        print(f"  [health] {event.service}: {event.previous.name} -> {event.status.name}")


async def run(
    orch: ServiceOrchestrator, ops: Operations, stop_workflow: Callable[[], Awaitable[None]]
) -> None:
    """The demo's story, over an open orchestrator."""
    print("onboarding three users (one batch):")
    onboarded = await orch.execute_many(
        [
            (f"onboard_new_user({name})", ops.onboard_new_user, (name, f"{name}@example.com"))
            for name in ("alice", "bob", "carol")
        ]
    )
    for result in onboarded:
        show(result)
    alice, bob, carol = (r.unwrap()["user"] for r in onboarded)
    first_doc = onboarded[0].unwrap()["documents"][0]

    print("working across services:")
    show(await orch.execute("process_document_with_ai", ops.process_document_with_ai, first_doc))
    show(
        await orch.execute(
            "search_and_trigger_workflows",
            ops.search_and_trigger_workflows,
            "getting started",
            "digest",
        )
    )
    show(
        await orch.execute(
            "setup_collaborative_workspace",
            ops.setup_collaborative_workspace,
            alice,
            [bob, carol],
            "launch",
        )
    )

    print("stopping the workflow service...")
    await stop_workflow()
    result = await orch.execute(
        "onboard_new_user(dave)", ops.onboard_new_user, "dave", "dave@example.com"
    )
    show(result)
    users = await ops.clients.identity.get("/users")
    print(f"  users now: {', '.join(u['name'] for u in users)} (dave's account was rolled back)")
    show(await orch.execute("process_document_with_ai", ops.process_document_with_ai, first_doc))

    health = await orch.check_health()
    print(f"health: {health.overall.name}")
    for name, service in health.services.items():
        error = f"  ({service.error})" if service.error else ""
        print(
            f"  {name:<14} {service.status.name:<9} failures in a row={service.consecutive_failures}{error}"
        )
    m = orch.metrics()
    print(
        f"metrics: {m.total} operations, {m.successful} ok, {m.failed} failed, "
        f"average {m.average_duration * 1000:.1f} ms, p95 {m.p95_duration * 1000:.1f} ms, "
        f"uptime {m.uptime:.2f} s"
    )
    availability = ", ".join(f"{k} {v:.0%}" for k, v in m.availability.items())
    print(f"  availability: {availability}")
    print(f"  failed calls: {dict(m.call_failures)}")


async def main() -> None:
    import httpx

    async with trio.open_nursery() as nursery:
        running = await start_services(nursery)
        for name, service in running.items():
            print(f"{name:<14} serving on {service.url}")
        async with httpx.AsyncClient(timeout=None) as http:
            clients = Clients.connect(http, {n: s.url for n, s in running.items()})
            orch = make_orchestrator(
                clients,
                retry_attempts=2,
                retry_delay=0.05,
                timeout=2.0,
                health_interval=0.5,
                health_timeout=0.5,
            )
            orch.add_listener(on_event)
            async with orch:
                await orch.check_health()
                await run(orch, Operations(orch, clients), running["workflow"].stop)
        nursery.cancel_scope.cancel(reason="the demo is over")


if __name__ == "__main__":
    # The failures below are on purpose: keep the library's warnings off the terminal.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger("trio_orch").setLevel(logging.ERROR)
    trio.run(main)
