"""Marks of the automatic jobs: which period a job already ran for (idempotency) and when a per-user job
last acted (cooldowns). One row per (job, scope), claimed with a conditional UPDATE."""

from datetime import datetime

from sqlmodel import Field, SQLModel


class JobMark(SQLModel, table=True):
    __tablename__ = "job_mark"

    job: str = Field(primary_key=True, max_length=40)  # monthly_reset | reclamation | auto_increase | …
    scope: str = Field(primary_key=True, max_length=80)  # e.g. "org:3:tokens" or "user:17:tokens"
    period: str = Field(default="", max_length=40)  # the period last handled ("2026-11", "2026-W47", …)
    last_run_at: datetime | None = Field(default=None)
