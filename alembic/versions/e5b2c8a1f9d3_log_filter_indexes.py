"""activity logs: indexes for the usage log by kind and model and for the audit trail by user

Revision ID: e5b2c8a1f9d3
Revises: c3f9a2d417e8
Create Date: 2026-11-23 12:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = "e5b2c8a1f9d3"
down_revision: Union[str, None] = "c3f9a2d417e8"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_usage_event_org_kind_model_time", "usage_event",
                    ["org_id", "kind", "model_id", "occurred_at", "id"], unique=False)
    op.create_index("ix_audit_org_actor_seq", "audit_event", ["org_id", "actor_id", "seq"], unique=False)
    op.create_index("ix_audit_org_target_seq", "audit_event", ["org_id", "target_type", "target_id", "seq"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_org_target_seq", table_name="audit_event")
    op.drop_index("ix_audit_org_actor_seq", table_name="audit_event")
    op.drop_index("ix_usage_event_org_kind_model_time", table_name="usage_event")
