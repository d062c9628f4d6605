"""Fixtures of the engine tests: the durable stores' databases, started on first use.

The PostgreSQL server (tests/pg.py) starts the first time a test needs it and stops at the
end of the session; every store the factories of tests/engines/job_stores.py made is closed
after its test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests import pg
from tests.engines import store_factories

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True, scope="session")
def _postgres_session() -> Iterator[None]:
    yield
    store_factories.close_all()
    pg.stop_pg()
    store_factories.remove_files()


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    store_factories.close_all()
