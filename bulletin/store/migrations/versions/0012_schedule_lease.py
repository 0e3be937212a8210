"""A lease on a running schedule: the service sending it renews `heartbeat_at`, so that a
service on another host can tell one whose sender was killed (no renewal for a lease period)
and mark it stopped (issue 16).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("schedules",
                  sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schedules") as batch:
        batch.drop_column("heartbeat_at")
