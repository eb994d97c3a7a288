"""session_inbox: user messages queued durably for a session whose turn another replica runs (PostgreSQL replicas)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=True),
        sa.Column("client_message_id", sa.String(length=128), nullable=False),
        sa.Column("frame", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "client_message_id", name="uq_session_inbox_message"),
    )


def downgrade() -> None:
    op.drop_table("session_inbox")
