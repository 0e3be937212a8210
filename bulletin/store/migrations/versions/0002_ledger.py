"""The send ledger: one row per (issue, subscriber) for the dispatcher.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue", sa.String(200), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed', 'skipped')",
                           name=op.f("ck_ledger_state")),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_ledger_subscriber_id_subscribers")),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"], name=op.f("fk_ledger_list_id_lists")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger")),
        sa.UniqueConstraint("issue", "subscriber_id", name=op.f("uq_ledger_issue_subscriber_id")),
    )
    op.create_index(op.f("ix_ledger_issue_state"), "ledger", ["issue", "state"])


def downgrade() -> None:
    op.drop_table("ledger")
