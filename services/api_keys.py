"""Gateway API keys per org: created and revoked by admins (step-up MFA), shown once, stored as a SHA-256
hash with a short visible prefix; every change audited. `authenticate` turns a presented key into the
gateway actor of its org."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select, update

from models import ApiKey, User, utcnow
from services import audit, validation
from services.actor import Actor
from services.crypto import new_token, token_hash
from services.errors import Conflict, Forbidden, NotFound, Unauthorized
from services.permissions import MANAGE, require_role, require_step_up, scoped_org_id

KEY_START = "stw_"
PREFIX_LEN = 12  # "stw_" + 8 characters: shown in the panel to tell keys apart
MAX_KEYS_LISTED = 200
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class KeyView:
    id: int
    name: str
    prefix: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewKey:
    view: KeyView
    secret: str  # the full key: returned once, never stored


def _view(key: ApiKey, creator: str) -> KeyView:
    return KeyView(key.id, key.name, key.prefix, creator, key.created_at, key.last_used_at, key.revoked_at)


def create_key(session: Session, *, actor: Actor, name, org_id: int | None = None,
               now: datetime | None = None) -> NewKey:
    require_role(actor, MANAGE, "manage API keys")
    require_step_up(actor, now)
    org_id = scoped_org_id(session, actor, org_id)
    name = validation.text(name, "name", max_len=100, required=True)
    secret = KEY_START + new_token(32)
    key = ApiKey(org_id=org_id, name=name, prefix=secret[:PREFIX_LEN], key_hash=token_hash(secret),
                 created_by=actor.user_id, created_at=now or utcnow())
    session.add(key)
    session.flush()
    audit.record(session, actor, "api_key.create", org_id=org_id, target_type="api_key", target_id=key.id,
                 after={"name": name, "prefix": key.prefix})
    return NewKey(_view(key, actor.email), secret)


def _key_in_scope(session: Session, actor: Actor, key_id, org_id: int | None) -> ApiKey:
    org_id = scoped_org_id(session, actor, org_id)
    if not isinstance(key_id, int) or isinstance(key_id, bool):
        raise NotFound("API key not found.")
    key = session.get(ApiKey, key_id, with_for_update=True)
    if key is None or key.org_id != org_id:
        raise NotFound("API key not found.")
    return key


def revoke_key(session: Session, *, actor: Actor, key_id, org_id: int | None = None,
               now: datetime | None = None) -> KeyView:
    require_role(actor, MANAGE, "manage API keys")
    require_step_up(actor, now)
    key = _key_in_scope(session, actor, key_id, org_id)
    if key.revoked_at is not None:
        raise Conflict("This API key is already revoked.")
    key.revoked_at = now or utcnow()
    session.add(key)
    audit.record(session, actor, "api_key.revoke", org_id=key.org_id, target_type="api_key", target_id=key.id,
                 before={"name": key.name, "prefix": key.prefix}, after={"revoked_at": key.revoked_at})
    creator = session.get(User, key.created_by) if key.created_by else None
    return _view(key, creator.email if creator else "")


def list_keys(session: Session, *, actor: Actor, org_id: int | None = None) -> list[KeyView]:
    require_role(actor, MANAGE, "see API keys")
    org_id = scoped_org_id(session, actor, org_id)
    rows = session.exec(
        select(ApiKey, User.email).join(User, User.id == ApiKey.created_by, isouter=True)
        .where(ApiKey.org_id == org_id).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
        .limit(MAX_KEYS_LISTED)).all()
    return [_view(k, email or "") for k, email in rows]


def authenticate(session: Session, secret, *, now: datetime | None = None) -> ApiKey:
    """The key behind a presented secret. Unknown → Unauthorized (401); revoked → Forbidden (403).
    `last_used_at` is refreshed at most once a minute (a conditional UPDATE, not a write per request)."""
    if not isinstance(secret, str) or not secret.startswith(KEY_START) or not (20 <= len(secret) <= 100):
        raise Unauthorized("Missing or invalid API key.")
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == token_hash(secret))).first()
    if key is None:
        raise Unauthorized("Missing or invalid API key.")
    if key.revoked_at is not None:
        raise Forbidden("This API key has been revoked.")
    now = now or utcnow()
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY:
        session.exec(update(ApiKey).where(ApiKey.id == key.id).where(
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now - TOUCH_EVERY)).values(last_used_at=now))
    return key
