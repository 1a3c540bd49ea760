"""Token requests: members ask for more, admins approve (exactly once) or deny, an auto-approval rule.

Approval is a conditional UPDATE on the request's status (`… WHERE status = 'pending'`): of two admins (or a
double click) exactly one changes the row and grants; the other gets "already reviewed". The allocation is
raised with `cap = cap + amount` in the same transaction.
"""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models import INT64_MAX, RequestStatus, TokenRequest, User, utcnow
from models.base import stored_id
from models.dto import Result
from services.core import audit, settings, validation
from services.core.actor import Actor, system_actor
from services.core.errors import AlreadyReviewed, Conflict, Forbidden, Invalid, NotFound
from services.core.permissions import MANAGE, require_role, require_step_up, scoped_org_id
from services.tokens.allocation import CAP_FIELD, bounds_for
from services.tokens.budget import used_this_month
from services.tokens.distribution.lock import ensure_unlocked
from services.tokens.distribution.policy import effective_policy
from services.tokens.pool import compute_summary

TABS = ("pending", "approved", "denied", "all")
MEMBER = "member"
AUTO_EXHAUSTED = "auto-increase exhausted"
PAGE_SIZES = (10, 25, 50, 100)


def _amount(value, field: str = "amount") -> int:
    amount = validation.token_amount(value, field, allow_zero=False)
    if amount > settings.REQUEST_MAX_TOKENS:
        raise Invalid(f"Ask for at most {settings.REQUEST_MAX_TOKENS:,} tokens at once.", field=field)
    return amount


def _snapshot(r: TokenRequest) -> dict:
    return {"status": r.status, "amount": r.amount, "kind": r.kind, "approved_amount": r.approved_amount,
            "grant_expires_at": r.grant_expires_at, "auto_approved": r.auto_approved, "source": r.source}


def _pool_state(session: Session, org_id: int, kind: str, now: datetime):
    return compute_summary(session, org_id, now).kind(kind)


def auto_approval_open(session: Session, org_id: int, kind: str, amount: int, now: datetime) -> bool:
    """The rule: on, amount within the per-request maximum, org used < 90% of its pool, pool not overbooked."""
    p = effective_policy(session, org_id, kind)
    if not p.auto_approve or amount > p.auto_approve_max:
        return False
    ks = _pool_state(session, org_id, kind, now)
    if ks.purchased <= 0 or ks.pool_used * 100 >= settings.AUTO_APPROVE_SUSPEND_PCT * ks.purchased:
        return False
    return amount <= ks.unassigned


def _new_request(session: Session, user: User, kind: str, amount: int, reason: str, source: str,
                 now: datetime) -> TokenRequest:
    if user.org_id is None:
        raise Forbidden("You do not belong to an organization.")
    r = TokenRequest(org_id=user.org_id, user_id=stored_id(user), kind=kind, amount=amount, reason=reason,
                     source=source,
                     allocation_at_request=getattr(user, CAP_FIELD[kind]),
                     used_at_request=used_this_month(session, stored_id(user), kind, now), created_at=now)
    session.add(r)
    session.flush()
    return r


def _pending(session: Session, user_id: int, kind: str) -> TokenRequest | None:
    return session.exec(select(TokenRequest).where(TokenRequest.user_id == user_id, TokenRequest.kind == kind,
                                                   TokenRequest.status == RequestStatus.pending.value)).first()


def submit_request(session: Session, *, actor: Actor, kind: str, amount, reason: str = "",
                   now: datetime | None = None) -> TokenRequest:
    """A signed-in user asks for more tokens for themself."""
    now = now or utcnow()
    kind = validation.kind(kind)
    amount = _amount(amount)
    reason = validation.text(reason, "reason", max_len=500)
    if actor.user_id is None:
        raise Forbidden("Sign in to request tokens.")
    user = session.get(User, actor.user_id, with_for_update=True)  # serializes one user's submissions
    if user is None or user.org_id is None:
        raise Forbidden("You do not belong to an organization.")
    if _pending(session, stored_id(user), kind) is not None:
        raise Conflict("You already have a pending request for this kind of tokens.")
    last_denial = session.exec(select(func.max(TokenRequest.reviewed_at)).where(
        TokenRequest.user_id == user.id, TokenRequest.kind == kind,
        TokenRequest.status == RequestStatus.denied.value)).one()
    if last_denial is not None:
        until = last_denial + timedelta(hours=settings.REQUEST_DENIAL_COOLDOWN_HOURS)
        if until > now:
            raise Conflict(f"Your last request was denied; you can ask again after {until:%Y-%m-%d %H:%M} UTC.")
    r = _new_request(session, user, kind, amount, reason, MEMBER, now)
    audit.record(session, actor, "request.submit", org_id=user.org_id, target_type="token_request", target_id=r.id,
                 after=_snapshot(r))
    if auto_approval_open(session, user.org_id, kind, amount, now):
        try:
            ensure_unlocked(session, user.org_id, now)
        except Conflict:
            return r  # a distribution is running: the request simply waits for an admin
        _grant(session, system_actor(user.org_id), r, amount, None, "auto-approved", now, auto=True)
    return r


