"""Signing in (argon2 passwords, DB-stored throttling, sign-in history) and password resets."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from models import ADMIN_ROLES, PasswordReset, SignInEvent, User, utcnow
from models.base import stored_id
from services.auth import devices, sessions, throttle
from services.core import audit, mailer, settings
from services.core.actor import Actor
from services.core.crypto import new_token, token_hash
from services.core.errors import Conflict, Invalid, NotFound
from services.core.passwords import check_strength, hash_password, verify_password
from services.core.permissions import require_super
from services.core.user_records import find_by_email
from services.core.validation import email as check_email
from services.tokens.budget import ban_active

BAD_LOGIN = "Email or password is incorrect."
_DUMMY_HASH = hash_password("timing-equaliser-password")


@dataclass
class SignInResult:
    ok: bool
    message: str = ""
    token: str | None = None
    next_step: str = ""  # "enrol_mfa" | "verify_mfa" | "member" | "admin"
    retry_after: int | None = None
    device_token: str | None = None  # a member's sign-in is complete: the browser is trusted from now on


def _event(session: Session, user: User | None, email: str, ip: str, ua: str, ok: bool, reason: str, now) -> None:
    session.add(SignInEvent(created_at=now, user_id=user.id if user else None, org_id=user.org_id if user else None,
                            email=email[:320], ip=ip[:45], user_agent=ua[:300], success=ok, reason=reason))


def throttle_keys(email: str, ip: str, device_id: str | None) -> list[str]:
    """A trusted browser counts on its own key; anyone else on the account's and the address's (no address
    known: no shared key for everyone without one)."""
    if device_id is not None:
        return [f"login:device:{device_id}"]
    return [f"login:acct:{email}"] + ([f"login:ip:{ip}"] if ip else [])


def sign_in(session: Session, *, email, password, ip: str = "", user_agent: str = "", device_token=None,
            now: datetime | None = None) -> SignInResult:
    """Check the credentials. Failures are recorded and counted (the caller commits either way). A valid
    `device_token` of this account (services/auth/devices.py) counts failures on that browser's own key."""
    now = now or utcnow()
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    user = find_by_email(session, email) if email else None
    device_id = devices.device_of(device_token, user.id if user else None, now)
    keys = throttle_keys(email, ip, device_id)
    try:
        throttle.check(session, keys, now)
    except Conflict as e:
        _event(session, None, email, ip, user_agent, False, "throttled", now)
        return SignInResult(False, e.message, retry_after=e.retry_after)
    if user is None or not verify_password(user.password_hash, password if isinstance(password, str) else ""):
        if user is None:
            verify_password(_DUMMY_HASH, "x")  # same work whether or not the account exists
        throttle.fail(session, keys, now)
        _event(session, user, email, ip, user_agent, False, "bad_credentials", now)
        return SignInResult(False, BAD_LOGIN)
    if ban_active(user, now):
        _event(session, user, email, ip, user_agent, False, "banned", now)
        until = f" until {user.banned_until:%Y-%m-%d %H:%M} UTC" if user.banned_until else ""
        reason = f" Reason: {user.ban_reason}." if user.ban_reason else ""
        return SignInResult(False, f"This account is banned{until}.{reason}")
    throttle.clear(session, keys[:1])  # the account's failures (or the trusted browser's)
    token = sessions.create(session, user, ip=ip, user_agent=user_agent, device_id=device_id, now=now)
    user.last_login_at = now
    session.add(user)
    _event(session, user, email, ip, user_agent, True, "password_ok" if device_id is None else "password_ok_trusted",
           now)
    if user.role in ADMIN_ROLES:
        return SignInResult(True, token=token, next_step="verify_mfa" if user.mfa_enabled else "enrol_mfa")
    return SignInResult(True, token=token, next_step="member",
                        device_token=devices.issue(stored_id(user), device_id, now))


def _reset_link(token: str) -> str:
    return f"{settings.public_url()}/reset-password?token={token}"


