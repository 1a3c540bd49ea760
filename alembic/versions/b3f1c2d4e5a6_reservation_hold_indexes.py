"""gateway: covering indexes for open reservation holds

Budget decisions sum the open holds of an org and of the users they decide for, and the sweeper looks for
held reservations past their expiry (org by org): the two indexes answer all three from the index alone,
whatever the size of the reservation history.

Revision ID: b3f1c2d4e5a6
Revises: db8426dd2041
Create Date: 2026-12-03 11:45:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = "b3f1c2d4e5a6"
down_revision: Union[str, None] = "db8426dd2041"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.drop_index("ix_reservation_org_status")
        batch_op.drop_index("ix_reservation_user_id")
        batch_op.create_index("ix_reservation_held", ["org_id", "status", "expires_at", "kind", "amount"], unique=False)
        batch_op.create_index("ix_reservation_user_held", ["user_id", "status", "expires_at", "org_id", "kind", "amount"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.drop_index("ix_reservation_user_held")
        batch_op.drop_index("ix_reservation_held")
        batch_op.create_index("ix_reservation_user_id", ["user_id"], unique=False)
        batch_op.create_index("ix_reservation_org_status", ["org_id", "status", "expires_at"], unique=False)