def raise_auto_request(session: Session, user: User, kind: str, amount: int, now: datetime) -> TokenRequest | None:
    """From the auto-increase job when the ceiling or the pool stops it (at most one pending per user/kind)."""
    if _pending(session, stored_id(user), kind) is not None:
        return None
    amount = max(1, min(amount, settings.REQUEST_MAX_TOKENS))
    r = _new_request(session, user, kind, amount, "Automatic increase was stopped by the ceiling or the pool.",
                     AUTO_EXHAUSTED, now)
    audit.record(session, system_actor(user.org_id), "request.auto_raise", org_id=user.org_id,
                 target_type="token_request", target_id=r.id, after=_snapshot(r))
    return r


def _expiry(value, now: datetime) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip()[:10]) if len(value.strip()) <= 32 else None
        except ValueError:
            value = None
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date() if value.tzinfo else value.date()
    if not isinstance(value, date):
        raise Invalid("The expiry must be a date (YYYY-MM-DD).", field="expires_on")
    at = datetime.combine(value, time(0), tzinfo=UTC)
    if at <= now:
        raise Invalid("The expiry date must be in the future.", field="expires_on")
    if at > now + timedelta(days=3660):
        raise Invalid("The expiry date is too far away.", field="expires_on")
    return at


def _request_in_scope(session: Session, actor: Actor, request_id) -> tuple[int, TokenRequest]:
    org_id = scoped_org_id(session, actor)
    r = session.get(TokenRequest, request_id) if isinstance(request_id, int) and not isinstance(request_id, bool) \
        and 0 < request_id <= INT64_MAX else None
    if r is None or r.org_id != org_id:
        raise NotFound("Request not found.")
    return org_id, r


def approval_warnings(session: Session, r: TokenRequest, amount: int, now: datetime) -> list[str]:
    out = []
    ks = _pool_state(session, r.org_id, r.kind, now)
    if amount > ks.unassigned:
        out.append(f"Approving {amount:,} goes beyond the unassigned pool of {max(0, ks.unassigned):,} "
                   f"(overbooked by {amount - ks.unassigned:,}).")
    user = session.get(User, r.user_id)
    if user is None:
        raise NotFound("User not found.")
    b = bounds_for(user, r.kind, effective_policy(session, r.org_id, r.kind))
    new_cap = getattr(user, CAP_FIELD[r.kind]) + amount
    if b.ceiling is not None and new_cap > b.ceiling:
        out.append(f"The new allocation {new_cap:,} is above the ceiling of {b.ceiling:,}.")
    return out


def check_approval(session: Session, *, actor: Actor, request_id, amount=None,
                   now: datetime | None = None) -> list[str]:
    """The warnings an approval would carry (beyond the unassigned pool, above the ceiling). Changes nothing."""
    require_role(actor, MANAGE, "review token requests")
    now = now or utcnow()
    _, r = _request_in_scope(session, actor, request_id)
    return approval_warnings(session, r, r.amount if amount in (None, "") else _amount(amount), now)


def _grant(session: Session, actor: Actor, r: TokenRequest, amount: int, expires: datetime | None, note: str,
           now: datetime, *, auto: bool = False) -> bool:
    """Move the request from pending to approved and raise the allocation; False if someone else did first."""
    changed = session.exec(
        update(TokenRequest)
        .where(col(TokenRequest.id) == r.id, col(TokenRequest.status) == RequestStatus.pending.value)
        .values(status=RequestStatus.approved.value, approved_amount=amount, grant_expires_at=expires,
                auto_approved=auto, reviewer_id=actor.user_id, reviewed_at=now, review_note=note)).rowcount
    if changed != 1:
        return False
    cap_col = getattr(User, CAP_FIELD[r.kind])
    user = session.get(User, r.user_id, with_for_update=True)
    before = getattr(user, CAP_FIELD[r.kind])
    if before + amount > INT64_MAX:
        raise Invalid("That would make the allocation too large.", field="amount")
    session.execute(update(User).where(col(User.id) == r.user_id).values({cap_col: cap_col + amount}))
    session.refresh(r)
    session.refresh(user)
    audit.record(session, actor, "request.auto_approve" if auto else "request.approve", org_id=r.org_id,
                 target_type="token_request", target_id=r.id,
                 before={"status": "pending", CAP_FIELD[r.kind]: before},
                 after={**_snapshot(r), CAP_FIELD[r.kind]: getattr(user, CAP_FIELD[r.kind]), "note": note})
    return True


