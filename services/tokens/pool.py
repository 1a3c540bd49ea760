"""The pool and the four numbers every admin sees: purchased, assigned, used this month, unassigned."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from models import Purchase, UsageDaily, User, month_start, utcnow
from models.dto import KindSummary, OrgSummary
from services.core.actor import Actor
from services.core.permissions import READ_STATS, require_role, scoped_org_id


def unexpired(now: datetime):
    """A purchase expiring at time T counts until just before T."""
    return or_(col(Purchase.expires_at).is_(None), col(Purchase.expires_at) > now)


def _unexpired(org_id: int, now: datetime):
    return (Purchase.org_id == org_id) & unexpired(now)


def pool(session: Session, org_id: int,
         now: datetime | None = None) -> tuple[int, int, datetime | None, datetime | None]:
    """(tokens, training tokens, closest expiry, earliest start) over the org's unexpired purchases."""
    now = now or utcnow()
    row = session.exec(
        select(
            func.coalesce(func.sum(Purchase.tokens), 0),
            func.coalesce(func.sum(Purchase.training_tokens), 0),
            func.min(Purchase.expires_at),
            func.min(Purchase.purchased_at),
        ).where(_unexpired(org_id, now))
    ).one()
    return int(row[0]), int(row[1]), row[2], row[3]


def org_usage_by_kind(session: Session, org_id: int, since, until=None) -> dict[str, int]:
    """Billed usage per kind from the daily rollup, for days in [since, until)."""
    q = select(UsageDaily.kind, func.coalesce(func.sum(UsageDaily.billed_tokens), 0)).where(
        UsageDaily.org_id == org_id, UsageDaily.day >= since)
    if until is not None:
        q = q.where(UsageDaily.day < until)
    return {k: int(v) for k, v in session.exec(q.group_by(UsageDaily.kind)).all()}


def compute_summary(session: Session, org_id: int, now: datetime | None = None) -> OrgSummary:
    now = now or utcnow()
    p_tokens, p_training, closest, earliest = pool(session, org_id, now)
    n_users, a_tokens, a_training = session.exec(
        select(func.count(col(User.id)), func.coalesce(func.sum(User.max_tokens), 0),
               func.coalesce(func.sum(User.max_training_tokens), 0)).where(User.org_id == org_id)
    ).one()
    month = org_usage_by_kind(session, org_id, month_start(now))
    pool_used = org_usage_by_kind(session, org_id, earliest.date()) if earliest else {}
    return OrgSummary(
        org_id=org_id,
        users=int(n_users),
        tokens=KindSummary("tokens", p_tokens, int(a_tokens), month.get("tokens", 0), pool_used.get("tokens", 0)),
        training=KindSummary("training", p_training, int(a_training), month.get("training", 0),
                             pool_used.get("training", 0)),
        closest_expiry=closest,
    )


def org_summary(session: Session, *, actor: Actor, org_id: int | None = None,
                now: datetime | None = None) -> OrgSummary:
    require_role(actor, READ_STATS, "see token statistics")
    return compute_summary(session, scoped_org_id(session, actor, org_id), now)


def next_month_start(now: datetime) -> datetime:
    first = month_start(now)
    nxt = (datetime(first.year, first.month, 1, tzinfo=UTC) + timedelta(days=32)).replace(day=1)
    return nxt
