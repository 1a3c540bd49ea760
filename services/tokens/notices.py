"""Threshold notices: 80 %, 90 % and 100 % of a user's monthly cap and of the org pool.

Each crossing is recorded once per period (INSERT … ON CONFLICT DO NOTHING on a unique key, so concurrent
reports cannot record it twice): a user's period is the calendar month; the pool's period is the pool as of
its latest purchase (a new purchase starts a new period). A new notice is queued for the org webhook in the
same transaction. Read state is per org: any admin marking them read clears the bell for the org.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select, update

from models import Notice, User, month_start, table_of, utcnow
from services.core import webhooks
from services.core.actor import Actor
from services.core.dialect import built
from services.core.permissions import READ_STATS, require_role, scoped_org_id
from services.tokens import budget

THRESHOLDS = (80, 90, 100)
LABEL = {"tokens": "token", "training": "training token"}
MAX_LISTED = 50


def crossed(used: int, limit: int) -> list[int]:
    """The thresholds `used` has reached out of `limit` (integer arithmetic; no limit → none)."""
    if limit <= 0:
        return []
    return [t for t in THRESHOLDS if used * 100 >= limit * t]


_USERS = select(User.id, User.email, User.max_tokens, User.max_training_tokens).where(
    col(User.id).in_(bindparam("values", expanding=True)))


def _insert(insert):
    t = table_of(Notice)
    return insert(t).on_conflict_do_nothing(
        index_elements=["org_id", "scope", "subject_id", "kind", "threshold", "period"]).returning(
        t.c.id, t.c.org_id, t.c.scope, t.c.subject_id, t.c.kind, t.c.threshold, t.c.period)


def _candidates(session: Session, affected: dict[int, set[tuple[int, str]]], now: datetime) -> list[dict]:
    """Every threshold the affected users' caps and their orgs' pools have reached (recorded or not)."""
    period = month_start(now).strftime("%Y-%m")
    user_ids = {u for pairs in affected.values() for u, _ in pairs}
    rows = session.connection().execute(_USERS, {"values": list(user_ids)})
    users: dict[int, tuple[Any, ...]] = {row[0]: tuple(row) for row in rows}
    used = budget.used_this_month_by_user(session, user_ids, now)
    pools = budget.pools(session, affected, now, caps=False)
    out = []
    for org_id in sorted(affected):
        pairs = affected[org_id]
        for user_id, kind in sorted(pairs):
            _uid, email, cap_tokens, cap_training = users[user_id]
            cap = cap_tokens if kind == "tokens" else cap_training
            n = used.get((user_id, kind), 0)
            for t in crossed(n, cap):
                out.append(dict(org_id=org_id, scope="user", subject_id=user_id, kind=kind, threshold=t, period=period,
                                used=n, limit_tokens=cap, message=f"{email} has used {t}% of the monthly {LABEL[kind]} "
                                                                  f"cap ({n:,} of {cap:,})."))
        p = pools[org_id]
        for kind in sorted({k for _, k in pairs}):
            purchased, pool_used = p.purchased.get(kind, 0), p.pool_used.get(kind, 0)
            for t in crossed(pool_used, purchased):
                out.append(dict(org_id=org_id, scope="org", subject_id=org_id, kind=kind, threshold=t,
                                period=f"pool-{p.latest_purchase}", used=pool_used, limit_tokens=purchased,
                                message=f"The organization has used {t}% of its {LABEL[kind]} pool "
                                        f"({pool_used:,} of {purchased:,})."))
    return out


def check_many(session: Session, affected: dict[int, set[tuple[int, str]]], now: datetime | None = None) -> list[int]:
    """After usage of {org id: {(user id, kind), …}}: record every newly crossed threshold (one multi-row
    INSERT … ON CONFLICT DO NOTHING for all of them) and queue its webhook. Returns the new notice ids."""
    now = now or utcnow()
    rows = _candidates(session, affected, now)
    if not rows:
        return []
    for r in rows:
        r["message"], r["created_at"], r["read_at"] = r["message"][:300], now, None
    created = {tuple(row[1:]): row[0]
               for row in session.connection().execute(built(session, "notice.insert", _insert), rows)}
    for r in rows:
        new_id = created.get((r["org_id"], r["scope"], r["subject_id"], r["kind"], r["threshold"], r["period"]))
        if new_id is not None:
            webhooks.enqueue(session, r["org_id"], "notice.threshold", {
                "notice_id": new_id, "scope": r["scope"], "subject_id": r["subject_id"], "kind": r["kind"],
                "threshold": r["threshold"], "period": r["period"], "used": r["used"], "limit": r["limit_tokens"],
                "message": r["message"], "created_at": now.isoformat()}, notice_id=new_id, now=now)
    return sorted(created.values())


def _scope(session: Session, actor: Actor) -> int:
    require_role(actor, READ_STATS, "see notices")
    return scoped_org_id(session, actor)


def list_notices(session: Session, *, actor: Actor, limit: int = 20) -> list[dict]:
    org_id = _scope(session, actor)
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_LISTED else 20
    rows = session.exec(select(Notice).where(Notice.org_id == org_id).order_by(col(Notice.id).desc())
                        .limit(limit)).all()
    return [{"id": n.id, "message": n.message, "threshold": n.threshold, "scope": n.scope, "kind": n.kind,
             "created_at": n.created_at, "read": n.read_at is not None} for n in rows]


def unread_count(session: Session, *, actor: Actor) -> int:
    org_id = _scope(session, actor)
    return int(session.exec(select(func.count(col(Notice.id))).where(Notice.org_id == org_id,
                                                                col(Notice.read_at).is_(None))).one())


def mark_all_read(session: Session, *, actor: Actor, now: datetime | None = None) -> int:
    org_id = _scope(session, actor)
    result = session.exec(update(Notice).where(col(Notice.org_id) == org_id, col(Notice.read_at).is_(None))
                          .values(read_at=now or utcnow()))
    return result.rowcount or 0
