"""Soft bounces traced to the message they were about (store/inbound.py): each inbound row
keeps the issue of its ledger row (`issue`) and `original`, what identifies the original
message (the ledger row, else a hash of the Message-ID the report quotes), so that repeated
reports about one message count once and "K consecutive issues" can be counted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound") as table:
        table.add_column(sa.Column("issue", sa.String(200), nullable=True))
        table.add_column(sa.Column("original", sa.String(64), nullable=True))
    # Rows recorded before: their ledger row names their issue and their original message.
    op.execute("UPDATE inbound SET issue = (SELECT ledger.issue FROM ledger "
               "WHERE ledger.id = inbound.delivery_id), "
               "original = 'delivery:' || CAST(delivery_id AS VARCHAR(20)) "
               "WHERE delivery_id IS NOT NULL")
    op.create_index(op.f("ix_inbound_subscriber_id_issue"), "inbound",
                    ["subscriber_id", "issue"])


def downgrade() -> None:
    op.drop_index(op.f("ix_inbound_subscriber_id_issue"), table_name="inbound")
    with op.batch_alter_table("inbound") as table:
        table.drop_column("original")
        table.drop_column("issue")
