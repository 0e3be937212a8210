"""The ledger's index on (issue, state) extended to (issue, state, id): a claim reads the next
pending ids of an issue in id order straight from it, so that its cost does not grow with
the number of pending rows (store/ledger.py, `claim`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_ledger_issue_state_id"), "ledger", ["issue", "state", "id"])
    op.drop_index(op.f("ix_ledger_issue_state"), table_name="ledger")


def downgrade() -> None:
    op.create_index(op.f("ix_ledger_issue_state"), "ledger", ["issue", "state"])
    op.drop_index(op.f("ix_ledger_issue_state_id"), table_name="ledger")
