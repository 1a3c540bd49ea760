"""The gateway's authorizations: may a user spend N tokens now (optionally holding them in a reservation).

Set-based: `decide` answers a group of authorizations in one transaction with a fixed handful of queries (the
group commit writer, services/gateway/group_commit.py, hands it whole groups; the one-call `authorize` is a
group of one). Usage reports, which settle reservations, are services/gateway/reports.py.

Exactness under concurrency: every transaction that grants a reservation or settles one first locks the
org rows (SQLite: the BEGIN IMMEDIATE write lock), then reads usage and open holds, so two authorizations
can never both spend the same last tokens; inside a group the decisions are taken one after another over the
same figures, each counting the holds granted before it. Open holds (status `held`, not yet expired) count
against the user's monthly cap, the org pool and the org monthly cap exactly like usage. Usage that arrives
without a reservation only ever adds to what is used, so it needs no lock.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Table, bindparam, insert, select
from sqlmodel import Session, col

from models import INT64_MAX, OrgAllowedModel, Organization, Reservation, User, table_of, utcnow
from services.core import settings, validation
from services.core.actor import Actor
from services.core.crypto import new_token
from services.core.errors import DomainError, Forbidden, Invalid, NotFound
from services.core.permissions import scoped_org_id
from services.tokens.budget import Budgets, spend_refusal
from services.usage import ledger

GATEWAY = ledger.GATEWAY
REASONS = ("ok", "unknown_user", "banned", "not_paid", "model_not_allowed", "monthly_cap_reached",
           "org_pool_exhausted", "org_monthly_cap_reached")
_USER_COLS = (User.paid, User.banned, User.banned_until, User.max_tokens, User.max_training_tokens)


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


def require_gateway(actor: Actor, action: str = "do this") -> int | None:
    if actor.role not in (GATEWAY, "super_admin"):
        raise Forbidden(f"Only the gateway can {action}.")
    return actor.org_id


def lock_orgs(session: Session, org_ids) -> None:
    """Lock org rows in id order (PostgreSQL row locks; SQLite already holds the write lock). Locking again
    in the same transaction is harmless."""
    if org_ids:
        session.connection().execute(_LOCK_ORGS, {"values": sorted(org_ids)})


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


_LIST: BindParameter[list[Any]] = bindparam("values", expanding=True)
_LISTED = select(col(OrgAllowedModel.org_id), col(OrgAllowedModel.model_id)).where(
    col(OrgAllowedModel.org_id).in_(_LIST))
_RES: Table = table_of(Reservation)
_INSERT_RES = insert(_RES)
_LOCK_ORGS = select(col(Organization.id)).where(col(Organization.id).in_(_LIST)).order_by(
    col(Organization.id)).with_for_update()


def _allowed_models(session: Session, org_ids) -> dict[int, set[int]]:
    """{org id: ids of the models it lists} (none listed: every enabled model is allowed)."""
    out: dict[int, set[int]] = {o: set() for o in org_ids}
    for org_id, model_id in session.connection().execute(_LISTED, {"values": list(org_ids)}):
        out[org_id].add(model_id)
    return out


def decide(session: Session, asks: list[Ask], now: datetime) -> list[Decision | DomainError]:
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
    out: list[Decision | DomainError] = []
    new_rows: list[dict[str, object]] = []
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
        model_ok = m[3] and (not listed[a.org_id] or m[0] in listed[a.org_id])
        reason = spend_refusal(target, left, now, amount=a.amount, model_ok=model_ok)
        if reason != "ok" or not a.reserve:
            out.append(Decision(reason == "ok", reason, remaining=left.remaining, user_remaining=left.user_remaining,
                                org_remaining=left.org_remaining))
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
    org_id = scoped_org_id(session, actor, require_gateway(actor))
    ask = check_ask(org_id, user=user, model=model, tokens=tokens, kind=kind, reserve=reserve,
                    ttl_seconds=ttl_seconds, api_key_id=api_key_id)
    answer = decide(session, [ask], now or utcnow())[0]
    if isinstance(answer, DomainError):
        raise answer
    return answer
