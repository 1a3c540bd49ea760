"""sign-in throttling without locks (exponential delays only), trusted browsers on sessions

Revision ID: f1a2b3c4d5e6
Revises: b3f1c2d4e5a6, e5b2c8a1f9d3
Create Date: 2026-12-04 20:10:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "f1a2b3c4d5e6"
down_revision: Union[str, Sequence[str], None] = ("b3f1c2d4e5a6", "e5b2c8a1f9d3")
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("login_throttle") as batch:
        batch.drop_column("locked_until")
        batch.create_index("ix_login_throttle_last_failure_at", ["last_failure_at"], unique=False)
    with op.batch_alter_table("auth_session") as batch:
        batch.add_column(sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_session") as batch:
        batch.drop_column("device_id")
    with op.batch_alter_table("login_throttle") as batch:
        batch.drop_index("ix_login_throttle_last_failure_at")
        batch.add_column(sa.Column("locked_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
