"""Server-side sessions (the browser holds only an opaque token) and gateway API keys."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import utcnow


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    mfa_verified_at: datetime | None = Field(default=None)
    active_org_id: int | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)
    ip: str = Field(default="", max_length=45)
    user_agent: str = Field(default="", max_length=300)
    device_id: str | None = Field(default=None, max_length=32)  # the trusted browser it signed in from


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)


class RecoveryCode(SQLModel, table=True):
    """One-time MFA recovery codes, stored hashed."""

    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None)


class PasswordReset(SQLModel, table=True):
    """Single-use password reset (or invitation) links; the link carries the token, the DB its hash."""

    __tablename__ = "password_reset"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    purpose: str = Field(default="reset", max_length=20)  # reset | invite
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None)
    expires_at: datetime
    used_at: datetime | None = Field(default=None)


class LoginThrottle(SQLModel, table=True):
    """Failure counters per account, address, trusted browser and TOTP target (services/auth/throttle.py); in the DB
    so they hold across workers and restarts."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=400)
    failures: int = Field(default=0)
    window_start: datetime = Field(default_factory=utcnow)  # the first failure still counted
    last_failure_at: datetime = Field(default_factory=utcnow, index=True)
