"""Enterprise account requests (any signed-in user asks, super admins review and activate) and the in-app
notifications their requester receives."""

from datetime import datetime
from enum import Enum

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from models.base import token_field, utcnow


class EnterpriseStatus(str, Enum):
    pending = "pending"
    awaiting_payment = "awaiting_payment"
    activated = "activated"
    rejected = "rejected"


class EnterpriseRequest(SQLModel, table=True):
    __tablename__ = "enterprise_request"

    id: int | None = Field(default=None, primary_key=True)
    requester_id: int = Field(foreign_key="app_user.id", index=True)
    org_name: str = Field(max_length=200)
    billing_address: str = Field(default="", max_length=500)
    user_emails: list = Field(default_factory=list, sa_type=JSON)  # normalized (lower-case), in entry order
    admin_emails: list = Field(default_factory=list, sa_type=JSON)
    tokens: int = token_field()
    training_tokens: int = token_field()
    notes: str = Field(default="", max_length=2000)
    status: str = Field(default=EnterpriseStatus.pending.value, max_length=20, index=True)
    reason: str = Field(default="", max_length=500)  # why it was rejected
    org_id: int | None = Field(default=None, foreign_key="organization.id")  # set on activation
    reviewer_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class Notification(SQLModel, table=True):
    """An in-app message for one user (status changes of their requests)."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    title: str = Field(max_length=200)
    body: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = Field(default=None)
