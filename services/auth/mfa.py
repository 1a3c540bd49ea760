"""TOTP MFA (pyotp): enrolment with a QR code, verification with replay protection, recovery codes."""

import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlmodel import Session, col, delete, select

from models import RecoveryCode, User, utcnow
from services.auth import sessions, throttle
from services.core import audit
from services.core.actor import Actor
from services.core.crypto import decrypt, encrypt, token_hash
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.core.permissions import require_step_up, require_super

ISSUER = "Steward"
RECOVERY_CODES = 10


@dataclass
class Enrolment:
    secret: str
    uri: str
    qr_data_uri: str


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("User not found.")
    return user


def qr_data_uri(uri: str) -> str:
    """A standalone SVG (with the xmlns a browser needs to show it as an <img>) as a data URI."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, dark="#111827", light="#ffffff")


def begin_enrolment(session: Session, *, user_id: int) -> Enrolment:
    """Create (or show again) the pending secret of a user who has not finished enrolment."""
    user = _user(session, user_id)
    if user.mfa_enabled:
        raise Conflict("MFA is already set up for this account.")
    secret = decrypt(user.mfa_secret_enc) if user.mfa_secret_enc else None
    if not secret:
        secret = pyotp.random_base32()
        user.mfa_secret_enc = encrypt(secret)
        session.add(user)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(secret=secret, uri=uri, qr_data_uri=qr_data_uri(uri))


def _clean_code(code) -> str:
    if not isinstance(code, str):
        raise Invalid("Enter the 6-digit code from your authenticator app.", field="code")
    return code.strip().replace(" ", "").replace("-", "").lower()


def _match_totp(secret: str, code: str, now: datetime, last_counter: int | None) -> int | None:
    """The time-step counter the code matches (±1 step), if it was not used before."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    for counter in (step - 1, step, step + 1):
        if secrets.compare_digest(totp.at(counter * totp.interval), code):
            if last_counter is not None and counter <= last_counter:
                return None  # replay: each code (and any older one) is accepted once
            return counter
    return None


def _throttle_key(user_id: int, device_id: str | None = None) -> list[str]:
    """Wrong codes count per user, or per trusted browser (services/auth/devices.py) when the session has one."""
    return [f"totp:device:{device_id}"] if device_id else [f"totp:user:{user_id}"]


def confirm_enrolment(session: Session, *, user_id: int, code, device_id: str | None = None,
                      now: datetime | None = None) -> list[str]:
    """Turn MFA on with a first valid code; returns the recovery codes (shown once, stored hashed)."""
    now = now or utcnow()
    user = _user(session, user_id)
    if user.mfa_enabled:
        raise Conflict("MFA is already set up for this account.")
    secret = decrypt(user.mfa_secret_enc) if user.mfa_secret_enc else None
    if not secret:
        raise Invalid("Start the MFA setup first.")
    keys = _throttle_key(user_id, device_id)
    throttle.check(session, keys, now)
    counter = _match_totp(secret, _clean_code(code), now, None)
    if counter is None:
        throttle.fail(session, keys, now)
        return []
    user.mfa_enabled, user.mfa_enrolled_at, user.mfa_last_counter = True, now, counter
    session.add(user)
    codes = new_recovery_codes(session, user_id)
    throttle.clear(session, keys)
    audit.record(session, Actor(user.id, user.role, user.org_id, email=user.email), "mfa.enrol",
                 org_id=user.org_id, target_type="user", target_id=user.id)
    return codes


def new_recovery_codes(session: Session, user_id: int) -> list[str]:
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        session.add(RecoveryCode(user_id=user_id, code_hash=token_hash(raw)))
    session.flush()
    return codes


def regenerate_recovery_codes(session: Session, *, actor: Actor, now: datetime | None = None) -> list[str]:
    """Ten new recovery codes for the signed-in user (shown once; the old ones stop working). Needs MFA
    verified in the last minutes (step-up); audited."""
    if actor.user_id is None:
        raise Forbidden("Only a person can have recovery codes.")
    require_step_up(actor, now)
    user = _user(session, actor.user_id)
    if not user.mfa_enabled:
        raise Invalid("MFA is not set up for this account.")
    codes = new_recovery_codes(session, actor.user_id)
    audit.record(session, actor, "mfa.recovery_codes", org_id=user.org_id, target_type="user", target_id=user.id)
    return codes


def verify(session: Session, *, user_id: int, code, device_id: str | None = None,
           now: datetime | None = None) -> bool:
    """Check a TOTP code (once only) or a recovery code (consumed). Failures slow further attempts down, per
    user, or per trusted browser when the session signed in from one (`device_id`).

    Returns False for a wrong code (the caller commits so the failure is counted); raises Conflict while
    attempts must wait."""
    now = now or utcnow()
    user = _user(session, user_id)
    if not user.mfa_enabled:
        raise Invalid("MFA is not set up for this account.")
    keys = _throttle_key(user_id, device_id)
    throttle.check(session, keys, now)
    cleaned = _clean_code(code)
    secret = decrypt(user.mfa_secret_enc or "")
    counter = _match_totp(secret, cleaned, now, user.mfa_last_counter) if secret else None
    if counter is not None:
        user.mfa_last_counter = counter
        session.add(user)
        throttle.clear(session, keys)
        return True
    if len(cleaned) == 10:
        rc = session.exec(select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == token_hash(cleaned),
            col(RecoveryCode.used_at).is_(None)).with_for_update()).first()
        if rc is not None:
            rc.used_at = now
            session.add(rc)
            throttle.clear(session, keys)
            audit.record(session, Actor(user.id, user.role, user.org_id, email=user.email), "mfa.recovery_code_used",
                         org_id=user.org_id, target_type="user", target_id=user.id)
            return True
    throttle.fail(session, keys, now)
    return False


def reset_mfa(session: Session, *, actor: Actor, user_id: int) -> User:
    """Super admins turn off another user's MFA and end all of the user's sessions (they sign in with the
    password again and enrol at that sign-in)."""
    require_super(actor, "reset MFA")
    require_step_up(actor)
    if actor.user_id == user_id:
        raise Forbidden("You cannot reset your own MFA here; use your recovery codes.")
    user = session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None:
        raise NotFound("User not found.")
    before = {"mfa_enabled": user.mfa_enabled}
    user.mfa_enabled, user.mfa_secret_enc, user.mfa_enrolled_at, user.mfa_last_counter = False, None, None, None
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    session.add(user)
    # Every session of the user ends: a signed-in tab could otherwise enrol a new secret on /mfa/setup without
    # the password. The user signs in with the password again, then enrols.
    revoked = sessions.revoke_all(session, user_id)
    audit.record(session, actor, "mfa.reset", org_id=user.org_id, target_type="user", target_id=user.id,
                 before=before, after={"mfa_enabled": False, "sessions_revoked": revoked})
    return user
