"""The budget arithmetic: may a user spend more, and how much is left — user cap for the month, org pool, org
monthly cap, net of open reservations.

`remaining_budget` answers for one user (the member page, the API's readers); `Budgets` reads, for a set of orgs
and users, everything a spend decision needs in a handful of queries (pool per org, org usage since the pool began
and this month, open holds per user, usage this month per user); `left()` then answers in plain Python and
`hold()` counts a new reservation, so a group of decisions taken in one transaction behaves exactly like the same
decisions taken one after another (the gateway).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import BindParameter, Select, bindparam, case, func, literal, or_, select
from sqlmodel import Session, col

from models import Organization, Purchase, Reservation, UsageDaily, UsageUserMonthly, User, month_start, utcnow
from models.base import stored_id
from models.dto import Budget
from services.core import validation
from services.core.actor import Actor
from services.core.errors import NotFound
from services.core.permissions import require_role, user_in_scope
from services.tokens.allocation import CAP_FIELD

READERS = ("gateway", "finance", "admin", "super_admin")


def used_this_month(session: Session, user_id: int, kind: str, now: datetime) -> int:
    """One user's billed tokens of one kind this month (the monthly rollup)."""
    return used_this_month_by_user(session, [user_id], now).get((user_id, kind), 0)


def ban_active(user, now: datetime) -> bool:
    return bool(user.banned) and (user.banned_until is None or user.banned_until > now)


def spend_refusal(user, left: Remaining, now: datetime, *, amount: int = 1, model_ok: bool = True) -> str:
    """Why `user` may not spend `amount` now, or "ok": the one order of reasons every page and the gateway use."""
    if ban_active(user, now):
        return "banned"
    if not user.paid:
        return "not_paid"
    if not model_ok:
        return "model_not_allowed"
    if left.user_remaining < amount:
        return "monthly_cap_reached"
    if left.pool_remaining < amount:
        return "org_pool_exhausted"
    if left.org_remaining < amount:
        return "org_monthly_cap_reached"
    return "ok"


def remaining_budget(session: Session, *, actor: Actor, user_id: int, kind: str = "tokens",
                     now: datetime | None = None) -> Budget:
    """May the user spend now, and how much is left, net of open reservations — the same figures the gateway
    decides with (`Budgets`). The member themself, their org's staff, or the gateway may ask."""
    kind = validation.kind(kind)
    now = now or utcnow()
    if actor.user_id is not None and actor.user_id == user_id:
        user = session.get(User, user_id)  # one's own budget
        if user is None:
            raise NotFound("User not found.")
    else:
        require_role(actor, READERS, "see budgets")
        user = user_in_scope(session, actor, user_id)
    if user.org_id is None:
        cap, used = getattr(user, CAP_FIELD[kind]), used_this_month(session, stored_id(user), kind, now)
        reason = "banned" if ban_active(user, now) else "not_paid" if not user.paid else "no_organization"
        return Budget(allowed=False, reason=reason, user_remaining=max(0, cap - used), org_remaining=0, remaining=0,
                      cap=cap, used_this_month=used)
    left = Budgets(session, [user.org_id], [stored_id(user)], now).left(user.org_id, user, kind)
    reason = spend_refusal(user, left, now)
    allowed = reason == "ok"
    return Budget(allowed=allowed, reason=reason, user_remaining=left.user_remaining,
                  org_remaining=left.org_remaining, remaining=left.remaining if allowed else 0, cap=left.cap,
                  used_this_month=left.used_this_month, held=left.held)


@dataclass
class Remaining:
    user_remaining: int
    org_remaining: int
    pool_remaining: int
    cap: int
    used_this_month: int
    held: int

    @property
    def remaining(self) -> int:
        return min(self.user_remaining, self.org_remaining)


@dataclass
class OrgPool:
    """One org's pool (unexpired purchases) and usage, per kind."""

    purchased: dict[str, int] = field(default_factory=dict)
    pool_used: dict[str, int] = field(default_factory=dict)
    month_used: dict[str, int] = field(default_factory=dict)
    monthly_cap: dict[str, int | None] = field(default_factory=dict)
    latest_purchase: int | None = None


_LIST: BindParameter[list[int]] = bindparam("values", expanding=True)
_ORGS = select(col(Organization.id), col(Organization.monthly_token_cap), col(Organization.monthly_training_cap)
               ).where(col(Organization.id).in_(_LIST)).order_by(col(Organization.id))
_ORGS_LOCKED = _ORGS.with_for_update()
_POOLS = select(col(Purchase.org_id), func.sum(col(Purchase.tokens)), func.sum(col(Purchase.training_tokens)),
                func.min(col(Purchase.purchased_at)), func.max(col(Purchase.id))).where(
    col(Purchase.org_id).in_(_LIST),
    or_(col(Purchase.expires_at).is_(None), col(Purchase.expires_at) > bindparam("now"))
).group_by(col(Purchase.org_id))
_MONTH_PART = func.sum(case((col(UsageDaily.day) >= bindparam("month"), col(UsageDaily.billed_tokens)), else_=0))
_ORG_USAGE: dict[bool, Select[str, int, int]] = {  # since the pool began and this month, per kind; without a
    # pool only this month
    True: select(col(UsageDaily.kind), func.sum(case((col(UsageDaily.day) >= bindparam("since"),
                                                      col(UsageDaily.billed_tokens)), else_=0)), _MONTH_PART),
    False: select(col(UsageDaily.kind), literal(0), _MONTH_PART),
}
_ORG_USAGE = {k: q.where(col(UsageDaily.org_id) == bindparam("org"), col(UsageDaily.day) >= bindparam("lo"))
              .group_by(col(UsageDaily.kind)) for k, q in _ORG_USAGE.items()}
