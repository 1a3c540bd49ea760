"""May a user spend more, and how much is left: user cap for the month, org monthly cap, org pool."""

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from models import Organization, UsageUserMonthly, User, month_start, utcnow
from models.dto import Budget
from services import validation
from services.actor import Actor
from services.allocation import CAP_FIELD
from services.permissions import require_role, user_in_scope
from services.summary import compute_summary

READERS = ("gateway", "finance", "admin", "super_admin")


def used_this_month(session: Session, user_id: int, kind: str, now: datetime) -> int:
    value = session.exec(
        select(func.coalesce(func.sum(UsageUserMonthly.billed_tokens), 0)).where(
            UsageUserMonthly.user_id == user_id, UsageUserMonthly.kind == kind,
            UsageUserMonthly.month == month_start(now))
    ).one()
    return int(value)


def ban_active(user, now: datetime) -> bool:
    return bool(user.banned) and (user.banned_until is None or user.banned_until > now)


def remaining_budget(session: Session, *, actor: Actor, user_id: int, kind: str = "tokens",
                     now: datetime | None = None) -> Budget:
    """The member themself, their org's staff, or the gateway may ask."""
    kind = validation.kind(kind)
    now = now or utcnow()
    if actor.user_id is not None and actor.user_id == user_id:
        user = session.get(User, user_id)  # one's own budget
    else:
        require_role(actor, READERS, "see budgets")
        user = user_in_scope(session, actor, user_id)
    cap = getattr(user, CAP_FIELD[kind])
    used = used_this_month(session, user.id, kind, now)
    user_left = max(0, cap - used)
    org_left = pool_left = 0
    month_capped = False
    if user.org_id is not None:
        summary = compute_summary(session, user.org_id, now).kind(kind)
        org_left = pool_left = summary.pool_remaining
        org = session.get(Organization, user.org_id)
        monthly_cap = org.monthly_token_cap if kind == "tokens" else org.monthly_training_cap
        if monthly_cap is not None:
            month_left = max(0, monthly_cap - summary.used_this_month)
            month_capped = month_left <= 0
            org_left = min(org_left, month_left)
    if ban_active(user, now):
        reason = "banned"
    elif not user.paid:
        reason = "not_paid"
    elif user.org_id is None:
        reason = "no_organization"
    elif user_left <= 0:
        reason = "monthly_cap_reached"
    elif pool_left <= 0:
        reason = "org_pool_exhausted"
    elif month_capped:
        reason = "org_monthly_cap_reached"
    else:
        reason = "ok"
    allowed = reason == "ok"
    return Budget(allowed=allowed, reason=reason, user_remaining=user_left, org_remaining=org_left,
                  remaining=min(user_left, org_left) if allowed else 0, cap=cap, used_this_month=used)
