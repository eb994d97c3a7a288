"""session_leases: which replica writes a session, until when (renewed by its heartbeat; PostgreSQL replicas)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_leases",
        sa.Column("session_id", sa.String(length=64), primary_key=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_session_leases_owner", "session_leases", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_session_leases_owner", table_name="session_leases")
    op.drop_table("session_leases")
