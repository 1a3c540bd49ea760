"""Gateway API keys per org: created and revoked by admins (step-up MFA), shown once, stored as a SHA-256
hash with a short visible prefix; every change audited. `authenticate` turns a presented key into the
gateway actor of its org.

`KEYS` (a `KeyCache`) remembers a checked key in the process for GATEWAY_KEY_CACHE_SECONDS (5 s), so the
REST API does not read the key row for every request. A revoked key is refused at once by the process that
revoked it (its entry is dropped when the revocation commits) and within GATEWAY_KEY_CACHE_SECONDS by every
other worker process. Unknown keys are never cached."""

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlmodel import Session, col, select, update

from models import ApiKey, User, utcnow
from services.core import audit, settings, validation
from services.core.actor import Actor
from services.core.crypto import new_token, token_hash
from services.core.db import read_scope, session_scope
from services.core.errors import Conflict, Forbidden, NotFound, Unauthorized
from services.core.permissions import MANAGE, require_role, require_step_up, scoped_org_id

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
    if key.id is None:  # not flushed yet: no key to show
        raise NotFound("API key not found.")
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
    KEYS.forget(key.key_hash)  # and again once the revocation is committed (a request may re-cache it meanwhile)
    event.listen(session, "after_commit", lambda _s, h=key.key_hash: KEYS.forget(h), once=True)
    audit.record(session, actor, "api_key.revoke", org_id=key.org_id, target_type="api_key", target_id=key.id,
                 before={"name": key.name, "prefix": key.prefix}, after={"revoked_at": key.revoked_at})
    creator = session.get(User, key.created_by) if key.created_by else None
    return _view(key, creator.email if creator else "")


def list_keys(session: Session, *, actor: Actor, org_id: int | None = None) -> list[KeyView]:
    require_role(actor, MANAGE, "see API keys")
    org_id = scoped_org_id(session, actor, org_id)
    rows = session.exec(
        select(ApiKey, User.email).join(User, col(User.id) == col(ApiKey.created_by), isouter=True)
        .where(col(ApiKey.org_id) == org_id).order_by(col(ApiKey.revoked_at).is_not(None), col(ApiKey.id).desc())
        .limit(MAX_KEYS_LISTED)).all()
    return [_view(k, email or "") for k, email in rows]


def _hash_of(secret) -> str:
    if not isinstance(secret, str) or not secret.startswith(KEY_START) or not (20 <= len(secret) <= 100):
        raise Unauthorized("Missing or invalid API key.")
    return token_hash(secret)


def _touch(session: Session, key_id: int, last_used_at: datetime | None, now: datetime) -> None:
    if last_used_at is None or now - last_used_at >= TOUCH_EVERY:
        session.exec(update(ApiKey).where(col(ApiKey.id) == key_id).where(
            (col(ApiKey.last_used_at).is_(None)) | (col(ApiKey.last_used_at) < now - TOUCH_EVERY))
            .values(last_used_at=now))


def authenticate(session: Session, secret, *, now: datetime | None = None) -> ApiKey:
    """The key behind a presented secret. Unknown → Unauthorized (401); revoked → Forbidden (403).
    `last_used_at` is refreshed at most once a minute (a conditional UPDATE, not a write per request)."""
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == _hash_of(secret))).first()
    if key is None or key.id is None:
        raise Unauthorized("Missing or invalid API key.")
    if key.revoked_at is not None:
        raise Forbidden("This API key has been revoked.")
    _touch(session, key.id, key.last_used_at, now or utcnow())
    return key


@dataclass(frozen=True)
class KeyInfo:
    id: int
    org_id: int
    revoked: bool


class KeyCache:
    """Checked keys by hash for `ttl` seconds (monotonic clock), at most `size` of them."""

    def __init__(self, ttl: float | None = None, size: int = 10_000, clock=time.monotonic):
        self.ttl = settings.GATEWAY_KEY_CACHE_SECONDS if ttl is None else ttl
        self.size, self.clock = size, clock
        self._entries: dict[str, tuple[KeyInfo, float]] = {}
        self._lock = threading.Lock()

    def cached(self, secret) -> KeyInfo | None:
        """The key if this process checked it less than `ttl` s ago (revoked → Forbidden); else None."""
        entry = self._entries.get(_hash_of(secret))
        if entry is None or entry[1] <= self.clock():
            return None
        if entry[0].revoked:
            raise Forbidden("This API key has been revoked.")
        return entry[0]

    def load(self, engine, secret, *, now: datetime | None = None) -> KeyInfo:
        """Read the key (a read-only transaction), remember it, and refresh `last_used_at` when due."""

        h = _hash_of(secret)
        with read_scope(engine) as db:
            row = db.exec(select(ApiKey.id, ApiKey.org_id, ApiKey.revoked_at, ApiKey.last_used_at)
                          .where(ApiKey.key_hash == h)).first()
        if row is None or row[0] is None:
            raise Unauthorized("Missing or invalid API key.")
        info = KeyInfo(row[0], row[1], row[2] is not None)
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) >= self.size:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[h] = (info, self.clock() + self.ttl)
        if info.revoked:
            raise Forbidden("This API key has been revoked.")
        now = now or utcnow()
        if row[3] is None or now - row[3] >= TOUCH_EVERY:
            with session_scope(engine) as db:
                _touch(db, info.id, row[3], now)
        return info

    def forget(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


KEYS = KeyCache()
