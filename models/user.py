"""People: members, finance, org admins and super admins. Never hard-deleted (retention)."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import Role, opt_token_field, token_field, utcnow


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    password_hash: str | None = Field(default=None, max_length=255)
    role: str = Field(default=Role.member.value, max_length=20, index=True)
    org_id: int | None = Field(default=None, foreign_key="organization.id", index=True)

    paid: bool = Field(default=False)
    banned: bool = Field(default=False)
    ban_reason: str = Field(default="", max_length=500)
    banned_until: datetime | None = Field(default=None)
    verified: bool = Field(default=False)

    # MFA (TOTP). The secret is stored encrypted; recovery codes live in their own table later.
    mfa_secret_enc: str | None = Field(default=None, max_length=500)
    mfa_enabled: bool = Field(default=False)
    mfa_enrolled_at: datetime | None = Field(default=None)
    mfa_last_counter: int | None = Field(default=None)

    # Allocations (monthly caps) per kind.
    max_tokens: int = token_field()
    max_training_tokens: int = token_field()
    pinned: bool = Field(default=False)
    excluded_from_automation: bool = Field(default=False)
    floor_override: int | None = opt_token_field()
    ceiling_override: int | None = opt_token_field()
    training_floor_override: int | None = opt_token_field()
    training_ceiling_override: int | None = opt_token_field()

    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = Field(default=None)
