"""The gateway's questions and reports: may a user spend N tokens now (optionally holding them in a
reservation), usage reports that settle reservations, balances and the org summary.

Exactness under concurrency: every transaction that grants a reservation or settles one first locks the
org row (SQLite: the BEGIN IMMEDIATE write lock), then reads usage and open holds, so two authorizations
can never both spend the same last tokens. Open holds (status `held`, not yet expired) count against the
user's monthly cap, the org pool and the org monthly cap exactly like usage. Usage that arrives without a
reservation only ever adds to what is used, so it needs no lock.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select, update

from models import AIModel, Organization, Reservation, UsageEvent, User, month_start, utcnow
from services import notices, settings, usage, validation
from services.actor import Actor
from services.allocation import CAP_FIELD
from services.budget import ban_active, used_this_month
from services.catalog import allowed_model_ids
from services.crypto import new_token
from services.errors import Conflict, Forbidden, Invalid, NotFound
from services.permissions import scoped_org_id
from services.summary import compute_summary, org_usage_by_kind, pool

GATEWAY = usage.GATEWAY
REASONS = ("ok", "unknown_user", "banned", "not_paid", "model_not_allowed", "monthly_cap_reached",
           "org_pool_exhausted", "org_monthly_cap_reached")


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
class Decision:
    allowed: bool
    reason: str
    remaining: int = 0
    user_remaining: int = 0
    org_remaining: int = 0
    reservation_id: str | None = None
    reserved: int = 0
    expires_at: datetime | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return out


def _require_gateway(actor: Actor) -> int:
    if actor.role not in (GATEWAY, "super_admin"):
        raise Forbidden("Only the gateway can do this.")
    return actor.org_id


def lock_org(session: Session, org_id: int) -> Organization:
    """Serialize budget decisions of one org (row lock on PostgreSQL; SQLite holds the write lock)."""
    org = session.get(Organization, org_id, with_for_update=True, populate_existing=True)
    if org is None:
        raise NotFound("Organization not found.")
    return org


def _held(session: Session, now: datetime, kind: str, *, org_id: int, user_id: int | None = None) -> int:
    q = select(func.coalesce(func.sum(Reservation.amount), 0)).where(
        Reservation.org_id == org_id, Reservation.kind == kind, Reservation.status == "held",
        Reservation.expires_at > now)
    if user_id is not None:
        q = q.where(Reservation.user_id == user_id)
    return int(session.exec(q).one())


def remaining_for(session: Session, user: User, kind: str, now: datetime) -> Remaining:
    """What the user may still spend this month, net of open reservations (user cap, org pool, org cap)."""
    org = session.get(Organization, user.org_id)
    cap = getattr(user, CAP_FIELD[kind])
    used = used_this_month(session, user.id, kind, now)
    held_user = _held(session, now, kind, org_id=org.id, user_id=user.id)
    held_org = _held(session, now, kind, org_id=org.id)
    purchased, pool_used, month_used = pool_figures(session, org.id, kind, now)
    pool_left = max(0, purchased - pool_used - held_org)
    org_left = pool_left
    monthly_cap = org.monthly_token_cap if kind == "tokens" else org.monthly_training_cap
    if monthly_cap is not None:
        org_left = min(org_left, max(0, monthly_cap - month_used - held_org))
    return Remaining(max(0, cap - used - held_user), org_left, pool_left, cap, used, held_user)


def pool_figures(session: Session, org_id: int, kind: str, now: datetime) -> tuple[int, int, int]:
    """(purchased, used since the pool began, used this month) for one kind: the part of the org summary a
    budget decision needs (no scan over the org's users)."""
    p_tokens, p_training, _closest, earliest = pool(session, org_id, now)
    month = org_usage_by_kind(session, org_id, month_start(now)).get(kind, 0)
    used = org_usage_by_kind(session, org_id, earliest.date()).get(kind, 0) if earliest else 0
    return (p_tokens if kind == "tokens" else p_training), used, month


def _find_user(session: Session, org_id: int, ref) -> User | None:
    try:
        return usage._resolve_user(session, org_id, ref)
    except NotFound:
        return None


def authorize(session: Session, *, actor: Actor, user, model, tokens, kind="tokens", reserve: bool = False,
              ttl_seconds=None, api_key_id: int | None = None, now: datetime | None = None) -> Decision:
    """May `user` spend `tokens` billed tokens of `kind` on `model` now? With `reserve`, the amount is held
    (reservation id + expiry) and counted against every budget until a usage report settles it."""
    org_id = _require_gateway(actor)
    org_id = scoped_org_id(session, actor, org_id)
    now = now or utcnow()
    if isinstance(user, bool) or not isinstance(user, (int, str)):
        raise Invalid("User must be a user id or an email.", field="user")
    amount = validation.token_amount(tokens, "tokens", allow_zero=False)
    kind = validation.kind(kind)
    if not isinstance(reserve, bool):
        raise Invalid("reserve must be true or false.", field="reserve")
    ttl = settings.RESERVATION_TTL_SECONDS if ttl_seconds is None else ttl_seconds
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= settings.RESERVATION_MAX_TTL_SECONDS:
        raise Invalid(f"ttl_seconds must be a whole number from 1 to {settings.RESERVATION_MAX_TTL_SECONDS}.",
                      field="ttl_seconds")
    ai_model = usage._resolve_model(session, {}, model) if isinstance(model, str) else None
    if ai_model is None:
        raise Invalid("Model is required.", field="model")
    if isinstance(user, str) and "@" not in user:
        raise Invalid("User must be a user id or an email.", field="user")
    if reserve:
        lock_org(session, org_id)
    target = _find_user(session, org_id, user)
    if target is None:
        return Decision(False, "unknown_user")
    left = remaining_for(session, target, kind, now)
    base = dict(remaining=left.remaining, user_remaining=left.user_remaining, org_remaining=left.org_remaining)
    if ban_active(target, now):
        return Decision(False, "banned", **base)
    if not target.paid:
        return Decision(False, "not_paid", **base)
    if ai_model.id not in allowed_model_ids(session, org_id):
        return Decision(False, "model_not_allowed", **base)
    if left.user_remaining < amount:
        return Decision(False, "monthly_cap_reached", **base)
    if left.pool_remaining < amount:
        return Decision(False, "org_pool_exhausted", **base)
    if left.org_remaining < amount:
        return Decision(False, "org_monthly_cap_reached", **base)
    if not reserve:
        return Decision(True, "ok", **base)
    res = Reservation(public_id="rsv_" + new_token(18), org_id=org_id, user_id=target.id, model_id=ai_model.id,
                      kind=kind, amount=amount, created_at=now, expires_at=now + timedelta(seconds=ttl),
                      api_key_id=api_key_id)
    session.add(res)
    session.flush()
    return Decision(True, "ok", remaining=left.remaining - amount, user_remaining=left.user_remaining - amount,
                    org_remaining=left.org_remaining - amount, reservation_id=res.public_id, reserved=amount,
                    expires_at=res.expires_at)


def _settlements(session: Session, org_id: int, events: list, now: datetime) -> dict[str, Reservation]:
    """Reservations named by the events (idempotency key → reservation), checked and locked."""
    wanted = {}
    for i, raw in enumerate(events):
        if isinstance(raw, dict) and raw.get("reservation_id") is not None:
            rid = raw["reservation_id"]
            if not isinstance(rid, str) or not 1 <= len(rid) <= 40:
                raise Invalid("reservation_id must be a reservation id.", field=f"events[{i}].reservation_id")
            wanted[rid] = (i, raw)
    if not wanted:
        return {}
    if len(wanted) != sum(1 for r in events if isinstance(r, dict) and r.get("reservation_id") is not None):
        raise Invalid("The batch settles one reservation twice.", field="reservation_id")
    lock_org(session, org_id)
    rows = {r.public_id: r for r in session.exec(
        select(Reservation).where(Reservation.public_id.in_(sorted(wanted))).with_for_update()).all()}
    out = {}
    for rid, (i, raw) in sorted(wanted.items()):
        res = rows.get(rid)
        field = f"events[{i}].reservation_id"
        if res is None or res.org_id != org_id:
            raise NotFound(f"Unknown reservation {rid!r}.", field=field)
        key = raw.get("idempotency_key")
        if res.status == "settled":
            if res.settled_key != (key.strip() if isinstance(key, str) else key):
                raise Conflict(f"Reservation {rid} was already settled by another usage report.", field=field)
            continue
        if res.status == "expired" or res.expires_at <= now:
            raise Conflict(f"Reservation {rid} expired; report the usage without reservation_id.", field=field)
        out[key.strip() if isinstance(key, str) else key] = res
    return out


def report_usage(session: Session, *, actor: Actor, events: list, now: datetime | None = None) -> list:
    """Record usage (one transaction: ledger, rollups, settled reservations, threshold notices)."""
    org_id = _require_gateway(actor)
    org_id = scoped_org_id(session, actor, org_id)
    now = now or utcnow()
    if not isinstance(events, list) or not events:
        raise Invalid("Send at least one usage event.", field="events")
    if len(events) > usage.MAX_BATCH:
        raise Invalid(f"A batch holds at most {usage.MAX_BATCH:,} events.", field="events")
    settle = _settlements(session, org_id, events, now)
    results = usage.record_usage(session, actor=actor, events=events, now=now)
    fresh_ids = [r.event_id for r in results if not r.duplicate]
    for key, res in settle.items():
        ev = session.exec(select(UsageEvent.user_id, UsageEvent.kind).where(UsageEvent.idempotency_key == key)).one()
        if (ev[0], ev[1]) != (res.user_id, res.kind):
            raise Conflict(f"Reservation {res.public_id} is for another user or kind.", field="reservation_id")
        session.exec(update(Reservation).where(Reservation.id == res.id, Reservation.status == "held")
                     .values(status="settled", settled_at=now, settled_key=key))
    if fresh_ids:
        pairs = set(session.exec(select(UsageEvent.user_id, UsageEvent.kind).where(
            UsageEvent.id.in_(fresh_ids)).distinct()).all())
        notices.check_usage(session, org_id, pairs, now)
    return results


def expire_reservations(session: Session, *, now: datetime | None = None) -> int:
    """Mark held reservations past their expiry as expired (they already stopped counting at expiry)."""
    now = now or utcnow()
    result = session.exec(update(Reservation).where(Reservation.status == "held", Reservation.expires_at <= now)
                          .values(status="expired"))
    return result.rowcount or 0


def balance(session: Session, *, actor: Actor, user_id, kind: str = "tokens", now: datetime | None = None) -> dict:
    org_id = _require_gateway(actor)
    org_id = scoped_org_id(session, actor, org_id)
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
    org_id = _require_gateway(actor)
    org_id = scoped_org_id(session, actor, org_id)
    now = now or utcnow()
    s = compute_summary(session, org_id, now)
    org = session.get(Organization, org_id)
    out = {"org_id": org_id, "name": org.name, "users": s.users,
           "closest_expiry": s.closest_expiry.isoformat() if s.closest_expiry else None}
    for ks in (s.tokens, s.training):
        cap = org.monthly_token_cap if ks.kind == "tokens" else org.monthly_training_cap
        out[ks.kind] = {"purchased": ks.purchased, "assigned": ks.assigned, "used_this_month": ks.used_this_month,
                        "pool_used": ks.pool_used, "pool_remaining": ks.pool_remaining,
                        "reserved": _held(session, now, ks.kind, org_id=org_id), "monthly_cap": cap}
    return out


def model_names(session: Session) -> list[str]:
    return list(session.exec(select(AIModel.name).order_by(AIModel.name)).all())
