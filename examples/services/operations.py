"""The four cross-service operations, each a plain async function run by ``orch.execute``.

Every request to a service goes through ``orch.call(service, ...)``, so that a failure is
attributed to the service that failed (``result.service_errors``).  Independent requests
run concurrently in a nursery (:func:`gather`).
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trio_orch import ServiceOrchestrator

    from .clients import Clients

JSON = dict[str, Any]

#: Documents every new user starts with, and the workflows started for them.
DEFAULT_DOCUMENTS = (
    ("Getting started", "Welcome aboard. Start here: create documents and share workspaces."),
    ("My notes", "Private notes. Only you can read them."),
)
INITIAL_WORKFLOWS = ("welcome-drip", "profile-completion")

#: How long a compensation may take (it runs shielded from cancellation).
COMPENSATION_TIMEOUT = 5.0


async def gather(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run ``calls`` concurrently; return their values in order.

    The first failure cancels the others and is raised as itself (not in an
    ExceptionGroup), with a note when others failed too.
    """
    results: list[Any] = [None] * len(calls)

    async def run(i: int) -> None:
        results[i] = await calls[i]()

    try:
        async with trio.open_nursery() as nursery:
            for i in range(len(calls)):
                nursery.start_soon(run, i)
    except BaseExceptionGroup as group:
        _, errors = group.split(trio.Cancelled)
        if errors is None:
            raise
        first, *others = _leaves(errors)
        if others:
            first.add_note(f"and {len(others)} more failed: {others!r}")
        raise first from None
    return results


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


@attrs.define(eq=False)
class Operations:
    """The demo's operations over ``clients``, attributed through ``orch``."""

    orch: ServiceOrchestrator
    clients: Clients

    def _call(self, service: str, method: str, *args: Any) -> Callable[[], Awaitable[Any]]:
        client = getattr(self.clients, service)
        return partial(self.orch.call, service, getattr(client, method), *args)

    async def onboard_new_user(self, name: str, email: str) -> JSON:
        """Create the user, welcome them, create their documents, start their workflows.

        If anything after the user's creation fails (or is cancelled), the user is deleted
        again: a compensation, shielded from cancellation and bounded in time.
        """
        user = await self._call("identity", "post", "/users", {"name": name, "email": email})()
        try:
            welcome = await self._call(
                "communication",
                "post",
                "/notifications",
                {"user_id": user["id"], "template": "welcome", "channel": "email"},
            )()
            documents = await gather(
                *(
                    self._call(
                        "content",
                        "post",
                        "/documents",
                        {"owner": user["id"], "title": t, "body": b},
                    )
                    for t, b in DEFAULT_DOCUMENTS
                )
            )
            workflows = await gather(
                *(
                    self._call("workflow", "post", "/workflows", {"name": w, "subject": user["id"]})
                    for w in INITIAL_WORKFLOWS
                )
            )
        except BaseException:
            await self._delete_user(user["id"])
            raise
        return {
            "user": user["id"],
            "welcome": welcome["id"],
            "documents": [d["id"] for d in documents],
            "workflows": [w["id"] for w in workflows],
        }

    async def _delete_user(self, user_id: str) -> None:
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + COMPENSATION_TIMEOUT
            # A failure is recorded in service_errors["identity"]; the original error goes on.
            with contextlib.suppress(Exception):
                await self._call("identity", "delete", f"/users/{user_id}")()

    async def process_document_with_ai(self, document_id: str) -> JSON:
        """Analyse a document, then start a review workflow and tell its owner, at once."""
        doc = await self._call("content", "get", f"/documents/{document_id}")()
        analysis = await self._call("content", "post", f"/documents/{document_id}/analysis", {})()
        review, note = await gather(
            self._call(
                "workflow",
                "post",
                "/workflows",
                {"name": "ai-review", "subject": document_id, "keywords": analysis["keywords"]},
            ),
            self._call(
                "communication",
                "post",
                "/notifications",
                {"user_id": doc["owner"], "template": "analysis-ready", "document": document_id},
            ),
        )
        return {
            "document": document_id,
            "analysis": analysis,
            "workflow": review["id"],
            "notification": note["id"],
        }

    async def search_and_trigger_workflows(self, query: str, workflow: str) -> JSON:
        """Start ``workflow`` for every document that matches ``query``."""
        hits = await self._call("content", "get", "/search", {"q": query})()
        runs = await gather(
            *(
                self._call("workflow", "post", "/workflows", {"name": workflow, "subject": d["id"]})
                for d in hits
            )
        )
        return {
            "query": query,
            "documents": [d["id"] for d in hits],
            "workflows": [r["id"] for r in runs],
        }

    async def setup_collaborative_workspace(
        self, owner: str, members: list[str], name: str
    ) -> JSON:
        """Check every member exists, create the workspace, invite them, start its workflow."""
        await gather(*(self._call("identity", "get", f"/users/{u}") for u in [owner, *members]))
        space = await self._call(
            "content", "post", "/workspaces", {"name": name, "owner": owner, "members": members}
        )()
        invitations = await gather(
            *(
                self._call(
                    "communication",
                    "post",
                    "/notifications",
                    {"user_id": m, "template": "workspace-invite", "workspace": space["id"]},
                )
                for m in members
            ),
            self._call(
                "workflow",
                "post",
                "/workflows",
                {"name": "workspace-setup", "subject": space["id"]},
            ),
        )
        return {
            "workspace": space["id"],
            "invited": len(invitations) - 1,
            "workflow": invitations[-1]["id"],
        }
