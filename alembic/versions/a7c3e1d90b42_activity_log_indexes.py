"""activity logs and statistics: keyset and range indexes

Revision ID: a7c3e1d90b42
Revises: fccaa82d3820
Create Date: 2026-11-22 14:25:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = "a7c3e1d90b42"
down_revision: Union[str, None] = "fccaa82d3820"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_usage_event_time", "usage_event", ["occurred_at", "id"], unique=False)
    op.create_index("ix_usage_user_daily_org_day", "usage_user_daily", ["org_id", "day", "user_id", "kind", "billed_tokens", "events"], unique=False)
    op.create_index("ix_usage_user_monthly_org_month", "usage_user_monthly",
                    ["org_id", "month", "user_id", "kind", "billed_tokens", "events"], unique=False)
    op.create_index("ix_sign_in_org_time", "sign_in_event", ["org_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sign_in_org_time", table_name="sign_in_event")
    op.drop_index("ix_usage_user_monthly_org_month", table_name="usage_user_monthly")
    op.drop_index("ix_usage_user_daily_org_day", table_name="usage_user_daily")
    op.drop_index("ix_usage_event_time", table_name="usage_event")
