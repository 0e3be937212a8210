"""Fixtures for the subscriber store, run against SQLite and against a real PostgreSQL server.

Use from a test module with `pytest_plugins = ["tests.store_fixtures"]`. Every PostgreSQL test
gets a schema of its own (dropped afterwards), reached through the connection's search_path, so
tests never see each other's rows. If PostgreSQL does not answer, those tests fail (they are
not skipped): `.ci/install` installs and starts it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bulletin.store import Store
from tests.waiting import SAFETY

POSTGRESQL = os.environ.get("BULLETIN_TEST_POSTGRESQL",
                            "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _with_schema(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    monkeypatch.delenv("BULLETIN_DATABASE_URL", raising=False)
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bulletin.db'}"
        return
    admin = create_engine(POSTGRESQL, isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": int(SAFETY)})
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL does not answer at {POSTGRESQL} "
                    f"({str(exc.orig).strip().splitlines()[0]}); run `bash .ci/install`, which "
                    f"installs and starts it (or set BULLETIN_TEST_POSTGRESQL)", pytrace=False)
    try:
        yield _with_schema(POSTGRESQL, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store.open(database_url) as opened:
        yield opened


@pytest.fixture
def news(store: Store) -> str:
    """A list named 'news' in the store."""
    store.mailing_lists.create("news", newsletter="news", title="News")
    return "news"
