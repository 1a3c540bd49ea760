"""The User Management table: one page of an org's users, filtered, searched and sorted in the database.

Only the requested page leaves the database. Usage columns come from the `usage_user_monthly` rollup: for a
page sorted by a user column they are fetched for the page's users only; sorting by a usage column joins one
aggregate over the org's rollup rows (still never the raw ledger).
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from models import Role, User, month_start, utcnow
from models.usage import UsageUserMonthly
from services.core import validation
from services.core.actor import Actor
from services.core.errors import Invalid
from services.core.permissions import MANAGE, require_role, scoped_org_id

PAGE_SIZES = (25, 50, 100)
MAX_SEARCH = 200
MAX_WORDS = 8
YES_NO = {"any": None, "yes": True, "no": False}
USAGE_KEYS = ("used_month", "used_prev", "used_total")
USER_SORT: dict[str, Mapped[Any]] = {
    "id": col(User.id), "name": col(User.name), "email": col(User.email), "role": col(User.role),
    "mfa": col(User.mfa_enabled), "paid": col(User.paid), "banned": col(User.banned), "verified": col(User.verified),
    "max_tokens": col(User.max_tokens), "max_training_tokens": col(User.max_training_tokens),
    "last_login": col(User.last_login_at), "pinned": col(User.pinned),
}
SORT_KEYS = tuple(USER_SORT) + USAGE_KEYS
ROLE_FILTERS = ("any",) + tuple(r.value for r in Role)


@dataclass
class UserRow:
    id: int
    name: str
    email: str
    role: str
    mfa: bool
    paid: bool
    banned: bool
    ban_reason: str
    banned_until: datetime | None
    verified: bool
    max_tokens: int
    max_training_tokens: int
    pinned: bool
    last_login: datetime | None
    used_month: int = 0  # inference tokens; training in the *_training fields
    used_prev: int = 0
    used_total: int = 0
    used_month_training: int = 0
    used_prev_training: int = 0
    used_total_training: int = 0
    invited: bool = False  # has not set a password yet (an invitation link can be issued again)


@dataclass
class UserPage:
    rows: list[UserRow]
    total: int  # users matching the filters
    page: int
    page_size: int
    org_users: int  # all users of the org
    filters: dict = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _prev_month(m: date) -> date:
    return date(m.year - 1, 12, 1) if m.month == 1 else date(m.year, m.month - 1, 1)


def _usage_columns(cur: date, prev: date) -> list[ColumnElement[Any]]:
    """Aggregates over usage_user_monthly rows of one user: (month, prev, total) × (tokens, training)."""
    cols: list[ColumnElement[Any]] = []
    month = col(UsageUserMonthly.month)
    for kind in ("tokens", "training"):
        k = col(UsageUserMonthly.kind) == kind
        cols += [
            func.coalesce(func.sum(case((and_(k, month == cur), UsageUserMonthly.billed_tokens),
                                        else_=0)), 0),
            func.coalesce(func.sum(case((and_(k, month == prev), UsageUserMonthly.billed_tokens),
                                        else_=0)), 0),
            func.coalesce(func.sum(case((k, UsageUserMonthly.billed_tokens), else_=0)), 0),
        ]
    return cols


def _check(value, allowed, what: str):
    if value not in allowed:
        raise Invalid(f"Unknown {what}.", field=what)
    return value


def search_words(search) -> list[str]:
    if search is None:
        return []
    if not isinstance(search, str):
        raise Invalid("The search must be text.", field="search")
    words = search.strip().lower().split()
    if len(search) > MAX_SEARCH or len(words) > MAX_WORDS:
        raise Invalid(f"The search is too long (at most {MAX_WORDS} words, {MAX_SEARCH} characters).",
                      field="search")
    return words


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_users(
    session: Session, *, actor: Actor, search: str = "", paid: str = "any", banned: str = "any", mfa: str = "any",
    role: str = "any", sort: str = "id", descending: bool = False, page: int = 1, page_size: int = 25,
    now: datetime | None = None,
) -> UserPage:
    require_role(actor, MANAGE, "list users")
    org_id = scoped_org_id(session, actor)
    words = search_words(search)
    flags = {name: YES_NO[_check(v, YES_NO, name)] for name, v in (("paid", paid), ("banned", banned),
                                                                    ("mfa", mfa))}
    _check(role, ROLE_FILTERS, "role")
    _check(sort, SORT_KEYS, "sort")
    descending = validation.flag(descending, "descending")
    if page_size not in PAGE_SIZES:
        raise Invalid("Page size must be 25, 50 or 100.", field="page_size")
    if not isinstance(page, int) or isinstance(page, bool) or page < 1 or page > 10_000_000:
        raise Invalid("Unknown page.", field="page")

    conds: list[ColumnElement[bool]] = [col(User.org_id) == org_id]
    for w in words:
        pat = f"%{_escape_like(w)}%"
        conds.append(or_(func.lower(User.email).like(pat, escape="\\"), func.lower(User.name).like(pat, escape="\\")))
    for name, flag_col in (("paid", User.paid), ("banned", User.banned), ("mfa", User.mfa_enabled)):
        if flags[name] is not None:
            conds.append(col(flag_col) == flags[name])
    if role != "any":
        conds.append(col(User.role) == role)

    total = session.exec(select(func.count()).select_from(User).where(*conds)).one()
    org_users = session.exec(select(func.count()).select_from(User).where(User.org_id == org_id)).one() \
        if len(conds) > 1 else total
    pages = max(1, -(-total // page_size))
    page = min(page, pages)
    offset = (page - 1) * page_size

    cur = month_start(now or utcnow())
    prev = _prev_month(cur)
    usage: dict[int, tuple] = {}
    if sort in USAGE_KEYS:
        agg = (select(col(UsageUserMonthly.user_id).label("uid"), *[c.label(f"c{i}") for i, c in
                                                                enumerate(_usage_columns(cur, prev))])
               .where(UsageUserMonthly.org_id == org_id).group_by(col(UsageUserMonthly.user_id)).subquery())
        agg_col: ColumnElement[Any] = {"used_month": agg.c.c0, "used_prev": agg.c.c1, "used_total": agg.c.c2}[sort]
        key: ColumnElement[Any] = func.coalesce(agg_col, literal(0))
        user_id = col(User.id)
        stmt: Select[*tuple[Any, ...]] = (Select(User, *[func.coalesce(agg.c[f"c{i}"], 0) for i in range(6)])
                .outerjoin(agg, agg.c.uid == User.id).where(*conds)
                .order_by(key.desc() if descending else key.asc(), user_id.desc() if descending else user_id)
                .offset(offset).limit(page_size))
        users = []
        for row in session.exec(stmt).all():
            users.append(row[0])
            usage[row[0].id] = tuple(row[1:])
    else:
        sort_col = USER_SORT[sort]
        order = [sort_col.desc() if descending else sort_col.asc()]
        if sort != "id":
            order.append(col(User.id).desc() if descending else col(User.id).asc())
        users = list(session.exec(select(User).where(*conds).order_by(*order).offset(offset).limit(page_size)).all())
        if users:
            usage_stmt: Select[*tuple[Any, ...]] = (Select(col(UsageUserMonthly.user_id),
                                                             *_usage_columns(cur, prev))
                    .where(UsageUserMonthly.org_id == org_id, col(UsageUserMonthly.user_id).in_([u.id for u in users]))
                    .group_by(col(UsageUserMonthly.user_id)))
            usage = {r[0]: tuple(r[1:]) for r in session.exec(usage_stmt).all()}

    rows = []
    for u in users:
        m, p, t, mt, pt, tt = (int(x) for x in usage.get(u.id, (0,) * 6))
        rows.append(UserRow(id=u.id, name=u.name, email=u.email, role=u.role, mfa=u.mfa_enabled, paid=u.paid,
                            banned=u.banned, ban_reason=u.ban_reason, banned_until=u.banned_until,
                            verified=u.verified, max_tokens=u.max_tokens, max_training_tokens=u.max_training_tokens,
                            pinned=u.pinned, last_login=u.last_login_at, used_month=m, used_prev=p, used_total=t,
                            used_month_training=mt, used_prev_training=pt, used_total_training=tt,
                            invited=u.password_hash is None))
    return UserPage(rows=rows, total=total, page=page, page_size=page_size, org_users=org_users,
                    filters={"search": words, **{k: v for k, v in flags.items() if v is not None},
                             "role": role})
