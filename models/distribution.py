"""Token distribution policies (one per org and kind), runs with their history, and the per-org run lock."""

from datetime import datetime

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import opt_token_field, token_field, utcnow


class DistributionPolicy(SQLModel, table=True):
    __tablename__ = "distribution_policy"
    __table_args__ = (UniqueConstraint("org_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    kind: str = Field(max_length=20)
    preset: str = Field(default="custom", max_length=20)
    floor: int = token_field(200_000)
    ceiling: int | None = opt_token_field()  # None = unlimited (a None would not override a column default)
    auto_increase: bool = Field(default=False)
    # flat|percent_current|percent_headroom|tiered
    increase_method: str = Field(default="percent_current", max_length=20)
    increase_amount: int = Field(default=25)  # tokens for flat, percent otherwise
    trigger_pct: float = Field(default=90.0)
    cooldown_minutes: int = Field(default=240)
    near_ceiling_bump_pct: int | None = Field(default=None)
    monthly_reset: bool = Field(default=False)
    reclamation: bool = Field(default=False)
    reclaim_schedule: str = Field(default="monthly", max_length=20)
    reclaim_buffer_pct: int = Field(default=20)
    reserve_pct: int = Field(default=0)
    auto_approve: bool = Field(default=False)
    auto_approve_max: int = token_field(500_000)
    schedule: str = Field(default="off", max_length=20)  # scheduled distribution: off|daily|weekly|monthly
    scheduled_strategy: str = Field(default="equal", max_length=20)  # equal|usage|incremental
    lookback_days: int = Field(default=30)  # usage-based strategy window
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="app_user.id")


class DistributionRun(SQLModel, table=True):
    __tablename__ = "distribution_run"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    kind: str = Field(max_length=20)
    strategy: str = Field(max_length=20)
    params: dict = Field(default_factory=dict, sa_type=JSON)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    status: str = Field(default="running", max_length=20)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = Field(default=None)
    total_before: int = token_field()
    total_after: int = token_field()
    changes: list = Field(default_factory=list, sa_type=JSON)


class DistributionLock(SQLModel, table=True):
    """At most one distribution run per org: the row exists while a run holds the lock."""

    __tablename__ = "distribution_lock"

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    run_id: int | None = Field(default=None)
    holder_id: int | None = Field(default=None)
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
