"""sessions.approval_rules: the "always allow" rules the session's client granted (a list of rule texts; null: none)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approval_rules", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("approval_rules")
