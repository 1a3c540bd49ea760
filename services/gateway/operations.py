"""The gateway's questions and reports: may a user spend N tokens now (optionally holding them in a
reservation), usage reports that settle reservations, balances and the org summary.

Set-based: `decide` answers a group of authorizations and `report_many` records a group of usage reports,
each in one transaction with a fixed handful of queries (the group commit writer, services/gateway/group_commit.py,
hands them whole groups; the one-call functions `authorize` and `report_usage` are groups of one).

Exactness under concurrency: every transaction that grants a reservation or settles one first locks the
org rows (SQLite: the BEGIN IMMEDIATE write lock), then reads usage and open holds, so two authorizations
can never both spend the same last tokens; inside a group the decisions are taken one after another over the
same figures, each counting the holds granted before it. Open holds (status `held`, not yet expired) count
against the user's monthly cap, the org pool and the org monthly cap exactly like usage. Usage that arrives
without a reservation only ever adds to what is used, so it needs no lock.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from models import INT64_MAX, OrgAllowedModel, Organization, Reservation, User, utcnow
from services.core import settings, validation
from services.core.actor import Actor
from services.core.crypto import new_token
from services.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from services.core.permissions import scoped_org_id
from services.gateway import idempotency
from services.tokens import notices
from services.tokens.budget import Budgets, Remaining, ban_active, spend_refusal
from services.tokens.pool import compute_summary
from services.usage import ledger

GATEWAY = ledger.GATEWAY
REASONS = ("ok", "unknown_user", "banned", "not_paid", "model_not_allowed", "monthly_cap_reached",
           "org_pool_exhausted", "org_monthly_cap_reached")
_USER_COLS = (User.paid, User.banned, User.banned_until, User.max_tokens, User.max_training_tokens)

__all__ = ["Ask", "Decision", "Remaining", "UsageReport", "authorize", "balance", "check_ask", "decide",
           "expire_reservations", "org_summary", "remaining_for", "report_many", "report_usage"]


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
        return {"allowed": self.allowed, "reason": self.reason, "remaining": self.remaining,
                "user_remaining": self.user_remaining, "org_remaining": self.org_remaining,
                "reservation_id": self.reservation_id, "reserved": self.reserved,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None}


def _require_gateway(actor: Actor, action: str = "do this") -> int:
    if actor.role not in (GATEWAY, "super_admin"):
        raise Forbidden(f"Only the gateway can {action}.")
    return actor.org_id


def lock_orgs(session: Session, org_ids) -> None:
    """Lock org rows in id order (PostgreSQL row locks; SQLite already holds the write lock). Locking again
    in the same transaction is harmless."""
    if org_ids:
        session.connection().execute(_LOCK_ORGS, {"values": sorted(org_ids)})


def remaining_for(session: Session, user: User, kind: str, now: datetime) -> Remaining:
    """What the user may still spend this month, net of open reservations (user cap, org pool, org cap)."""
    return Budgets(session, [user.org_id], [user.id], now).left(user.org_id, user, kind)


# ------------------------------------------------------------------------------------------ authorize
@dataclass
class Ask:
    """One checked authorization question (`check_ask`)."""

    org_id: int
    user: int | str  # id or lower-cased email
    model: str
    amount: int
    kind: str
    reserve: bool
    ttl: int
    api_key_id: int | None = None


def check_ask(org_id: int, *, user, model, tokens, kind="tokens", reserve=False, ttl_seconds=None,
              api_key_id: int | None = None) -> Ask:
    """The plain-Python checks of an authorization (no query); raises Invalid naming the field."""
    user, ttl_seconds = validation.json_int(user), validation.json_int(ttl_seconds)
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
    if not isinstance(model, str) or not model.strip():
        raise Invalid("Model is required.", field="model")
    for name, value in (("model", model), ("user", user)):
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL refuses NUL in text
            raise Invalid(f"{name} must not contain NUL characters.", field=name)
    if isinstance(user, str):
        if "@" not in user:
            raise Invalid("User must be a user id or an email.", field="user")
        user = user.strip().lower()
    elif not 0 < user <= INT64_MAX:
        user = 0  # no such user: answered "unknown_user"
    return Ask(org_id, user, model.strip(), amount, kind, reserve, ttl, api_key_id)


_LIST = bindparam("values", expanding=True)
_LISTED = select(OrgAllowedModel.org_id, OrgAllowedModel.model_id).where(OrgAllowedModel.org_id.in_(_LIST))


def _allowed_models(session: Session, org_ids) -> dict[int, set[int]]:
    """{org id: ids of the models it lists} (none listed: every enabled model is allowed)."""
    out: dict[int, set[int]] = {o: set() for o in org_ids}
    for org_id, model_id in session.connection().execute(_LISTED, {"values": list(org_ids)}):
        out[org_id].add(model_id)
    return out


def decide(session: Session, asks: list[Ask], now: datetime) -> list:
    """Answer checked authorizations in order (a Decision each, or the DomainError of an unknown model),
    reading every figure once and holding reserved amounts as it goes; reservations are inserted together."""
    if not asks:
        return []
    models = ledger.models_by_name(session, {a.model for a in asks})
    users = ledger.users_by_ref(session, {a.user for a in asks}, *_USER_COLS)
    org_ids = {a.org_id for a in asks}
    budgets = Budgets(session, org_ids, {u.id for u in users.values()}, now,
                      lock=any(a.reserve for a in asks))
    listed = _allowed_models(session, org_ids)
    out, new_rows = [], []
    for a in asks:
        m = models.get(a.model)
        if m is None:
            out.append(NotFound(f"Unknown model {a.model!r}.", field="model"))
            continue
        target = users.get(a.user)
        if target is None or target.org_id != a.org_id:
            out.append(Decision(False, "unknown_user"))
            continue
        left = budgets.left(a.org_id, target, a.kind)
        base = dict(remaining=left.remaining, user_remaining=left.user_remaining, org_remaining=left.org_remaining)
        model_ok = m[3] and (not listed[a.org_id] or m[0] in listed[a.org_id])
        reason = spend_refusal(target, left, now, amount=a.amount, model_ok=model_ok)
        if reason != "ok" or not a.reserve:
            out.append(Decision(reason == "ok", reason, **base))
            continue
        expires = now + timedelta(seconds=a.ttl)
        public_id = "rsv_" + new_token(18)
        new_rows.append({"public_id": public_id, "org_id": a.org_id, "user_id": target.id, "model_id": m[0],
                         "kind": a.kind, "amount": a.amount, "status": "held", "created_at": now,
                         "expires_at": expires, "settled_at": None, "settled_key": None, "api_key_id": a.api_key_id})
        budgets.hold(a.org_id, target.id, a.kind, a.amount)
        out.append(Decision(True, "ok", remaining=left.remaining - a.amount,
                            user_remaining=left.user_remaining - a.amount, org_remaining=left.org_remaining - a.amount,
                            reservation_id=public_id, reserved=a.amount, expires_at=expires))
    if new_rows:
        session.connection().execute(_INSERT_RES, new_rows)
    return out


def authorize(session: Session, *, actor: Actor, user, model, tokens, kind="tokens", reserve: bool = False,
              ttl_seconds=None, api_key_id: int | None = None, now: datetime | None = None) -> Decision:
    """May `user` spend `tokens` billed tokens of `kind` on `model` now? With `reserve`, the amount is held
    (reservation id + expiry) and counted against every budget until a usage report settles it."""
    org_id = scoped_org_id(session, actor, _require_gateway(actor))
    ask = check_ask(org_id, user=user, model=model, tokens=tokens, kind=kind, reserve=reserve,
                    ttl_seconds=ttl_seconds, api_key_id=api_key_id)
    answer = decide(session, [ask], now or utcnow())[0]
    if isinstance(answer, DomainError):
        raise answer
    return answer


# ------------------------------------------------------------------------------------------ usage reports
_INSERT_RES = insert(Reservation.__table__)


@dataclass
class UsageReport:
    """One checked usage report (`ledger.check_events`) of one org; `outcome` is set by `report_many`."""

    org_id: int
    pending: list
    outcome: object = None
    settle: list = field(default_factory=list)


def _reservations(session: Session, reports: list[UsageReport], now: datetime) -> dict[str, tuple]:
    """The reservations the reports name, locked (org rows first, in id order): {public id: row}."""
    wanted = {p.reservation_id for r in reports for p in r.pending if p.reservation_id is not None}
    if not wanted:
        return {}
    lock_orgs(session, {r.org_id for r in reports if any(p.reservation_id for p in r.pending)})
    return {r.public_id: r for r in session.connection().execute(_HELD, {"values": sorted(wanted)})}


_LOCK_ORGS = select(Organization.id).where(Organization.id.in_(_LIST)).order_by(Organization.id).with_for_update()
_HELD = select(Reservation.public_id, Reservation.id, Reservation.org_id, Reservation.user_id, Reservation.kind,
               Reservation.status, Reservation.expires_at, Reservation.settled_key).where(
    Reservation.public_id.in_(_LIST)).order_by(Reservation.id).with_for_update()
_RES = Reservation.__table__
_SETTLE = update(_RES).where(_RES.c.id == bindparam("rid"), _RES.c.status == "held").values(
    status="settled", settled_at=bindparam("at"), settled_key=bindparam("key"))


def _check_settlements(report: UsageReport, held: dict, prior: dict, claimed: dict, settled: dict,
                       now: datetime) -> list:
    """Reservation checks of one report against the rows and what earlier reports of the group did: the
    per-event errors; the settlements it would make go to `report.settle`."""
    errors = []
    for p in report.pending:
        rid = p.reservation_id
        if rid is None:
            continue
        res = held.get(rid)
        if res is None or res.org_id != report.org_id:
            errors.append((p.index, "reservation_id", f"Unknown reservation {rid!r}.", NotFound))
            continue
        settled_key = settled.get(rid, res.settled_key if res.status == "settled" else None)
        if settled_key is not None:
            if settled_key != p.idempotency_key:
                errors.append((p.index, "reservation_id",
                               f"Reservation {rid} was already settled by another usage report.", Conflict))
            continue
        if res.status == "expired" or res.expires_at <= now:
            errors.append((p.index, "reservation_id",
                           f"Reservation {rid} expired; report the usage without reservation_id.", Conflict))
            continue
        ev = prior.get(p.idempotency_key)
        owner = (ev[2], ev[3]) if ev else ((claimed[p.idempotency_key].user_id, claimed[p.idempotency_key].kind)
                                           if p.idempotency_key in claimed else (p.user_id, p.kind))
        if owner != (res.user_id, res.kind):
            errors.append((p.index, "reservation_id", f"Reservation {rid} is for another user or kind.", Conflict))
            continue
        report.settle.append((res, p.idempotency_key))
    return errors


def _reused_keys(report: UsageReport, prior: dict, claimed: dict) -> list:
    """Errors of the report's events whose key the ledger (`prior`) or an earlier report of the group
    (`claimed`) holds with a different event."""
    errors = idempotency.conflicts(report.pending, prior)
    for p in report.pending:
        first = claimed.get(p.idempotency_key)
        if first is not None and p.idempotency_key not in prior and (diff := idempotency.differences(
                p, idempotency.as_recorded(first))):
            errors.append(idempotency.conflict(p, diff))
    return errors


def _claim(live: list[UsageReport], held: dict, prior: dict, now: datetime) -> dict:
    """Decide each report over the known ledger rows (`prior`), in order: reused keys and reservation
    problems become its outcome (it records nothing); the others claim their new keys. {key: the Pending
    that records it}."""
    claimed: dict = {}
    settled: dict[str, str] = {}  # reservation public id → settling key, within the group
    for r in live:
        r.settle = []
        errors = _reused_keys(r, prior, claimed) or _check_settlements(r, held, prior, claimed, settled, now)
        r.outcome = ledger.event_errors(sorted(errors, key=lambda e: e[0])) if errors else None
        if errors:
            r.settle = []
            continue
        for p in r.pending:
            if p.idempotency_key not in prior:
                claimed.setdefault(p.idempotency_key, p)
        settled.update({res.public_id: key for res, key in r.settle})
    return claimed


def report_many(session: Session, reports: list[UsageReport], now: datetime) -> list[UsageReport]:
    """Record checked usage reports in the caller's transaction: ledger, rollups, settled reservations and
    threshold notices. A report whose users, models, reservations or reused keys do not check out gets its
    DomainError as `outcome` and writes nothing; the others get their [Recorded] (a key sent twice in the
    group with the same event is recorded once: the first report records it, later ones are answered as
    duplicates)."""
    everything = [p for r in reports for p in r.pending]
    users = ledger.users_by_ref(session, {p.user_ref for p in everything})
    models = ledger.models_by_name(session, {p.model_name for p in everything})
    for r in reports:
        errors = ledger.resolve(session, r.org_id, r.pending, users, models)
        r.outcome = ledger.event_errors(errors) if errors else None
    live = [r for r in reports if r.outcome is None]
    # Keys that settle a reservation are looked up first (the reservation must match the event that keeps
    # the key); every other retried key is found by the INSERT's ON CONFLICT (ledger.insert). If one of those
    # turns out to be a different event, the rows just inserted are taken back and the group is decided
    # again knowing that row (rare: a client reusing a key, or racing another transaction).
    prior = ledger.existing(session, {p.idempotency_key for r in live for p in r.pending if p.reservation_id})
    held = _reservations(session, live, now)
    while True:
        claimed = _claim(live, held, prior, now)
        ids, known = ledger.insert(session, list(claimed.values()), now, prior=prior)
        found = {k: known[k] for k in known.keys() - prior.keys()}
        prior = known
        if not found or not any(idempotency.conflicts(r.pending, found) for r in live if r.outcome is None):
            break
        ledger.undo(session, ids)
    ledger.add_to_rollups(session, list(claimed.values()), ids)
    for r in live:
        if r.outcome is not None:
            continue
        out = []
        for p in r.pending:
            k = p.idempotency_key
            if k in ids:
                out.append(ledger.Recorded(k, ids[k], claimed[k] is not p, claimed[k].billed_tokens))
            else:
                out.append(ledger.Recorded(k, prior[k][0], True, prior[k][1]))
        r.outcome = out
    settles = [{"rid": res.id, "key": key} for r in live if isinstance(r.outcome, list) for res, key in r.settle]
    if settles:
        session.connection().execute(_SETTLE, [dict(s, at=now) for s in settles])
    affected: dict[int, set] = {}
    for p in (claimed[k] for k in ids):
        affected.setdefault(p.org_id, set()).add((p.user_id, p.kind))
    if affected:
        notices.check_many(session, affected, now)
    return reports


def report_usage(session: Session, *, actor: Actor, events: list, now: datetime | None = None) -> list:
    """Record usage (one transaction: ledger, rollups, settled reservations, threshold notices)."""
    org_id = scoped_org_id(session, actor, _require_gateway(actor, "report usage"))
    now = now or utcnow()
    try:
        pending = ledger.check_events(events, now)
    except DomainError as exc:
        raise ledger.with_lookups(session, org_id, events, exc) from None
    report = report_many(session, [UsageReport(org_id, pending)], now)[0]
    if isinstance(report.outcome, DomainError):
        raise report.outcome
    return report.outcome


def expire_reservations(session: Session, *, now: datetime | None = None) -> int:
    """Mark held reservations past their expiry as expired (they already stopped counting at expiry)."""
    now = now or utcnow()
    result = session.exec(update(Reservation).where(  # org by org: ix_reservation_held finds them
        Reservation.org_id.in_(select(Organization.id)), Reservation.status == "held", Reservation.expires_at <= now)
        .values(status="expired"))
    return result.rowcount or 0


# ------------------------------------------------------------------------------------------ reads
def balance(session: Session, *, actor: Actor, user_id, kind: str = "tokens", now: datetime | None = None) -> dict:
    org_id = scoped_org_id(session, actor, _require_gateway(actor))
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
    org_id = scoped_org_id(session, actor, _require_gateway(actor))
    now = now or utcnow()
    s = compute_summary(session, org_id, now)
    org = session.get(Organization, org_id)
    budgets = Budgets(session, [org_id], [], now)
    out = {"org_id": org_id, "name": org.name, "users": s.users,
           "closest_expiry": s.closest_expiry.isoformat() if s.closest_expiry else None}
    for ks in (s.tokens, s.training):
        cap = org.monthly_token_cap if ks.kind == "tokens" else org.monthly_training_cap
        out[ks.kind] = {"purchased": ks.purchased, "assigned": ks.assigned, "used_this_month": ks.used_this_month,
                        "pool_used": ks.pool_used, "pool_remaining": ks.pool_remaining,
                        "reserved": budgets.held_org.get((org_id, ks.kind), 0), "monthly_cap": cap}
    return out


