"""distribution: scheduled-distribution fields on the policy; job marks for the automatic jobs

Revision ID: d15a7b0e5c21
Revises: fccaa82d3820
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "d15a7b0e5c21"
down_revision: Union[str, None] = "fccaa82d3820"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "job_mark",
        sa.Column("job", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("last_run_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("job", "scope"),
    )
    with op.batch_alter_table("distribution_policy") as b:
        b.add_column(sa.Column("schedule", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                               server_default="off"))
        b.add_column(sa.Column("scheduled_strategy", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                               server_default="equal"))
        b.add_column(sa.Column("lookback_days", sa.Integer(), nullable=False, server_default="30"))


def downgrade() -> None:
    with op.batch_alter_table("distribution_policy") as b:
        b.drop_column("lookback_days")
        b.drop_column("scheduled_strategy")
        b.drop_column("schedule")
    op.drop_table("job_mark")