_USED = select(col(UsageUserMonthly.user_id), col(UsageUserMonthly.kind),
               func.sum(col(UsageUserMonthly.billed_tokens))).where(
    col(UsageUserMonthly.user_id).in_(_LIST), col(UsageUserMonthly.month) == bindparam("month")
).group_by(col(UsageUserMonthly.user_id), col(UsageUserMonthly.kind))
_HELD = (col(Reservation.status) == "held", col(Reservation.expires_at) > bindparam("now"))
_HOLDS_ORG = select(col(Reservation.org_id), col(Reservation.kind), func.sum(col(Reservation.amount))).where(
    col(Reservation.org_id).in_(_LIST), *_HELD).group_by(col(Reservation.org_id), col(Reservation.kind))
_HOLDS_USER = select(col(Reservation.org_id), col(Reservation.user_id), col(Reservation.kind),
                     func.sum(col(Reservation.amount))).where(col(Reservation.user_id).in_(_LIST), *_HELD).group_by(
    col(Reservation.org_id), col(Reservation.user_id), col(Reservation.kind))


def pools(session: Session, org_ids, now: datetime, *, lock: bool = False, caps: bool = True) -> dict[int, OrgPool]:
    """Pool figures of each org: one query for the org rows (`caps`: the monthly caps), one for the purchases,
    one per org over the daily rollup. `lock` takes the org rows FOR UPDATE in id order (SQLite: the write
    lock is already held)."""
    org_ids = sorted(set(org_ids))
    out = {o: OrgPool() for o in org_ids}
    if not org_ids:
        return out
    conn = session.connection()
    if caps or lock:
        for oid, tcap, trcap in conn.execute(_ORGS_LOCKED if lock else _ORGS, {"values": org_ids}):
            out[oid].monthly_cap = {"tokens": tcap, "training": trcap}
    earliest: dict[int, datetime] = {}
    for oid, tokens, training, first, latest in conn.execute(_POOLS, {"values": org_ids, "now": now}):
        out[oid].purchased = {"tokens": int(tokens or 0), "training": int(training or 0)}
        out[oid].latest_purchase = latest
        if first is not None:
            earliest[oid] = first if isinstance(first, datetime) else datetime.fromisoformat(first)
    month = month_start(now)
    for oid in org_ids:
        since: date | None = earliest[oid].date() if oid in earliest else None
        params = {"org": oid, "month": month, "lo": min(since, month) if since else month, "since": since}
        for kind, pool_used, month_used in conn.execute(_ORG_USAGE[since is not None], params):
            out[oid].pool_used[kind] = int(pool_used or 0)
            out[oid].month_used[kind] = int(month_used or 0)
    return out


def used_this_month_by_user(session: Session, user_ids, now: datetime) -> dict[tuple[int, str], int]:
    """{(user id, kind): billed tokens this month} from the monthly rollup, in one query."""
    if not user_ids:
        return {}
    rows = session.connection().execute(_USED, {"values": list(set(user_ids)), "month": month_start(now)})
    return {(u, k): int(v) for u, k, v in rows}


def holds(session: Session, org_ids, user_ids, now: datetime) -> tuple[dict, dict]:
    """Tokens held by open (unexpired) reservations: ({(org id, kind): total}, {(org id, user id, kind): total}
    for the users named), in two queries."""
    if not org_ids:
        return {}, {}
    conn = session.connection()
    orgs = list(set(org_ids))
    by_org = {(o, k): int(v) for o, k, v in conn.execute(_HOLDS_ORG, {"values": orgs, "now": now})}
    by_user = {}
    if by_org and user_ids:
        by_user = {(o, u, k): int(v) for o, u, k, v in conn.execute(
            _HOLDS_USER, {"values": list(set(user_ids)), "now": now}) if (o, k) in by_org}
    return by_org, by_user


class Budgets:
    """Budget figures of some orgs and users at one moment, kept current as holds are added."""

    def __init__(self, session: Session, org_ids, user_ids, now: datetime, *, lock: bool = False):
        self.pools = pools(session, org_ids, now, lock=lock)
        self.used = used_this_month_by_user(session, user_ids, now)
        by_org, by_user = holds(session, org_ids, user_ids, now)
        self.held_org: dict[tuple[int, str], int] = defaultdict(int, by_org)
        self.held_user: dict[tuple[int, int, str], int] = defaultdict(int, by_user)

    def left(self, org_id: int, user, kind: str) -> Remaining:
        """`user` has id and the cap fields (max_tokens, max_training_tokens)."""
        p = self.pools[org_id]
        cap = getattr(user, CAP_FIELD[kind])
        used = self.used.get((user.id, kind), 0)
        held_user = self.held_user.get((org_id, user.id, kind), 0)
        held_org = self.held_org.get((org_id, kind), 0)
        pool_left = max(0, p.purchased.get(kind, 0) - p.pool_used.get(kind, 0) - held_org)
        org_left = pool_left
        monthly_cap = p.monthly_cap.get(kind)
        if monthly_cap is not None:
            org_left = min(org_left, max(0, monthly_cap - p.month_used.get(kind, 0) - held_org))
        return Remaining(max(0, cap - used - held_user), org_left, pool_left, cap, used, held_user)

    def hold(self, org_id: int, user_id: int, kind: str, amount: int) -> None:
        self.held_user[(org_id, user_id, kind)] += amount
        self.held_org[(org_id, kind)] += amount