PASSWORD_LINKS = ("reset", "invite")  # the links that set a password (not the e-mail confirmation)


def end_password_links(session: Session, user_id: int, now: datetime, purposes=PASSWORD_LINKS) -> int:
    """Every unused, unexpired link of the user with one of `purposes` stops working now (it expires)."""
    return session.exec(update(PasswordReset)
                        .where(col(PasswordReset.user_id) == user_id, col(PasswordReset.purpose).in_(purposes),
                               col(PasswordReset.used_at).is_(None), col(PasswordReset.expires_at) > now)
                        .values(expires_at=now).execution_options(synchronize_session=False)).rowcount


def _new_reset(session: Session, user: User, *, purpose: str, created_by: int | None, now, minutes: int) -> str:
    """A new link; every older password link of the user stops working."""
    end_password_links(session, stored_id(user), now)
    raw = new_token()
    session.add(PasswordReset(token_hash=token_hash(raw), user_id=stored_id(user), purpose=purpose, created_at=now,
                              created_by=created_by, expires_at=now + timedelta(minutes=minutes)))
    session.flush()
    return _reset_link(raw)


def request_reset(session: Session, *, email, now: datetime | None = None) -> str:
    """Send a reset link if the account exists. The answer never says whether it does."""
    now = now or utcnow()
    answer = "If an account exists for that address, a reset link is on its way."
    try:

        addr = check_email(email)
    except Invalid:
        return answer
    user = find_by_email(session, addr)
    if user is not None and not ban_active(user, now):
        link = _new_reset(session, user, purpose="reset", created_by=None, now=now,
                          minutes=settings.RESET_LINK_MINUTES)
        mailer.queue(session, user.email, "Reset your Steward password",
                    f"Open this link within {settings.RESET_LINK_MINUTES} minutes to choose a new password:\n\n"
                    f"{link}\n\nIf you did not ask for it, ignore this message.", now=now)
    return answer


def admin_reset_link(session: Session, *, actor: Actor, user_id: int, now: datetime | None = None) -> str:
    """A super admin creates a reset link for a user (audited); they pass it on themselves."""
    require_super(actor, "create password reset links")
    now = now or utcnow()
    user = session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None:
        raise NotFound("User not found.")
    link = _new_reset(session, user, purpose="reset", created_by=actor.user_id, now=now,
                      minutes=settings.RESET_LINK_MINUTES)
    audit.record(session, actor, "user.reset_link", org_id=user.org_id, target_type="user", target_id=user.id)
    return link


def reset_password(session: Session, *, token, new_password, now: datetime | None = None) -> User:
    """Use a reset link once: set the password, end every other password link of the user and sign the user
    out everywhere."""
    now = now or utcnow()
    invalid = Invalid("This link is invalid or has expired. Ask for a new one.", field="token")
    if not isinstance(token, str) or not (20 <= len(token) <= 100):
        raise invalid
    row = session.exec(select(PasswordReset).where(PasswordReset.token_hash == token_hash(token))
                       .with_for_update()).first()
    if row is None or row.purpose not in ("reset", "invite") or row.used_at is not None or row.expires_at <= now:
        raise invalid
    check_strength(new_password)
    user = session.get(User, row.user_id)
    if user is None:
        raise invalid
    set_password_from_link(session, user, row, new_password, now, verify=row.purpose == "invite")
    audit.record(session, Actor(user.id, user.role, user.org_id, email=user.email), "user.password_reset",
                 org_id=user.org_id, target_type="user", target_id=user.id)
    return user


def set_password_from_link(session: Session, user: User, row: PasswordReset, password: str, now: datetime, *,
                           verify: bool) -> None:
    """A link was used: the new password, the link spent, every other password link ended, every session out."""
    user.password_hash = hash_password(password)
    if verify:
        user.verified = True
    row.used_at = now
    session.add_all([user, row])
    session.flush()
    end_password_links(session, stored_id(user), now)
    sessions.revoke_all(session, stored_id(user), now=now)
