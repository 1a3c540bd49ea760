"""enterprise onboarding requests and notifications

Revision ID: a7e3c1d9b2f4
Revises: fccaa82d3820
Create Date: 2026-11-22 14:16:50.733041
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'a7e3c1d9b2f4'
down_revision: Union[str, None] = 'fccaa82d3820'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('enterprise_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requester_id', sa.Integer(), nullable=False),
    sa.Column('org_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('billing_address', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('user_emails', sa.JSON(), nullable=False),
    sa.Column('admin_emails', sa.JSON(), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('training_tokens', sa.BigInteger(), nullable=False),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], ),
    sa.ForeignKeyConstraint(['requester_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['reviewer_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('enterprise_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enterprise_request_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_enterprise_request_requester_id'), ['requester_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_enterprise_request_status'), ['status'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('read_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_user_id'))

    op.drop_table('notification')
    with op.batch_alter_table('enterprise_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enterprise_request_status'))
        batch_op.drop_index(batch_op.f('ix_enterprise_request_requester_id'))
        batch_op.drop_index(batch_op.f('ix_enterprise_request_created_at'))

    op.drop_table('enterprise_request')
