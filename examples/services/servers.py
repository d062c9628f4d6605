"""Serve the apps with hypercorn on trio, each on its own port of 127.0.0.1, each stoppable."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import attrs
import trio

if TYPE_CHECKING:
    from .apps import App


@attrs.define(eq=False)
class RunningService:
    """One served app: its base URL, and a way to stop it (its cancel scope)."""

    name: str
    url: str
    app: App
    scope: trio.CancelScope
    stopped: trio.Event = attrs.field(factory=trio.Event)

    async def stop(self) -> None:
        """Stop serving (the port refuses connections afterwards); wait until it has."""
        self.scope.cancel(reason=f"stopping the {self.name} service")
        await self.stopped.wait()


async def serve_app(
    name: str, app: App, *, task_status: trio.TaskStatus[RunningService] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve ``app`` on 127.0.0.1 (a free port) until cancelled or stopped."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.loglevel = "WARNING"  # no "Running on ..." banner
    config.graceful_timeout = 0.1
    service: RunningService | None = None
    try:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(partial(serve, app, config, mode="asgi"))
                service = RunningService(name, binds[0], app, scope)
                task_status.started(service)
    finally:
        if service is not None:
            service.stopped.set()


async def start_services(nursery: trio.Nursery) -> dict[str, RunningService]:
    """Start the demo's four services in ``nursery``; return them by name, once they listen."""
    from .apps import APPS

    running: dict[str, RunningService] = {}
    for name, make_app in APPS.items():
        running[name] = await nursery.start(serve_app, name, make_app())
    return running