def approve(session: Session, *, actor: Actor, request_id, amount=None, expires_on=None, note: str = "",
            now: datetime | None = None) -> Result[TokenRequest]:
    """Approve (optionally another amount, optionally a temporary grant until a date). Exactly once."""
    require_role(actor, MANAGE, "review token requests")
    now = now or utcnow()
    org_id, r = _request_in_scope(session, actor, request_id)
    amount = r.amount if amount in (None, "") else _amount(amount)
    expires = _expiry(expires_on, now)
    note = validation.text(note, "note", max_len=500)
    if r.status != RequestStatus.pending.value:
        raise AlreadyReviewed()
    ensure_unlocked(session, org_id, now)
    if amount > settings.STEP_UP_GRANT_TOKENS:
        require_step_up(actor, now)
    warnings = approval_warnings(session, r, amount, now)
    if not _grant(session, actor, r, amount, expires, note, now):
        raise AlreadyReviewed()
    return Result(r, warnings)


def deny(session: Session, *, actor: Actor, request_id, note: str = "", now: datetime | None = None) -> TokenRequest:
    require_role(actor, MANAGE, "review token requests")
    now = now or utcnow()
    org_id, r = _request_in_scope(session, actor, request_id)
    note = validation.text(note, "note", max_len=500)
    changed = session.exec(
        update(TokenRequest)
        .where(col(TokenRequest.id) == r.id, col(TokenRequest.status) == RequestStatus.pending.value)
        .values(status=RequestStatus.denied.value, reviewer_id=actor.user_id, reviewed_at=now,
                review_note=note)).rowcount
    if changed != 1:
        raise AlreadyReviewed()
    session.refresh(r)
    audit.record(session, actor, "request.deny", org_id=org_id, target_type="token_request", target_id=r.id,
                 before={"status": "pending"}, after={**_snapshot(r), "note": note})
    return r


# ---------------------------------------------------------------------------------------------- listing
def _row(r: TokenRequest, user: User, reviewer_email: str | None) -> dict:
    return {"id": r.id, "user_id": r.user_id, "email": user.email, "name": user.name, "amount": r.amount,
            "kind": r.kind, "reason": r.reason, "source": r.source, "status": r.status,
            "allocation_at_request": r.allocation_at_request, "used_at_request": r.used_at_request,
            "current_allocation": getattr(user, CAP_FIELD[r.kind]), "approved_amount": r.approved_amount,
            "grant_expires_at": r.grant_expires_at, "auto_approved": r.auto_approved, "created_at": r.created_at,
            "reviewed_at": r.reviewed_at, "reviewer": reviewer_email or ("auto" if r.auto_approved else ""),
            "review_note": r.review_note}


def counts(session: Session, org_id: int) -> dict[str, int]:
    rows = session.exec(select(TokenRequest.status, func.count(col(TokenRequest.id))).where(
        TokenRequest.org_id == org_id).group_by(TokenRequest.status)).all()
    out = dict.fromkeys(TABS, 0)
    for status, n in rows:
        out[status] = int(n)
        out["all"] += int(n)
    return out


def list_requests(session: Session, *, actor: Actor, tab: str = "pending", page: int = 1,
                  page_size: int = 25) -> dict:
    """One page of the admin queue (newest first; pending: oldest first) with the counts of every tab."""
    require_role(actor, MANAGE, "review token requests")
    tab = validation.choice(tab, TABS, "tab")
    page = page if isinstance(page, int) and not isinstance(page, bool) and 1 <= page <= 1_000_000 else 1
    page_size = page_size if page_size in PAGE_SIZES else 25
    org_id = scoped_org_id(session, actor)
    q = select(TokenRequest, User).join(User, col(User.id) == TokenRequest.user_id).where(TokenRequest.org_id == org_id)
    if tab != "all":
        q = q.where(TokenRequest.status == tab)
    order = col(TokenRequest.id).asc() if tab == "pending" else col(TokenRequest.id).desc()
    rows = session.exec(q.order_by(order).offset((page - 1) * page_size).limit(page_size)).all()
    reviewers = {r.reviewer_id for r, _ in rows if r.reviewer_id}
    emails = dict(session.exec(select(User.id, User.email).where(col(User.id).in_(reviewers))).all()) \
        if reviewers else {}
    c = counts(session, org_id)
    return {"rows": [_row(r, u, emails.get(r.reviewer_id)) for r, u in rows], "counts": c, "total": c[tab],
            "page": page, "page_size": page_size}


def my_requests(session: Session, *, actor: Actor, limit: int = 50) -> list[dict]:
    if actor.user_id is None:
        raise Forbidden("Sign in to see your requests.")
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound("Your account no longer exists.")
    rows = session.exec(select(TokenRequest).where(TokenRequest.user_id == user.id)
                        .order_by(col(TokenRequest.id).desc()).limit(limit)).all()
    return [_row(r, user, None) for r in rows]
