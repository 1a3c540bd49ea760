"""Gateway tables: spend reservations, per-key rate windows, threshold notices, org webhooks and deliveries."""

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import BIGINT_PK, token_field, utcnow


class Reservation(SQLModel, table=True):
    """Tokens held for one user by `POST /authorize?reserve`: counted against the budgets until settled by a
    usage report or until `expires_at` passes."""

    __tablename__ = "reservation"
    # Covering: the open holds of an org (and the sweep of its expired ones), and of some users (services/spend.py).
    __table_args__ = (Index("ix_reservation_held", "org_id", "status", "expires_at", "kind", "amount"),
                      Index("ix_reservation_user_held", "user_id", "status", "expires_at", "org_id", "kind", "amount"))

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    public_id: str = Field(max_length=40, unique=True)
    org_id: int = Field(foreign_key="organization.id")
    user_id: int = Field(foreign_key="app_user.id")
    model_id: int = Field(foreign_key="ai_model.id")
    kind: str = Field(max_length=20)
    amount: int = token_field()
    status: str = Field(default="held", max_length=10)  # held | settled | expired
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    settled_at: datetime | None = Field(default=None)
    settled_key: str | None = Field(default=None, max_length=200)
    api_key_id: int | None = Field(default=None)


class RateWindow(SQLModel, table=True):
    """Requests per API key per fixed window (DB-backed rate limit; holds across workers)."""

    __tablename__ = "rate_window"

    key_id: int = Field(primary_key=True)
    window_start: datetime = Field(primary_key=True)
    hits: int = Field(default=0)


class Notice(SQLModel, table=True):
    """A threshold crossing (80/90/100 %) of a user's monthly cap or of the org pool, once per period."""

    __tablename__ = "notice"
    __table_args__ = (
        UniqueConstraint("org_id", "scope", "subject_id", "kind", "threshold", "period", name="uq_notice_once"),
        Index("ix_notice_org_read", "org_id", "read_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    org_id: int = Field(foreign_key="organization.id")
    scope: str = Field(max_length=10)  # user | org
    subject_id: int  # user id, or org id for the pool
    kind: str = Field(max_length=20)
    threshold: int
    period: str = Field(max_length=40)  # user: "2026-11"; org pool: "pool-<latest purchase id>"
    used: int = token_field()
    limit_tokens: int = token_field()
    message: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = Field(default=None)


class OrgWebhook(SQLModel, table=True):
    """An org's optional webhook: notices are POSTed there, signed with HMAC-SHA256 of the secret."""

    __tablename__ = "org_webhook"

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    url: str = Field(max_length=500)
    secret_enc: str = Field(max_length=500)
    enabled: bool = Field(default=True)
    updated_at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """One notice to send to one org webhook (outbox row); retried with backoff, failures kept visible."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BIGINT_PK)
    org_id: int = Field(foreign_key="organization.id", index=True)
    notice_id: int | None = Field(default=None)
    event: str = Field(max_length=40)
    payload: str = Field(max_length=4000)
    status: str = Field(default="pending", max_length=10)  # pending | delivered | failed
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_status: int | None = Field(default=None)
    last_error: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = Field(default=None)
