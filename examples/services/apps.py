"""Four small HTTP services as plain ASGI apps: identity, communication, content, workflow.

No web framework: :class:`App` is a dozen lines of routing over the ASGI protocol, enough for
JSON in, JSON out.  Each app keeps its state in memory and answers ``GET /health``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import attrs
import trio

JSON = dict[str, Any]


@attrs.frozen
class Request:
    """What a handler gets: the matched path parameters, the query and the JSON body."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any


class HTTPError(Exception):
    """Raised by a handler to answer with ``status`` and ``{"error": detail}``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


Handler = Callable[[Request], Awaitable[tuple[int, Any]]]


class App:
    """A tiny ASGI app: routes like ``/users/{id}`` to ``async handler(request) -> (status, json)``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests = 0
        #: awaited before every handler: a hook for tests (delay or hold a request)
        self.before_request: Callable[[Request], Awaitable[None]] | None = None
        self.route("GET", "/health")(self._health)

    async def _health(self, request: Request) -> tuple[int, Any]:
        return 200, {"service": self.name, "status": "ok"}

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

        def add(handler: Handler) -> Handler:
            self.routes.append((method, regex, handler))
            return handler

        return add

    async def __call__(self, scope: JSON, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.requests += 1
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, payload = await self._dispatch(scope, body)
        data = json.dumps(payload).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _dispatch(self, scope: JSON, body: bytes) -> tuple[int, Any]:
        method, path = scope["method"], scope["path"]
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        allowed = False
        for route_method, regex, handler in self.routes:
            match = regex.match(path)
            if match is None:
                continue
            allowed = True
            if route_method == method:
                request = Request(method, path, match.groupdict(), query, parsed)
                if self.before_request is not None:
                    await self.before_request(request)
                try:
                    return await handler(request)
                except HTTPError as exc:
                    return exc.status, {"error": exc.detail}
        return (405, {"error": "method not allowed"}) if allowed else (404, {"error": "no route"})


def require(body: Any, *fields: str) -> JSON:
    """``body`` as a dict holding ``fields``, or a 422 naming what is missing."""
    if not isinstance(body, dict):
        raise HTTPError(422, "the body must be a JSON object")
    missing = [f for f in fields if f not in body]
    if missing:
        raise HTTPError(422, f"missing fields: {', '.join(missing)}")
    return body


class Ids:
    """``prefix-1``, ``prefix-2``, ...: readable ids for the demo's output."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n}"


# --- identity -------------------------------------------------------------------------------


def identity_app() -> App:
    """Users: ``POST /users``, ``GET /users/{id}``, ``DELETE /users/{id}``, ``GET /users``."""
    app = App("identity")
    users: dict[str, JSON] = {}
    new_id = Ids("user")

    @app.route("POST", "/users")
    async def create(request: Request) -> tuple[int, Any]:
        body = require(request.body, "name", "email")
        if any(u["email"] == body["email"] for u in users.values()):
            raise HTTPError(409, f"a user with email {body['email']!r} exists")
        user = {"id": new_id(), "name": body["name"], "email": body["email"]}
        users[user["id"]] = user
        return 201, user

    @app.route("GET", "/users")
    async def list_users(request: Request) -> tuple[int, Any]:
        return 200, list(users.values())

    @app.route("GET", "/users/{id}")
    async def get(request: Request) -> tuple[int, Any]:
        user = users.get(request.params["id"])
        if user is None:
            raise HTTPError(404, f"no user {request.params['id']!r}")
        return 200, user

    @app.route("DELETE", "/users/{id}")
    async def delete(request: Request) -> tuple[int, Any]:
        if users.pop(request.params["id"], None) is None:
            raise HTTPError(404, f"no user {request.params['id']!r}")
        return 200, {"deleted": request.params["id"]}

    return app


# --- communication --------------------------------------------------------------------------


def communication_app() -> App:
    """Notifications: ``POST /notifications``, ``GET /notifications?user_id=``."""
    app = App("communication")
    sent: list[JSON] = []
    new_id = Ids("msg")

    @app.route("POST", "/notifications")
    async def notify(request: Request) -> tuple[int, Any]:
        body = require(request.body, "user_id", "template")
        await trio.sleep(0.001)  # "delivering"
        message = {"id": new_id(), "status": "sent", **body}
        sent.append(message)
        return 201, message

    @app.route("GET", "/notifications")
    async def list_sent(request: Request) -> tuple[int, Any]:
        user = request.query.get("user_id")
        return 200, [m for m in sent if user is None or m["user_id"] == user]

    return app


# --- content --------------------------------------------------------------------------------


def _analyse(text: str) -> JSON:
    """The "AI": word count, the most frequent longer words, the first sentence."""
    words = re.findall(r"[a-z]+", text.lower())
    keywords = [w for w, _ in Counter(w for w in words if len(w) > 4).most_common(3)]
    summary = text.split(".")[0].strip()
    return {"words": len(words), "keywords": keywords, "summary": summary}


def content_app() -> App:
    """Documents and workspaces, search and a (simulated) AI analysis."""
    app = App("content")
    documents: dict[str, JSON] = {}
    workspaces: dict[str, JSON] = {}
    new_doc, new_space = Ids("doc"), Ids("space")

    @app.route("POST", "/documents")
    async def create(request: Request) -> tuple[int, Any]:
        body = require(request.body, "owner", "title", "body")
        doc = {
            "id": new_doc(),
            "owner": body["owner"],
            "title": body["title"],
            "body": body["body"],
        }
        documents[doc["id"]] = doc
        return 201, doc

    @app.route("GET", "/documents/{id}")
    async def get(request: Request) -> tuple[int, Any]:
        doc = documents.get(request.params["id"])
        if doc is None:
            raise HTTPError(404, f"no document {request.params['id']!r}")
        return 200, doc

    @app.route("POST", "/documents/{id}/analysis")
    async def analyse(request: Request) -> tuple[int, Any]:
        doc = documents.get(request.params["id"])
        if doc is None:
            raise HTTPError(404, f"no document {request.params['id']!r}")
        await trio.sleep(0.005)  # "thinking"
        doc["analysis"] = _analyse(doc["title"] + ". " + doc["body"])
        return 200, doc["analysis"]

    @app.route("GET", "/search")
    async def search(request: Request) -> tuple[int, Any]:
        q = request.query.get("q", "").lower()
        hits = [d for d in documents.values() if q in (d["title"] + " " + d["body"]).lower()]
        return 200, hits

    @app.route("POST", "/workspaces")
    async def create_workspace(request: Request) -> tuple[int, Any]:
        body = require(request.body, "name", "owner", "members")
        space = {"id": new_space(), **body}
        workspaces[space["id"]] = space
        return 201, space

    return app


# --- workflow -------------------------------------------------------------------------------


def workflow_app() -> App:
    """Workflow runs: ``POST /workflows`` starts one, ``GET /workflows?subject=`` lists them."""
    app = App("workflow")
    runs: list[JSON] = []
    new_id = Ids("run")

    @app.route("POST", "/workflows")
    async def start(request: Request) -> tuple[int, Any]:
        body = require(request.body, "name", "subject")
        run = {"id": new_id(), "status": "running", **body}
        runs.append(run)
        return 201, run

    @app.route("GET", "/workflows")
    async def list_runs(request: Request) -> tuple[int, Any]:
        subject = request.query.get("subject")
        return 200, [r for r in runs if subject is None or r["subject"] == subject]

    return app


#: The four services of the demo, by name.
APPS: dict[str, Callable[[], App]] = {
    "identity": identity_app,
    "communication": communication_app,
    "content": content_app,
    "workflow": workflow_app,
}
