"""Workers against a real Redis (`redis_url`, tests/conftest.py) and real `yanbao worker` processes, on
the SQLite store and, where marked, on a shared PostgreSQL store (`postgres_url`). The tests that need
a server skip (never fail) when it or Celery is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from queuekit import Workers


@pytest.fixture(params=["sqlite"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The run store the workers share: "" (SQLite in the out folder), or a PostgreSQL database for the
    tests parametrized with `@pytest.mark.parametrize("store_url", STORES, indirect=True)`."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return ""


@pytest.fixture
def workers(redis_url: str, store_url: str, tmp_path: Path) -> Iterator[Workers]:
    pytest.importorskip("celery", reason="Celery is not installed: pip install -e '.[scale]'")
    pool = Workers(redis_url, tmp_path, store_url)
    try:
        yield pool
    finally:
        pool.stop_all()
