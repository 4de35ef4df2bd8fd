"""Schema version 3: why a sample failed, as a reason from the vocabulary plus the chemist's text.

Existing failed samples keep their reason in ``notes`` and get ``failure_reason = NULL`` (read as
``other`` by the feasibility model). Plain ``ADD COLUMN`` of nullable columns: no table rebuild
on SQLite, a catalogue-only change on PostgreSQL.

Revision ID: 0003_failure_reason
Revises: 0002_audit_log
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_failure_reason"
down_revision = "0002_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sample", sa.Column("failure_reason", sa.String(), nullable=True))
    op.add_column("sample", sa.Column("failure_detail", sa.String(), nullable=True))
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def downgrade() -> None:
    with op.batch_alter_table("sample") as batch:  # SQLite < 3.35 cannot drop columns in place
        batch.drop_column("failure_detail")
        batch.drop_column("failure_reason")
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
