"""sessions.owner holds any subject: up to 1 KiB of UTF-8 (identity providers' subjects may be longer than 255)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column("owner", existing_type=sa.String(length=255), type_=sa.String(length=1024))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column("owner", existing_type=sa.String(length=1024), type_=sa.String(length=255))
