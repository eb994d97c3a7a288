"""client message ids: idempotent user messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_messages",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("client_message_id", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("after_seq", sa.BigInteger(), nullable=False),
        sa.Column("done_seq", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
        sa.PrimaryKeyConstraint("session_id", "client_message_id"),
    )


def downgrade() -> None:
    op.drop_table("client_messages")
