"""Members' requests for more tokens."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import RequestStatus, opt_token_field, token_field, utcnow


class TokenRequest(SQLModel, table=True):
    __tablename__ = "token_request"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(max_length=20)
    amount: int = token_field()
    reason: str = Field(default="", max_length=500)
    source: str = Field(default="member", max_length=40)  # member | auto-increase exhausted
    status: str = Field(default=RequestStatus.pending.value, max_length=20, index=True)
    allocation_at_request: int = token_field()
    used_at_request: int = token_field()
    approved_amount: int | None = opt_token_field()
    grant_expires_at: datetime | None = Field(default=None)
    auto_approved: bool = Field(default=False)
    reviewer_id: int | None = Field(default=None, foreign_key="app_user.id")
    reviewed_at: datetime | None = Field(default=None)
    review_note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, index=True)
