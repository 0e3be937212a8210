"""Each subscriber's language choice as a record (issue 17, the Welsh Language Standards):
where it was made (form, preferences, import, api, cli) and when. Rows from before have
neither (not recorded).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("language_source", sa.String(32), nullable=True))
    op.add_column("subscribers",
                  sa.Column("language_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("language_at")
        batch.drop_column("language_source")
