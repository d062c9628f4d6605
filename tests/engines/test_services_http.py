"""The multi-service example end to end: real HTTP servers on 127.0.0.1, one stopped mid-run.

The four services of ``examples/services`` are served by hypercorn in the test's own trio
run, so the test can hold a request inside a server (``app.before_request``) and stop the
workflow service while an operation is half-way through.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio

from trio_orch import (
    ErrorKind,
    HealthStatus,
    Jitter,
    OperationResult,
    ServiceEvent,
    ServiceHealthChanged,
)

httpx = pytest.importorskip("httpx")
pytest.importorskip("hypercorn")

from examples.services.clients import Clients, make_orchestrator  # noqa: E402
from examples.services.operations import Operations  # noqa: E402
from examples.services.servers import start_services  # noqa: E402

if TYPE_CHECKING:
    from examples.services.apps import Request
    from examples.services.servers import RunningService

ROOT = Path(__file__).resolve().parents[2]


async def test_operations_over_http_with_the_workflow_service_stopped_mid_run(
    nursery: trio.Nursery,
) -> None:
    running: dict[str, RunningService] = await start_services(nursery)
    events: list[ServiceEvent] = []
    async with httpx.AsyncClient(timeout=None) as http:
        clients = Clients.connect(http, {name: s.url for name, s in running.items()})
        orch = make_orchestrator(
            clients,
            retry_attempts=2,
            retry_delay=0.01,
            jitter=Jitter.NONE,
            timeout=5.0,
            health_interval=None,
            health_timeout=2.0,
        )
        orch.add_listener(events.append)
        ops = Operations(orch, clients)
        async with orch:
            health = await orch.check_health()
            assert health.overall is HealthStatus.HEALTHY

            # all four operations, every service up
            alice = await orch.execute("onboard", ops.onboard_new_user, "alice", "a@example.com")
            assert alice.success, alice.error
            assert dict(alice.service_errors) == {}
            data = alice.unwrap()
            assert len(data["documents"]) == 2
            assert len(data["workflows"]) == 2
            bob = (
                await orch.execute("onboard", ops.onboard_new_user, "bob", "b@example.com")
            ).unwrap()
            analysed = await orch.execute("ai", ops.process_document_with_ai, data["documents"][0])
            assert analysed.success, analysed.error
            assert analysed.unwrap()["analysis"]["words"] > 0
            found = await orch.execute(
                "search", ops.search_and_trigger_workflows, "getting started", "digest"
            )
            assert len(found.unwrap()["workflows"]) == 2  # alice's and bob's first document
            space = await orch.execute(
                "workspace", ops.setup_collaborative_workspace, data["user"], [bob["user"]], "x"
            )
            assert space.unwrap()["invited"] == 1

            # a permanent HTTP error (409) is attributed and not retried
            again = await orch.execute("onboard", ops.onboard_new_user, "alice", "a@example.com")
            assert again.attempts == 1
            assert again.details["kind"] is ErrorKind.PERMANENT
            assert dict(again.service_errors) == {
                "identity": "ServiceCallError: POST /users answered 409: "
                "a user with email 'a@example.com' exists"
            }

            # stop the workflow service while an operation is half-way through
            analysing, release = trio.Event(), trio.Event()

            async def hold_analysis(request: Request) -> None:
                if request.path.endswith("/analysis"):
                    analysing.set()
                    await release.wait()

            running["content"].app.before_request = hold_analysis
            results: list[OperationResult[Any]] = []

            async def process() -> None:
                doc = data["documents"][1]
                results.append(await orch.execute("ai", ops.process_document_with_ai, doc))

            async with trio.open_nursery() as inner:
                inner.start_soon(process)
                await analysing.wait()
                await running["workflow"].stop()
                release.set()
            [killed] = results
            assert killed.success is False
            assert killed.attempts == 2  # a refused connection is transient: retried
            assert set(killed.service_errors) == {"workflow"}
            assert killed.service_errors["workflow"].startswith("ConnectError: ")

            # onboarding fails at its last step; the compensation deletes the new user
            users_before = await clients.identity.get("/users")
            carol = await orch.execute("onboard", ops.onboard_new_user, "carol", "c@example.com")
            assert carol.success is False
            assert set(carol.service_errors) == {"workflow"}
            assert await clients.identity.get("/users") == users_before

            health = await orch.check_health()
            m = orch.metrics()
    assert health.overall is HealthStatus.UNHEALTHY
    assert {n: h.status for n, h in health.services.items()} == {
        "identity": HealthStatus.HEALTHY,
        "communication": HealthStatus.HEALTHY,
        "content": HealthStatus.HEALTHY,
        "workflow": HealthStatus.UNHEALTHY,
    }
    assert health.services["workflow"].error.startswith("ConnectError: ")  # type: ignore[union-attr]
    changed = [(e.service, e.status) for e in events if isinstance(e, ServiceHealthChanged)]
    assert changed[-1] == ("workflow", HealthStatus.UNHEALTHY)
    assert (m.total, m.successful, m.failed) == (8, 5, 3)
    assert dict(m.availability) == {
        "identity": 1.0,
        "communication": 1.0,
        "content": 1.0,
        "workflow": 0.5,
    }
    assert set(m.call_failures) == {"identity", "workflow"}
    assert m.call_failures["identity"] == 1
    assert m.call_failures["workflow"] >= 4  # two attempts of two operations
    assert 0 < m.average_duration <= m.p95_duration
    nursery.cancel_scope.cancel()


def test_the_demo_command_runs() -> None:
    done = subprocess.run(
        [sys.executable, "examples/services/demo.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "onboard_new_user(dave)             FAILED" in done.stdout
    assert "workflow       UNHEALTHY" in done.stdout
    assert "dave's account was rolled back" in done.stdout
