"""Schema version 2: the audit log, one row per committed write (command, arguments, user, time).

Revision ID: 0002_audit_log
Revises: 0001_initial
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_audit_log"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auditlog",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(), nullable=False),
        sa.Column("args_json", sa.String(), nullable=False),
        sa.Column("changes_json", sa.String(), nullable=False),
        sa.Column("user", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("drxlab_version", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auditlog_command", "auditlog", ["command"], unique=False)
    op.create_index("ix_auditlog_created_at", "auditlog", ["created_at"], unique=False)
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def downgrade() -> None:
    op.drop_index("ix_auditlog_created_at", table_name="auditlog")
    op.drop_index("ix_auditlog_command", table_name="auditlog")
    op.drop_table("auditlog")
    op.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
