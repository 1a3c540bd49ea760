"""statistics rollups: org x kind x day, org x model x kind x month, org x user x month and x year (both kinds)

Filled from the existing rollups (which equal the ledger), so the new tables equal the ledger from the start.

Revision ID: c3f9a2d417e8
Revises: db8426dd2041
Create Date: 2026-11-23 10:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c3f9a2d417e8"
down_revision: Union[str, None] = "db8426dd2041"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


_TOTALS = ("tokens", "training", "tokens_events", "training_events")


def _kind() -> sa.Column:
    return sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False)


def upgrade() -> None:
    op.create_table(
        "usage_org_daily",
        sa.Column("org_id", sa.Integer(), nullable=False),
        _kind(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("billed_tokens", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "kind", "day"),
    )
    op.create_table(
        "usage_monthly",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        _kind(),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("billed_tokens", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "model_id", "kind", "month"),
    )
    for table, period in (("usage_user_month_total", "month"), ("usage_user_year_total", "year")):
        op.create_table(
            table,
            sa.Column("org_id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column(period, sa.Date(), nullable=False),
            *[sa.Column(c, sa.BigInteger(), nullable=False) for c in _TOTALS],
            sa.PrimaryKeyConstraint("org_id", "user_id", period),
        )
        op.create_index(f"ix_{table}_org_{period}", table, ["org_id", period, "user_id", *_TOTALS], unique=False)

    pg = op.get_bind().dialect.name == "postgresql"
    month = "CAST(date_trunc('month', day) AS date)" if pg else "substr(day, 1, 7) || '-01'"
    year = "CAST(date_trunc('year', month) AS date)" if pg else "substr(month, 1, 4) || '-01-01'"
    op.execute("INSERT INTO usage_org_daily (org_id, kind, day, billed_tokens, events) "
               "SELECT org_id, kind, day, sum(billed_tokens), sum(events) FROM usage_daily GROUP BY org_id, kind, day")
    op.execute("INSERT INTO usage_monthly (org_id, model_id, kind, month, prompt_tokens, completion_tokens, "
               f"billed_tokens, events) SELECT org_id, model_id, kind, {month}, sum(prompt_tokens), "
               f"sum(completion_tokens), sum(billed_tokens), sum(events) FROM usage_daily "
               f"GROUP BY org_id, model_id, kind, {month}")
    side_by_side = ("sum(CASE WHEN kind = 'tokens' THEN billed_tokens ELSE 0 END), "
                    "sum(CASE WHEN kind = 'tokens' THEN 0 ELSE billed_tokens END), "
                    "sum(CASE WHEN kind = 'tokens' THEN events ELSE 0 END), "
                    "sum(CASE WHEN kind = 'tokens' THEN 0 ELSE events END)")
    op.execute("INSERT INTO usage_user_month_total (org_id, user_id, month, tokens, training, tokens_events, "
               f"training_events) SELECT org_id, user_id, month, {side_by_side} FROM usage_user_monthly "
               "GROUP BY org_id, user_id, month")
    op.execute("INSERT INTO usage_user_year_total (org_id, user_id, year, tokens, training, tokens_events, "
               f"training_events) SELECT org_id, user_id, {year}, {side_by_side} FROM usage_user_monthly "
               f"GROUP BY org_id, user_id, {year}")


def downgrade() -> None:
    for table, period in (("usage_user_year_total", "year"), ("usage_user_month_total", "month")):
        op.drop_index(f"ix_{table}_org_{period}", table_name=table)
        op.drop_table(table)
    op.drop_table("usage_monthly")
    op.drop_table("usage_org_daily")
