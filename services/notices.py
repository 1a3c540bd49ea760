"""Threshold notices: 80 %, 90 % and 100 % of a user's monthly cap and of the org pool.

Each crossing is recorded once per period (INSERT … ON CONFLICT DO NOTHING on a unique key, so concurrent
reports cannot record it twice): a user's period is the calendar month; the pool's period is the pool as of
its latest purchase (a new purchase starts a new period). A new notice is queued for the org webhook in the
same transaction. Read state is per org: any admin marking them read clears the bell for the org.
"""

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select, update

from models import Notice, Purchase, User, month_start, utcnow
from services import webhooks
from services.actor import Actor
from services.allocation import CAP_FIELD
from services.budget import used_this_month
from services.dialect import insert_for
from services.permissions import READ_STATS, require_role, scoped_org_id
from services.summary import _unexpired

THRESHOLDS = (80, 90, 100)
LABEL = {"tokens": "token", "training": "training token"}
MAX_LISTED = 50


def crossed(used: int, limit: int) -> list[int]:
    """The thresholds `used` has reached out of `limit` (integer arithmetic; no limit → none)."""
    if limit <= 0:
        return []
    return [t for t in THRESHOLDS if used * 100 >= limit * t]


def _record(session: Session, *, org_id: int, scope: str, subject_id: int, kind: str, threshold: int,
            period: str, used: int, limit: int, message: str, now: datetime) -> int | None:
    stmt = insert_for(session, Notice).values(
        org_id=org_id, scope=scope, subject_id=subject_id, kind=kind, threshold=threshold, period=period,
        used=used, limit_tokens=limit, message=message[:300], created_at=now, read_at=None,
    ).on_conflict_do_nothing(
        index_elements=["org_id", "scope", "subject_id", "kind", "threshold", "period"]).returning(Notice.id)
    new_id = session.execute(stmt).scalar()
    if new_id is not None:
        webhooks.enqueue(session, org_id, "notice.threshold", {
            "notice_id": new_id, "scope": scope, "subject_id": subject_id, "kind": kind, "threshold": threshold,
            "period": period, "used": used, "limit": limit, "message": message, "created_at": now.isoformat()},
            notice_id=new_id, now=now)
    return new_id


def check_usage(session: Session, org_id: int, pairs: set[tuple[int, str]], now: datetime | None = None) -> list[int]:
    """After usage for (user id, kind) pairs: record every newly crossed threshold. Returns new notice ids."""
    now = now or utcnow()
    created = []
    period = month_start(now).strftime("%Y-%m")
    for user_id, kind in sorted(pairs):
        user = session.get(User, user_id)
        cap = getattr(user, CAP_FIELD[kind])
        used = used_this_month(session, user_id, kind, now)
        for t in crossed(used, cap):
            msg = f"{user.email} has used {t}% of the monthly {LABEL[kind]} cap ({used:,} of {cap:,})."
            created.append(_record(session, org_id=org_id, scope="user", subject_id=user_id, kind=kind,
                                   threshold=t, period=period, used=used, limit=cap, message=msg, now=now))
    kinds = sorted({k for _, k in pairs})
    if kinds:
        latest = session.exec(select(func.max(Purchase.id)).where(_unexpired(org_id, now))).one()
        from services.gateway import pool_figures

        for kind in kinds:
            purchased, pool_used, _month = pool_figures(session, org_id, kind, now)
            for t in crossed(pool_used, purchased):
                msg = f"The organization has used {t}% of its {LABEL[kind]} pool ({pool_used:,} of {purchased:,})."
                created.append(_record(session, org_id=org_id, scope="org", subject_id=org_id, kind=kind,
                                       threshold=t, period=f"pool-{latest}", used=pool_used,
                                       limit=purchased, message=msg, now=now))
    return [c for c in created if c is not None]


def _scope(session: Session, actor: Actor) -> int:
    require_role(actor, READ_STATS, "see notices")
    return scoped_org_id(session, actor)


def list_notices(session: Session, *, actor: Actor, limit: int = 20) -> list[dict]:
    org_id = _scope(session, actor)
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_LISTED else 20
    rows = session.exec(select(Notice).where(Notice.org_id == org_id).order_by(Notice.id.desc()).limit(limit)).all()
    return [{"id": n.id, "message": n.message, "threshold": n.threshold, "scope": n.scope, "kind": n.kind,
             "created_at": n.created_at, "read": n.read_at is not None} for n in rows]


def unread_count(session: Session, *, actor: Actor) -> int:
    org_id = _scope(session, actor)
    return int(session.exec(select(func.count(Notice.id)).where(Notice.org_id == org_id,
                                                                Notice.read_at.is_(None))).one())


def mark_all_read(session: Session, *, actor: Actor, now: datetime | None = None) -> int:
    org_id = _scope(session, actor)
    result = session.exec(update(Notice).where(Notice.org_id == org_id, Notice.read_at.is_(None))
                          .values(read_at=now or utcnow()))
    return result.rowcount or 0
