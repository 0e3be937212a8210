"""What comes back after sending: one row per bounce, complaint, auto-reply or emailed
unsubscribe request processed, unique by a hash of its Message-ID (or of its bytes), with
its evidence compressed (store/inbound.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("attribution", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("diagnostic", sa.Text(), nullable=True),
        sa.Column("evidence", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_inbound_subscriber_id_subscribers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound")),
        sa.UniqueConstraint("key", name=op.f("uq_inbound_key")),
    )
    op.create_index(op.f("ix_inbound_subscriber_id_kind_received_at"), "inbound",
                    ["subscriber_id", "kind", "received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_inbound_subscriber_id_kind_received_at"), table_name="inbound")
    op.drop_table("inbound")
