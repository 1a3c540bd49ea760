"""What the gateway reads: a user's balance (what they may still spend, net of open reservations) and the
org summary."""

from datetime import datetime

from sqlmodel import Session

from models import Organization, User, utcnow
from services.core import validation
from services.core.actor import Actor
from services.core.errors import NotFound
from services.core.permissions import scoped_org_id
from services.gateway.authorization import require_gateway
from services.tokens.budget import Budgets, Remaining, ban_active
from services.tokens.pool import compute_summary


def remaining_for(session: Session, user: User, kind: str, now: datetime) -> Remaining:
    """What the user may still spend this month, net of open reservations (user cap, org pool, org cap)."""
    if user.org_id is None or user.id is None:  # the gateway knows only users of an org
        raise NotFound("User not found.")
    return Budgets(session, [user.org_id], [user.id], now).left(user.org_id, user, kind)

# ------------------------------------------------------------------------------------------ reads
def balance(session: Session, *, actor: Actor, user_id, kind: str = "tokens", now: datetime | None = None) -> dict:
    org_id = scoped_org_id(session, actor, require_gateway(actor))
    kind = validation.kind(kind)
    now = now or utcnow()
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise NotFound("User not found.")
    user = session.get(User, user_id)
    if user is None or user.org_id != org_id:
        raise NotFound("User not found.")
    left = remaining_for(session, user, kind, now)
    return {"user_id": user.id, "email": user.email, "kind": kind, "cap": left.cap,
            "used_this_month": left.used_this_month, "reserved": left.held, "user_remaining": left.user_remaining,
            "org_remaining": left.org_remaining, "remaining": left.remaining,
            "banned": ban_active(user, now), "paid": bool(user.paid)}


def org_summary(session: Session, *, actor: Actor, now: datetime | None = None) -> dict:
    org_id = scoped_org_id(session, actor, require_gateway(actor))
    now = now or utcnow()
    s = compute_summary(session, org_id, now)
    org = session.get(Organization, org_id)
    if org is None:  # scoped_org_id found it; deleted since
        raise NotFound("Organization not found.")
    budgets = Budgets(session, [org_id], [], now)
    out = {"org_id": org_id, "name": org.name, "users": s.users,
           "closest_expiry": s.closest_expiry.isoformat() if s.closest_expiry else None}
    for ks in (s.tokens, s.training):
        cap = org.monthly_token_cap if ks.kind == "tokens" else org.monthly_training_cap
        out[ks.kind] = {"purchased": ks.purchased, "assigned": ks.assigned, "used_this_month": ks.used_this_month,
                        "pool_used": ks.pool_used, "pool_remaining": ks.pool_remaining,
                        "reserved": budgets.held_org.get((org_id, ks.kind), 0), "monthly_cap": cap}
    return out
