"""Export an org's users as CSV: basic, or full with usage (current month, previous month, all time) per
token kind, read from the monthly rollup (usage_user_monthly), never from raw events.

Users are read in keyset pages of PAGE rows, so memory stays flat for large orgs. Every text cell a spreadsheet
would run as a formula (starting with = + - @ tab or CR) is neutralized with a leading apostrophe.
"""

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from models import TokenKind, UsageUserMonthly, User, month_start, utcnow
from models.base import stored_id
from services.core import audit
from services.core.actor import Actor
from services.core.permissions import MANAGE, require_role, scoped_org_id

PAGE = 2000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BASIC = ["id", "email", "name", "role", "paid", "banned", "verified", "mfa", "max_tokens", "max_training_tokens",
         "pinned", "created_at", "last_login_at"]
USAGE = ["used_this_month", "used_previous_month", "used_total",
         "training_used_this_month", "training_used_previous_month", "training_used_total"]


def neutralize(value):
    """A cell value safe to open in a spreadsheet."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def previous_month(d: date) -> date:
    return date(d.year - 1, 12, 1) if d.month == 1 else date(d.year, d.month - 1, 1)


def _usage(session: Session, org_id: int, user_ids: list[int], now: datetime) -> dict[int, list[int]]:
    this, prev = month_start(now), previous_month(month_start(now))
    u = UsageUserMonthly
    cols = []
    for kind in (TokenKind.tokens.value, TokenKind.training.value):
        is_kind = col(u.kind) == kind
        cols += [func.sum(case(((is_kind & (col(u.month) == this)), u.billed_tokens), else_=0)),
                 func.sum(case(((is_kind & (col(u.month) == prev)), u.billed_tokens), else_=0)),
                 func.sum(case((is_kind, u.billed_tokens), else_=0))]
    stmt: Select[*tuple[Any, ...]] = (Select(col(u.user_id), *cols)
                                      .where(u.org_id == org_id, col(u.user_id).in_(user_ids))
                                      .group_by(col(u.user_id)))
    rows = session.exec(stmt).all()
    return {r[0]: [int(v or 0) for v in r[1:]] for r in rows}


def export_rows(session: Session, *, actor: Actor, full: bool = False,
                now: datetime | None = None) -> Iterator[list]:
    """The header, then one list of cells per user of the actor's org (ordered by id)."""
    require_role(actor, MANAGE, "export users")
    org_id = scoped_org_id(session, actor, actor.org_id)
    if not isinstance(full, bool):
        full = False
    now = now or utcnow()
    yield BASIC + (USAGE if full else [])
    last = 0
    while True:
        page = session.exec(select(User).where(User.org_id == org_id, col(User.id) > last)
                            .order_by(col(User.id)).limit(PAGE)).all()
        if not page:
            return
        usage = _usage(session, org_id, [stored_id(p) for p in page], now) if full else {}
        for p in page:
            cells = [p.id, p.email, p.name, p.role, p.paid, p.banned, p.verified, p.mfa_enabled, p.max_tokens,
                     p.max_training_tokens, p.pinned, p.created_at, p.last_login_at]
            if full:
                cells += usage.get(stored_id(p), [0] * len(USAGE))
            yield [neutralize(c) for c in cells]
        last = stored_id(page[-1])


def export_csv(session: Session, *, actor: Actor, full: bool = False, now: datetime | None = None) -> tuple[str, int]:
    """The whole CSV text and the number of users in it (read-only; audit with `record_export`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    count = -1
    for row in export_rows(session, actor=actor, full=full, now=now):
        writer.writerow(row)
        count += 1
    return buf.getvalue(), count


def record_export(session: Session, *, actor: Actor, full: bool, users: int) -> None:
    """Audit who exported which org's user list (a short write transaction of its own)."""
    require_role(actor, MANAGE, "export users")
    org_id = scoped_org_id(session, actor, actor.org_id)
    audit.record(session, actor, "user.export", org_id=org_id, target_type="org", target_id=org_id,
                 after={"kind": "full" if full is True else "basic", "users": int(users)})


def filename(org_name: str, full: bool, now: datetime | None = None) -> str:
    safe = "".join(c if c.isalnum() else "-" for c in (org_name or "org").lower()).strip("-")[:40] or "org"
    return f"users-{safe}-{'full' if full else 'basic'}-{(now or utcnow()):%Y%m%d}.csv"
