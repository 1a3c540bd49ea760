"""Shared column helpers and enumerations for the tables. No logic beyond small constructors."""

from datetime import UTC, date, datetime
from enum import Enum
from typing import Protocol

from sqlalchemy import BigInteger, Integer, Table
from sqlmodel import Field

INT64_MAX = 2**63 - 1

# 64-bit ids on PostgreSQL; INTEGER PRIMARY KEY (the rowid, auto-incrementing) on SQLite.
BIGINT_PK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Aware UTC now. Every timestamp column is timezone-aware and read back in UTC."""
    return datetime.now(UTC)


class _Stored(Protocol):
    id: int | None


def stored_id(row: _Stored) -> int:
    """The id of a row that is in the database (loaded, or added and flushed); None there is a bug."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: flush it first.")
    return row.id


def table_of(model: type) -> Table:
    """The Core table of a SQLModel table class (for inserts with ON CONFLICT and RETURNING)."""
    return model.__table__  # type: ignore[attr-defined]  # sqlmodel's stubs omit the declarative __table__


def month_start(d: date | datetime) -> date:
    """First day of the (UTC) calendar month holding d."""
    if isinstance(d, datetime) and d.tzinfo is not None:
        d = d.astimezone(UTC)
    return date(d.year, d.month, 1)


def year_start(d: date | datetime) -> date:
    """1 January of the (UTC) calendar year holding d."""
    return month_start(d).replace(month=1)


def token_field(default: int = 0, **kw) -> int:
    """A non-negative 64-bit token counter column."""
    return Field(default=default, sa_type=BigInteger, **kw)


def opt_token_field(default: int | None = None, **kw) -> int | None:
    """A nullable token column (None = not set / unlimited)."""
    return Field(default=default, sa_type=BigInteger, nullable=True, **kw)


class Role(str, Enum):
    member = "member"
    finance = "finance"
    admin = "admin"
    super_admin = "super_admin"


ADMIN_ROLES = (Role.finance.value, Role.admin.value, Role.super_admin.value)


class TokenKind(str, Enum):
    """Inference tokens and training (embedding) tokens."""

    tokens = "tokens"
    training = "training"


KINDS = (TokenKind.tokens.value, TokenKind.training.value)


class RequestStatus(str, Enum):
    pending = "pending"
    approved = "approved"
    denied = "denied"
