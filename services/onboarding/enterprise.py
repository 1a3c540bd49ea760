"""Enterprise onboarding: any signed-in user requests an enterprise account; super admins review it, reject it,
mark it awaiting payment, or activate it. Activation creates the organization, assigns the users, makes the
admins admins, records the purchase and gives every user the default allocation — in the caller's single
transaction, audited, and idempotent (a second activation changes nothing). The rules live in
services/onboarding/rules.py.
"""

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from models import EnterpriseRequest, EnterpriseStatus, Role, User, utcnow
from models.dto import Result
from services.core import audit, settings, validation
from services.core.actor import Actor
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.core.notifications import notify
from services.core.permissions import require_step_up, require_super
from services.core.user_records import user_snapshot
from services.onboarding.rules import OPEN, Check, check_request
from services.orgs import organizations

S = EnterpriseStatus
STATUS_LABELS = {S.pending.value: "Pending review", S.awaiting_payment.value: "Awaiting payment",
                 S.activated.value: "Activated", S.rejected.value: "Rejected"}


def _signed_in(actor: Actor) -> int:
    """The signed-in person's user id."""
    if actor.user_id is None:
        raise Forbidden("Sign in first.")
    return actor.user_id


def _snapshot(r: EnterpriseRequest) -> dict:
    return {"org_name": r.org_name, "status": r.status, "users": len(r.user_emails), "admins": r.admin_emails,
            "tokens": r.tokens, "training_tokens": r.training_tokens, "reason": r.reason, "org_id": r.org_id}


def as_form(r: EnterpriseRequest) -> dict:
    """The stored request as the form values the rules read."""
    return {"org_name": r.org_name, "billing_address": r.billing_address, "user_emails": list(r.user_emails),
            "admin_emails": list(r.admin_emails), "tokens": r.tokens, "training_tokens": r.training_tokens,
            "notes": r.notes}


def validate(session: Session, *, actor: Actor, data) -> Check:
    """Live validation for the request form (nothing stored)."""
    _signed_in(actor)
    return check_request(session, data)


def submit(session: Session, *, actor: Actor, data) -> Result[EnterpriseRequest]:
    """Store a request if every rule passes (else Invalid with the first message; `validate` lists all)."""
    requester_id = _signed_in(actor)
    check = check_request(session, data)
    if not check.ok:
        raise check.first_error()
    open_count = session.exec(select(func.count()).select_from(EnterpriseRequest).where(
        EnterpriseRequest.requester_id == requester_id, col(EnterpriseRequest.status).in_(OPEN))).one()
    if open_count >= settings.ONBOARDING_OPEN_PER_USER:
        raise Conflict(f"You already have {open_count} requests under review; wait for a decision first.")
    r = EnterpriseRequest(requester_id=requester_id, org_name=check.org_name,
                          billing_address=check.billing_address, user_emails=check.user_emails,
                          admin_emails=check.admin_emails, tokens=check.tokens,
                          training_tokens=check.training_tokens, notes=check.notes)
    session.add(r)
    session.flush()
    audit.record(session, actor, "enterprise_request.submit", target_type="enterprise_request", target_id=r.id,
                 after=_snapshot(r))
    return Result(r)


def _row(r: EnterpriseRequest, requester: str = "", org_name: str = "") -> dict:
    return {"id": r.id, "org_name": r.org_name, "status": r.status, "status_label": STATUS_LABELS[r.status],
            "users": len(r.user_emails), "admins": len(r.admin_emails), "tokens": r.tokens,
            "training_tokens": r.training_tokens, "reason": r.reason, "created_at": r.created_at,
            "requester": requester, "org_id": r.org_id, "org": org_name}


def my_requests(session: Session, *, actor: Actor, limit: int = 20) -> list[dict]:
    _signed_in(actor)
    rows = session.exec(select(EnterpriseRequest).where(EnterpriseRequest.requester_id == actor.user_id)
                        .order_by(col(EnterpriseRequest.id).desc()).limit(limit)).all()
    return [_row(r) for r in rows]


def list_requests(session: Session, *, actor: Actor, open_only: bool = True, limit: int = 50,
                  offset: int = 0) -> list[dict]:
    require_super(actor, "review enterprise requests")
    q = select(EnterpriseRequest, User.email).join(User, col(User.id) == EnterpriseRequest.requester_id)
    if open_only:
        q = q.where(col(EnterpriseRequest.status).in_(OPEN))
    rows = session.exec(q.order_by(col(EnterpriseRequest.id).desc()).offset(max(0, offset))
                        .limit(min(limit, 200))).all()
    return [_row(r, email) for r, email in rows]


def count_open(session: Session, *, actor: Actor) -> int:
    require_super(actor, "review enterprise requests")
    return session.exec(select(func.count()).select_from(EnterpriseRequest)
                        .where(col(EnterpriseRequest.status).in_(OPEN))).one()


def _load(session: Session, request_id, *, lock: bool = False) -> EnterpriseRequest:
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise NotFound("Request not found.")
    q = select(EnterpriseRequest).where(EnterpriseRequest.id == request_id)
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    r = session.exec(q).first()
    if r is None:
        raise NotFound("Request not found.")
    return r


