"""Subscribers, lists, memberships, the suppression list and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

EMAIL = 320


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(EMAIL), nullable=False),
        sa.Column("email_key", sa.String(EMAIL), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("consent_source", sa.String(200), nullable=True),
        sa.Column("consent_at", _timestamp(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'active', 'unsubscribed', 'bounced', "
                           "'complained')", name=op.f("ck_subscribers_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("email_key", name=op.f("uq_subscribers_email_key")),
    )
    op.create_table(
        "lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("newsletter", sa.String(64), nullable=True),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_lists_name")),
    )
    op.create_table(
        "memberships",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'unsubscribed')",
                           name=op.f("ck_memberships_status")),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"],
                                name=op.f("fk_memberships_list_id_lists")),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_memberships_subscriber_id_subscribers")),
        sa.PrimaryKeyConstraint("list_id", "subscriber_id", name=op.f("pk_memberships")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_memberships_subscriber_id"), "memberships", ["subscriber_id"])
    op.create_table(
        "suppressions",
        sa.Column("email_key", sa.String(EMAIL), nullable=False),
        sa.Column("email", sa.String(EMAIL), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("email_key", name=op.f("pk_suppressions")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("email_key", sa.String(EMAIL), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("old_status", sa.String(16), nullable=True),
        sa.Column("new_status", sa.String(16), nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"],
                                name=op.f("fk_audit_log_list_id_lists")),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_audit_log_subscriber_id_subscribers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_email_key"), "audit_log", ["email_key"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("suppressions")
    op.drop_table("memberships")
    op.drop_table("lists")
    op.drop_table("subscribers")
