"""What each of the store's aggregates (lists, subscriptions, suppressions, ...) stands on: the
engine it reads through, and write transactions through the writer (on SQLite they take the
write lock as they begin, so two writers queue instead of failing half-way)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from . import engine as engines


class Aggregate:
    """One group of the store's operations, on the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writer = engines.writer(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction; what it loaded stays readable after it commits."""
        with Session(self.writer, expire_on_commit=False) as session, session.begin():
            yield session
