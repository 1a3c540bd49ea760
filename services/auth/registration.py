"""Self-registration: anyone may create an account (email, name, password), then confirms the e-mail address
with a single-use link. On confirmation, a user whose e-mail domain is the `email_domain` of exactly one
organization joins it as an unpaid member awaiting activation (its admins see them in User Management);
everyone else stays unassigned until a super admin assigns them (`assign_to_org`, audited).

Registrations are throttled per IP (services.auth.throttle). The answer never says whether the address already
had an account: that address receives a "you already have an account" message instead. Nor does its timing:
the password is hashed on both paths (the costly part), and the page answers no sooner than
REGISTER_ANSWER_MS after the request (`answer_delay`), so the few database writes of a new account are hidden too.
"""

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from models import Organization, PasswordReset, Role, User, utcnow
from models.base import stored_id
from services.auth import throttle
from services.core import audit, mailer, settings, validation
from services.core.actor import Actor
from services.core.crypto import new_token, token_hash
from services.core.errors import Conflict, Invalid, NotFound
from services.core.passwords import check_strength, hash_password
from services.core.permissions import require_super
from services.core.user_records import find_by_email, user_snapshot

VERIFY_HOURS = 48
PURPOSE = "verify"
ANSWER = "Check your inbox: we sent a link to confirm your e-mail address."
INVALID_LINK = "This confirmation link is invalid, was already used or has expired. Register again to get a new one."


def answer_delay(elapsed_seconds: float) -> float:
    """How long the page still waits before it answers a registration (the same total time on both paths)."""
    return max(0.0, settings.REGISTER_ANSWER_MS / 1000 - elapsed_seconds)


def _ip_key(ip: str) -> str:
    return f"register:ip:{(ip or 'unknown')[:45]}"


def verify_link(token: str) -> str:
    return f"{settings.public_url()}/verify-email?token={token}"


def org_for_domain(session: Session, email: str) -> Organization | None:
    """The one organization whose e-mail domain matches (None when none or several do)."""
    domain = email.rpartition("@")[2].lower()
    orgs = session.exec(select(Organization).where(func.lower(Organization.email_domain) == domain).limit(2)).all()
    return orgs[0] if len(orgs) == 1 else None


def register(session: Session, *, email, name, password, ip: str = "", now: datetime | None = None) -> str:
    """Create an unverified, unassigned account and e-mail the confirmation link. Returns the message to show."""
    now = now or utcnow()
    key = [_ip_key(ip)]
    try:
        throttle.check(session, key, now)
    except Conflict as e:
        raise Conflict(f"Too many registrations from your network. Try again in {e.retry_after or 60} seconds.",
                       retry_after=e.retry_after) from None
    addr = validation.email(email)
    name = validation.text(name, "name", max_len=200, required=True)
    if name.startswith(("=", "+", "-", "@", "\t", "\r")):
        raise Invalid("Name must not start with = + - @ or a tab.", field="name")
    check_strength(password)
    throttle.fail(session, key, now)  # every registration counts towards the per-IP limit
    password_hash = hash_password(password)  # either way: the answer must not tell by its time (see the module doc)
    if find_by_email(session, addr) is not None:
        mailer.queue(session, addr, "Your Steward account",
                    "Someone (maybe you) tried to register this address, but it already has a Steward account.\n"
                    f"Sign in at {settings.public_url()}/login or reset your password there.", now=now)
        return ANSWER
    user = User(email=addr, name=name, password_hash=password_hash, role=Role.member.value,
                org_id=None, paid=False, verified=False, created_at=now)
    session.add(user)
    session.flush()
    raw = new_token()
    session.add(PasswordReset(token_hash=token_hash(raw), user_id=stored_id(user), purpose=PURPOSE, created_at=now,
                              expires_at=now + timedelta(hours=VERIFY_HOURS)))
    audit.record(session, Actor(user.id, user.role, None, email=addr, ip=ip or ""), "user.register",
                 target_type="user", target_id=user.id, after=user_snapshot(user))
    mailer.queue(session, addr, "Confirm your Steward account",
                f"Hello {name},\n\nOpen this link within {VERIFY_HOURS} hours to confirm your e-mail address:\n\n"
                f"{verify_link(raw)}\n\nIf you did not register, ignore this message.", now=now)
    return ANSWER


def verify_email(session: Session, *, token, now: datetime | None = None) -> User:
    """Use a confirmation link once: mark the address verified and join the org of its domain, if any."""
    now = now or utcnow()
    if not isinstance(token, str) or not (20 <= len(token) <= 100):
        raise Invalid(INVALID_LINK, field="token")
    row = session.exec(select(PasswordReset).where(PasswordReset.token_hash == token_hash(token))
                       .with_for_update()).first()
    if row is None or row.purpose != PURPOSE or row.used_at is not None or row.expires_at <= now:
        raise Invalid(INVALID_LINK, field="token")
    user = session.get(User, row.user_id, with_for_update=True)
    if user is None:
        raise Invalid(INVALID_LINK, field="token")
    before = user_snapshot(user)
    user.verified = True
    if user.org_id is None and user.role == Role.member.value:
        org = org_for_domain(session, user.email)
        if org is not None:
            user.org_id, user.paid, user.max_tokens, user.max_training_tokens = org.id, False, 0, 0
    row.used_at = now
    session.add_all([user, row])
    audit.record(session, Actor(user.id, user.role, user.org_id, email=user.email), "user.verify_email",
                 org_id=user.org_id, target_type="user", target_id=user.id, before=before,
                 after=user_snapshot(user))
    return user


def unassigned_users(session: Session, *, actor: Actor, limit: int = 100) -> list[dict]:
    """Users without an organization (super admins only), newest first."""
    require_super(actor, "see unassigned users")
    limit = limit if isinstance(limit, int) and 0 < limit <= 500 else 100
    rows = session.exec(select(User).where(col(User.org_id).is_(None), User.role != Role.super_admin.value)
                        .order_by(col(User.id).desc()).limit(limit)).all()
    return [{"id": u.id, "email": u.email, "name": u.name, "verified": u.verified,
             "created_at": u.created_at} for u in rows]


def assign_to_org(session: Session, *, actor: Actor, user_id, org_id) -> User:
    """A super admin puts an unassigned user into an organization, as an unpaid member awaiting activation."""
    require_super(actor, "assign users to organizations")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id < 2**31:
        raise NotFound("User not found.")
    if (not isinstance(org_id, int) or isinstance(org_id, bool) or not 0 < org_id < 2**31
            or session.get(Organization, org_id) is None):
        raise NotFound("Organization not found.")
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("User not found.")
    if user.role == Role.super_admin.value:
        raise Invalid("Super admins do not belong to an organization.", field="user_id")
    if user.org_id is not None:
        raise Conflict("This user already belongs to an organization.", field="user_id")
    before = user_snapshot(user)
    user.org_id, user.paid, user.max_tokens, user.max_training_tokens = org_id, False, 0, 0
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.assign_org", org_id=org_id, target_type="user", target_id=user.id,
                 before=before, after=user_snapshot(user))
    return user
