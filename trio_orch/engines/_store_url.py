"""Job stores named by URL: :func:`job_store_from_url` (``sqlite:///``, ``postgresql://``, ``memory://``).

The one table of URL schemes, used by :func:`job_store_from_url` and by the job queue's
``store="sqlite:///jobs.db"``; a store's module (and its database driver) is imported only when
its URL is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trio_orch.engines._jobs_store import JobStore, MemoryJobStore

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["job_store_from_url", "store_from_url"]


def _bad(url: str, why: str) -> ValueError:
    from trio_orch.engines._store_schema import mask_url

    return ValueError(f"store URL {mask_url(url)!r} {why}")


def _memory(_url: str) -> JobStore:
    return MemoryJobStore()


def _sqlite(url: str) -> JobStore:
    from trio_orch.engines._store_sqlite import SqliteJobStore

    rest = url.partition("://")[2]
    if not rest.startswith("/"):
        msg = "names a host: use sqlite:///relative.db or sqlite:////absolute/path.db"
        raise _bad(url, msg)
    path, _, query = rest[1:].partition("?")
    if query:
        raise _bad(url, "has a query string: SqliteJobStore takes no URL options")
    if not path:
        raise _bad(url, "names no file: use sqlite:///relative.db or sqlite:////absolute/path.db")
    return SqliteJobStore(path)


def _postgres(url: str) -> JobStore:
    from urllib.parse import urlsplit

    from trio_orch.engines._store_postgres import PostgresJobStore

    try:
        urlsplit(url).port  # noqa: B018 - parsing the port checks it
    except ValueError as exc:
        raise _bad(url, f"is not a valid URL: {exc}") from None
    return PostgresJobStore(url)


#: URL scheme -> the factory of its store
_SCHEMES: dict[str, Callable[[str], JobStore]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgresql": _postgres,
    "postgres": _postgres,
}


def store_from_url(url: str) -> JobStore:
    """The store ``url`` names, for the job queue's ``store=`` (its message names the argument).

    Raises:
        ValueError: the URL's scheme names no known store.
    """
    factory = _SCHEMES.get(url.partition(":")[0])
    if factory is None or "://" not in url:
        known = ", ".join(f"{s}://" for s in sorted(_SCHEMES))
        msg = f"store must be a JobStore or a store URL ({known}), got {url!r}"
        raise ValueError(msg)
    return factory(url)


def _check_url(url: object) -> None:
    if not isinstance(url, str):
        msg = f"url must be a str, got {url!r}"
        raise TypeError(msg)


def job_store_from_url(url: str) -> JobStore:
    """Make the :class:`~trio_orch.JobStore` a URL names.

    * ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db``:
      a :class:`~trio_orch.SqliteJobStore` on that file;
    * ``postgresql://user:password@host:port/database`` (or ``postgres://``; libpq query
      options such as ``?host=/run/postgresql`` pass through): a
      :class:`~trio_orch.PostgresJobStore`;
    * ``memory://``: a new :class:`~trio_orch.MemoryJobStore`.

    Nothing is opened yet: a durable store connects on its first call, and an unreachable
    database raises :class:`~trio_orch.JobStoreError` then.

    Raises:
        TypeError: ``url`` is not a str.
        ValueError: not a store URL, or a malformed one; the message shows the URL with
            its password masked as ``***``.
    """
    _check_url(url)
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in _SCHEMES:
        known = ", ".join(f"{s}://" for s in sorted(_SCHEMES))
        raise _bad(url, f"names no known store (known: {known})")
    return store_from_url(url)
