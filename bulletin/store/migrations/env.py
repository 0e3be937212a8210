"""Alembic's environment: run by bulletin.store.migrate with a connection already open (there
is no alembic.ini; see migrate.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from bulletin.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)

with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two processes starting on a fresh database (the web service and the sender) must not
        # both create the tables: the second waits here, then finds them made.
        connection.execute(text("SELECT pg_advisory_xact_lock(7261901512)"))
    context.run_migrations()