def review(session: Session, *, actor: Actor, request_id) -> tuple[dict, Check | None]:
    """The request with the rules re-run now (None for decided requests)."""
    require_super(actor, "review enterprise requests")
    r = _load(session, request_id)
    requester = session.get(User, r.requester_id)
    detail = _row(r, requester.email if requester else "")
    detail.update(billing_address=r.billing_address, notes=r.notes, user_emails=list(r.user_emails),
                  admin_emails=list(r.admin_emails))
    return detail, (check_request(session, as_form(r), request_id=r.id) if r.status in OPEN else None)


def _decide(session: Session, actor: Actor, r: EnterpriseRequest, status: str, action: str, **extra) -> None:
    before = _snapshot(r)
    r.status, r.reviewer_id, r.updated_at = status, actor.user_id, utcnow()
    for k, v in extra.items():
        setattr(r, k, v)
    session.add(r)
    session.flush()
    audit.record(session, actor, action, org_id=r.org_id, target_type="enterprise_request", target_id=r.id,
                 before=before, after=_snapshot(r))


def _tell(session: Session, r: EnterpriseRequest, title: str, body: str) -> None:
    requester = session.get(User, r.requester_id)
    if requester is not None:
        notify(session, requester, title, body)


def reject(session: Session, *, actor: Actor, request_id, reason) -> Result[EnterpriseRequest]:
    require_super(actor, "reject enterprise requests")
    reason = validation.text(reason, "reason", max_len=500, required=True)
    r = _load(session, request_id, lock=True)
    if r.status not in OPEN:
        raise Conflict(f"This request is already {STATUS_LABELS[r.status].lower()}.")
    _decide(session, actor, r, S.rejected.value, "enterprise_request.reject", reason=reason)
    _tell(session, r, f"Enterprise request for {r.org_name} rejected",
          f"Your request for the enterprise account '{r.org_name}' was rejected: {reason}")
    return Result(r)


def mark_awaiting_payment(session: Session, *, actor: Actor, request_id) -> Result[EnterpriseRequest]:
    require_super(actor, "review enterprise requests")
    r = _load(session, request_id, lock=True)
    if r.status == S.awaiting_payment.value:
        return Result(r, ["The request is already awaiting payment."])
    if r.status != S.pending.value:
        raise Conflict(f"This request is already {STATUS_LABELS[r.status].lower()}.")
    _decide(session, actor, r, S.awaiting_payment.value, "enterprise_request.awaiting_payment")
    _tell(session, r, f"Enterprise request for {r.org_name}: awaiting payment",
          f"Your request for '{r.org_name}' was approved. We will get in touch about payment; the account is "
          "activated once payment has been received.")
    return Result(r)


def activate(session: Session, *, actor: Actor, request_id, purchased_at: datetime | None = None) -> Result[int | None]:
    """Create the org with its users, admins, purchase and default allocations. Result.value is the org id.
    Runs entirely in the caller's transaction: an error anywhere leaves nothing behind."""
    require_super(actor, "activate enterprise accounts")
    require_step_up(actor)
    r = _load(session, request_id, lock=True)
    if r.status == S.activated.value:
        return Result(r.org_id, ["This request was activated already; nothing changed."])
    if r.status not in OPEN:
        raise Conflict(f"This request is already {STATUS_LABELS[r.status].lower()}.")
    check = check_request(session, as_form(r), request_id=r.id)
    if not check.ok:
        raise Invalid(f"Cannot activate: {check.summary()}")
    requester = session.get(User, r.requester_id)
    org = organizations.create_org(session, actor=actor, name=check.org_name, billing_address=check.billing_address,
                          contact_name=requester.name if requester else "",
                          email=requester.email if requester else "")
    if org.id is None:  # create_org flushes, so a stored org always has its id
        raise RuntimeError("The new organization has no id.")
    admins = set(check.admin_emails)
    tokens_each = max(settings.DEFAULT_ALLOCATION, settings.MIN_TOKENS_PER_USER)
    for email in check.user_emails:
        u = session.exec(select(User).where(func.lower(User.email) == email).with_for_update()
                         .execution_options(populate_existing=True)).one()
        if u.org_id is not None:  # joined an org since the check: give up, the transaction rolls back
            raise Conflict(f"{email} joined another organization in the meantime.")
        before = user_snapshot(u)
        u.org_id, u.paid = org.id, True
        u.role = Role.admin.value if email in admins else (u.role if u.role == Role.finance.value else
                                                             Role.member.value)
        u.max_tokens, u.max_training_tokens = tokens_each, settings.DEFAULT_TRAIN_ALLOCATION
        session.add(u)
        session.flush()
        audit.record(session, actor, "user.update", org_id=org.id, target_type="user", target_id=u.id,
                     before=before, after=user_snapshot(u))
    now = purchased_at or utcnow()
    organizations.record_purchase(session, actor=actor, org_id=org.id, tokens=check.tokens,
                         training_tokens=check.training_tokens, payer_email=requester.email if requester else "",
                         comment=f"Enterprise request #{r.id}", purchased_at=now,
                         expires_at=now + timedelta(days=settings.PURCHASE_VALID_DAYS))
    _decide(session, actor, r, S.activated.value, "enterprise_request.activate", org_id=org.id)
    _tell(session, r, f"{r.org_name} is active",
          f"The enterprise account '{r.org_name}' is active with {len(check.user_emails)} users. Admins set up "
          "two-factor authentication the first time they open the Admin Panel.")
    return Result(org.id)


