"""The ledger's index on (issue, state, id) becomes one on (issue, id), and on PostgreSQL its
pages are filled to 30%: with the state in no index, a claim's and an outcome's update
change no indexed column, so PostgreSQL keeps each new version of a row on its page (a HOT
update) and adds no index entries; the rest of the page leaves room for them. A claim
reads the issue's next ids from the new index and the state from the row (store/claims.py).
The fill factor applies to pages filled from now on.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_ledger_issue_id"), "ledger", ["issue", "id"])
    op.drop_index(op.f("ix_ledger_issue_state_id"), table_name="ledger")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger SET (fillfactor = 30)")  # models.LEDGER_FILLFACTOR


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger RESET (fillfactor)")
    op.create_index(op.f("ix_ledger_issue_state_id"), "ledger", ["issue", "state", "id"])
    op.drop_index(op.f("ix_ledger_issue_id"), table_name="ledger")
