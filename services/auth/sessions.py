"""Server-side sessions. The browser holds only an opaque random token; the DB keeps its SHA-256 hash with
the user, expiry (idle and absolute), MFA-verified time, active org, revocation, IP and user agent."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from models import AuthSession, Organization, Role, User, utcnow
from models.base import stored_id
from services.core import settings
from services.core.actor import Actor
from services.core.crypto import new_token, token_hash
from services.core.errors import NotFound
from services.core.permissions import require_super
from services.tokens.budget import ban_active

TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionInfo:
    """What a request may know about its signed-in user (no secrets)."""

    session_id: int
    user_id: int
    email: str
    name: str
    role: str
    org_id: int | None  # the working org: own org, or the super admin's choice
    mfa_enabled: bool
    mfa_verified_at: datetime | None
    ip: str
    last_seen_at: datetime | None = None
    device_id: str | None = None  # the trusted browser this session signed in from

    def needs_touch(self, now: datetime | None = None) -> bool:
        """Whether the idle clock should be moved on (at most once a minute: a read costs no write)."""
        return self.last_seen_at is None or (now or utcnow()) - self.last_seen_at > TOUCH_EVERY

    @property
    def mfa_ok(self) -> bool:
        return self.mfa_enabled and self.mfa_verified_at is not None

    def actor(self, ip: str | None = None) -> Actor:
        return Actor(self.user_id, self.role, self.org_id, email=self.email, mfa_verified_at=self.mfa_verified_at,
                     ip=ip if ip is not None else self.ip)


def create(session: Session, user: User, *, ip: str = "", user_agent: str = "", device_id: str | None = None,
           now: datetime | None = None) -> str:
    now = now or utcnow()
    raw = new_token()
    session.add(AuthSession(token_hash=token_hash(raw), user_id=stored_id(user), created_at=now, last_seen_at=now,
                            expires_at=now + timedelta(hours=settings.SESSION_ABSOLUTE_HOURS),
                            ip=(ip or "")[:45], user_agent=(user_agent or "")[:300], device_id=device_id))
    session.flush()
    return raw


def _load(session: Session, raw) -> AuthSession | None:
    if not isinstance(raw, str) or not (20 <= len(raw) <= 100):
        return None
    return session.exec(select(AuthSession).where(AuthSession.token_hash == token_hash(raw))).first()


def resolve(session: Session, raw, *, now: datetime | None = None, touch: bool = True) -> SessionInfo | None:
    """The session behind a token, or None if unknown, revoked, expired, idle too long, or the user is banned."""
    now = now or utcnow()
    row = _load(session, raw)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > timedelta(minutes=settings.SESSION_IDLE_MINUTES):
        return None
    user = session.get(User, row.user_id)
    if user is None or ban_active(user, now):
        return None
    if touch and now - row.last_seen_at > TOUCH_EVERY:
        session.exec(update(AuthSession).where(col(AuthSession.id) == row.id).values(last_seen_at=now))
    org_id = row.active_org_id if user.role == Role.super_admin.value else user.org_id
    return SessionInfo(stored_id(row), stored_id(user), user.email, user.name, user.role, org_id, user.mfa_enabled,
                       row.mfa_verified_at if user.mfa_enabled else None, row.ip,
                       now if touch and now - row.last_seen_at > TOUCH_EVERY else row.last_seen_at, row.device_id)


def touch(session: Session, session_id: int, now: datetime | None = None) -> None:
    """Move a session's idle clock on (the guard resolves in a read-only transaction, then touches if due)."""
    session.exec(update(AuthSession).where(col(AuthSession.id) == session_id).values(last_seen_at=now or utcnow()))


def mark_mfa_verified(session: Session, session_id: int, now: datetime | None = None) -> None:
    session.exec(update(AuthSession).where(col(AuthSession.id) == session_id).values(mfa_verified_at=now or utcnow()))


def set_active_org(session: Session, *, actor: Actor, session_id: int, org_id: int | None) -> None:
    """Super admins choose the organization they work in (None = all organizations)."""
    require_super(actor, "switch organizations")
    if org_id is not None and (not isinstance(org_id, int) or isinstance(org_id, bool) or not 0 < org_id < 2**63
                               or session.get(Organization, org_id) is None):
        raise NotFound("Organization not found.")
    row = session.get(AuthSession, session_id)
    if row is None or row.user_id != actor.user_id:
        raise NotFound("Session not found.")
    row.active_org_id = org_id
    session.add(row)


def revoke(session: Session, raw, now: datetime | None = None) -> None:
    row = _load(session, raw)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now or utcnow()
        session.add(row)


def revoke_all(session: Session, user_id: int, *, except_session_id: int | None = None,
               now: datetime | None = None) -> int:
    q = update(AuthSession).where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
    if except_session_id is not None:
        q = q.where(col(AuthSession.id) != except_session_id)
    return session.exec(q.values(revoked_at=now or utcnow())).rowcount
