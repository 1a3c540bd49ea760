"""The append-only usage ledger and the rollups written in the same transaction.

Rollup grains are coarse on purpose (DESIGN.md): every chart and counter reads at most a few thousand rows.
"""

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from models.base import BIGINT_PK, token_field, utcnow


class UsageEvent(SQLModel, table=True):
    __tablename__ = "usage_event"
    __table_args__ = (
        Index("ix_usage_event_org_time", "org_id", "occurred_at", "id"),
        Index("ix_usage_event_user_time", "user_id", "occurred_at", "id"),
        Index("ix_usage_event_time", "occurred_at", "id"),  # the all-orgs usage log (keyset)
        # The usage log filtered by model and/or kind (one keyset branch per kind × model:
        # services/analytics/usage_log.py).
        Index("ix_usage_event_org_kind_model_time", "org_id", "kind", "model_id", "occurred_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    idempotency_key: str = Field(max_length=200, unique=True)
    org_id: int = Field(foreign_key="organization.id")
    user_id: int = Field(foreign_key="app_user.id")
    model_id: int = Field(foreign_key="ai_model.id")
    kind: str = Field(max_length=20)
    prompt_tokens: int = token_field()
    completion_tokens: int = token_field()
    billed_tokens: int = token_field()
    occurred_at: datetime
    ip: str = Field(default="", max_length=45)
    recorded_at: datetime = Field(default_factory=utcnow)


class UsageDaily(SQLModel, table=True):
    """org × model × kind × day."""

    __tablename__ = "usage_daily"

    org_id: int = Field(primary_key=True)
    model_id: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)
    day: date = Field(primary_key=True)
    prompt_tokens: int = token_field()
    completion_tokens: int = token_field()
    billed_tokens: int = token_field()
    events: int = token_field()


class UsageHourly(SQLModel, table=True):
    """org × kind × hour (for hour granularity over short ranges)."""

    __tablename__ = "usage_hourly"

    org_id: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)
    hour: datetime = Field(primary_key=True)
    billed_tokens: int = token_field()
    events: int = token_field()


class UsageUserMonthly(SQLModel, table=True):
    """org × user × kind × month: "used this month" and per-user totals."""

    __tablename__ = "usage_user_monthly"
    # Covering index: every user's total over a set of months (top users, per-user exports).
    __table_args__ = (Index("ix_usage_user_monthly_org_month", "org_id", "month", "user_id", "kind",
                            "billed_tokens", "events"),)

    org_id: int = Field(primary_key=True)
    user_id: int = Field(primary_key=True, index=True)
    kind: str = Field(primary_key=True, max_length=20)
    month: date = Field(primary_key=True)
    billed_tokens: int = token_field()
    events: int = token_field()


class UsageUserDaily(SQLModel, table=True):
    """org × user × kind × day: per-user usage over a date range, burn rate."""

    __tablename__ = "usage_user_daily"
    # Covering index for the partial months at the edges of a range (statistics.per_user).
    __table_args__ = (Index("ix_usage_user_daily_org_day", "org_id", "day", "user_id", "kind", "billed_tokens",
                            "events"),)

    org_id: int = Field(primary_key=True)
    user_id: int = Field(primary_key=True, index=True)
    kind: str = Field(primary_key=True, max_length=20)
    day: date = Field(primary_key=True)
    billed_tokens: int = token_field()
    events: int = token_field()


class UsageOrgDaily(SQLModel, table=True):
    """org × kind × day: usage over time, the cards (month, pool, burn) — two rows a day per org."""

    __tablename__ = "usage_org_daily"

    org_id: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)
    day: date = Field(primary_key=True)
    billed_tokens: int = token_field()
    events: int = token_field()


class UsageMonthly(SQLModel, table=True):
    """org × model × kind × month: usage by model and the monthly chart over long ranges."""

    __tablename__ = "usage_monthly"

    org_id: int = Field(primary_key=True)
    model_id: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)
    month: date = Field(primary_key=True)
    prompt_tokens: int = token_field()
    completion_tokens: int = token_field()
    billed_tokens: int = token_field()
    events: int = token_field()


class KindTotals(SQLModel):
    """Both kinds side by side (one row per user and period instead of one per kind)."""

    tokens: int = token_field()  # billed inference tokens
    training: int = token_field()  # billed training tokens
    tokens_events: int = token_field()
    training_events: int = token_field()


class UsageUserMonthTotal(KindTotals, table=True):
    """org × user × month, both kinds side by side (half the rows of usage_user_monthly): per-user totals over a
    range — top users read every user once per month or year."""

    __tablename__ = "usage_user_month_total"
    __table_args__ = (Index("ix_usage_user_month_total_org_month", "org_id", "month", "user_id", "tokens", "training",
                            "tokens_events", "training_events"),)

    org_id: int = Field(primary_key=True)
    user_id: int = Field(primary_key=True)
    month: date = Field(primary_key=True)


class UsageUserYearTotal(KindTotals, table=True):
    """org × user × calendar year (`year` = 1 January), both kinds side by side: long ranges read one row per
    user and year instead of twelve."""

    __tablename__ = "usage_user_year_total"
    __table_args__ = (Index("ix_usage_user_year_total_org_year", "org_id", "year", "user_id", "tokens", "training",
                            "tokens_events", "training_events"),)

    org_id: int = Field(primary_key=True)
    user_id: int = Field(primary_key=True)
    year: date = Field(primary_key=True)


ROLLUP_TABLES = (UsageDaily, UsageHourly, UsageUserMonthly, UsageUserDaily, UsageOrgDaily, UsageMonthly,
                 UsageUserMonthTotal, UsageUserYearTotal)
