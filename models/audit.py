"""The append-only, hash-chained admin audit trail and the sign-in history."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index
from sqlmodel import Field, SQLModel

from models.base import BIGINT_PK, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_org_seq", "org_id", "seq"),
        # The audit trail filtered by user: as actor, and as target (services/analytics/audit_log.py reads
        # both in order).
        Index("ix_audit_org_actor_seq", "org_id", "actor_id", "seq"),
        Index("ix_audit_org_target_seq", "org_id", "target_type", "target_id", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    seq: int = Field(sa_type=BigInteger, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    actor_id: int | None = Field(default=None)
    actor_email: str = Field(default="", max_length=320)
    org_id: int | None = Field(default=None)
    action: str = Field(max_length=60, index=True)
    target_type: str = Field(default="", max_length=40)
    target_id: str = Field(default="", max_length=64)
    before: dict | None = Field(default=None, sa_type=JSON)
    after: dict | None = Field(default=None, sa_type=JSON)
    ip: str = Field(default="", max_length=45)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """One row (id=1) holding the chain's tip; locked while appending so the chain stays linear."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_type=BigInteger)
    hash: str = Field(default="0" * 64, max_length=64)


class SignInEvent(SQLModel, table=True):
    __tablename__ = "sign_in_event"
    __table_args__ = (
        Index("ix_sign_in_time", "created_at", "id"),
        Index("ix_sign_in_org_time", "org_id", "created_at", "id"),  # an org's sign-in log (keyset)
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    created_at: datetime = Field(default_factory=utcnow)
    user_id: int | None = Field(default=None, index=True)
    org_id: int | None = Field(default=None, index=True)
    email: str = Field(default="", max_length=320)
    ip: str = Field(default="", max_length=45)
    user_agent: str = Field(default="", max_length=300)
    success: bool = Field(default=False)
    reason: str = Field(default="", max_length=100)
