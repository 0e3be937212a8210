"""The public archive of sent issues (view in browser), and subscribers' pauses of their
lists (from the preferences page).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("newsletter", sa.String(64), nullable=False),
        sa.Column("issue", sa.String(200), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive")),
        sa.UniqueConstraint("newsletter", "issue", "language",
                            name=op.f("uq_archive_newsletter_issue_language")),
    )
    op.create_table(
        "pauses",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_pauses_subscriber_id_subscribers")),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"], name=op.f("fk_pauses_list_id_lists")),
        sa.PrimaryKeyConstraint("subscriber_id", "list_id", name=op.f("pk_pauses")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_pauses_until"), "pauses", ["until"])


def downgrade() -> None:
    op.drop_table("pauses")
    op.drop_table("archive")
