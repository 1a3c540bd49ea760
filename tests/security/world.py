"""The security suite's small world, made through the services on the app's own SQLite file.

Org Alpha (admin, finance, two members) and org Beta (admin, member), a super admin; the admin roles have
TOTP MFA enrolled (pyotp codes), one admin of Alpha has not enrolled yet. Sessions are real opaque tokens
from `services.auth.signin.sign_in`, MFA-verified through `services.auth.sessions` where a persona needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pyotp
from sqlalchemy import update
from sqlmodel import Session

from models import AuthSession, Role, User, utcnow
from services.auth import mfa, sessions, signin
from services.core.actor import system_actor
from services.core.crypto import decrypt, token_hash
from services.core.db import make_engine
from services.orgs import organizations
from services.users import accounts

PASSWORD = "correct-horse-battery-staple"
ALPHA, BETA = "Alpha Industries", "Beta Laboratories"


@dataclass
class World:
    url: str
    alpha_id: int = 0
    beta_id: int = 0
    ids: dict[str, int] = field(default_factory=dict)  # key -> user id
    emails: dict[str, str] = field(default_factory=dict)  # key -> email
    org_of: dict[str, int | None] = field(default_factory=dict)  # key -> org id
    workdir: Path | None = None

    def engine(self):
        return make_engine(self.url)

    # ------------------------------------------------------------------------------------ sessions
    def sign_in(self, key: str, *, verified: bool = False) -> str:
        """A real opaque session token for the user, MFA-verified in the session if asked."""
        eng = self.engine()
        try:
            with Session(eng, expire_on_commit=False) as s:
                result = signin.sign_in(s, email=self.emails[key], password=PASSWORD)
                assert result.ok and result.token, result.message
                if verified:
                    info = sessions.resolve(s, result.token)
                    sessions.mark_mfa_verified(s, info.session_id)
                s.commit()
            return result.token
        finally:
            eng.dispose()

    def alter_session(self, token: str, **values) -> None:
        """Test set-up only: age a session (expiry, idle time) directly in its row."""
        eng = self.engine()
        try:
            with Session(eng) as s:
                s.exec(update(AuthSession).where(AuthSession.token_hash == token_hash(token)).values(**values))
                s.commit()
        finally:
            eng.dispose()

    def revoke(self, token: str) -> None:
        eng = self.engine()
        try:
            with Session(eng) as s:
                sessions.revoke(s, token)
                s.commit()
        finally:
            eng.dispose()

    def session_row(self, token: str) -> AuthSession | None:
        eng = self.engine()
        try:
            with Session(eng, expire_on_commit=False) as s:
                from sqlmodel import select

                return s.exec(select(AuthSession).where(AuthSession.token_hash == token_hash(token))).first()
        finally:
            eng.dispose()

    def session_alive(self, token: str) -> bool:
        eng = self.engine()
        try:
            with Session(eng) as s:
                return sessions.resolve(s, token, touch=False) is not None
        finally:
            eng.dispose()

    def totp(self, key: str) -> pyotp.TOTP:
        eng = self.engine()
        try:
            with Session(eng) as s:
                return pyotp.TOTP(decrypt(s.get(User, self.ids[key]).mfa_secret_enc))
        finally:
            eng.dispose()


def enrol_mfa(s: Session, user_id: int) -> None:
    """TOTP MFA enrolled and confirmed with a code of five minutes ago (so a code of "now" is fresh)."""
    past = utcnow() - timedelta(minutes=5)
    enrolment = mfa.begin_enrolment(s, user_id=user_id)
    assert mfa.confirm_enrolment(s, user_id=user_id, code=pyotp.TOTP(enrolment.secret).at(past), now=past), user_id


def build_world(url: str) -> World:
    """Create the orgs and users (the database must be migrated and empty)."""
    w = World(url)
    eng = make_engine(url)
    with Session(eng, expire_on_commit=False) as s:
        sysa = system_actor()
        alpha = organizations.create_org(s, actor=sysa, name=ALPHA, email_domain="alpha.test")
        beta = organizations.create_org(s, actor=sysa, name=BETA, email_domain="beta.test")
        w.alpha_id, w.beta_id = alpha.id, beta.id
        now = utcnow()
        for org in (alpha, beta):
            organizations.record_purchase(s, actor=system_actor(org.id), org_id=org.id, tokens=4_000_000,
                                 training_tokens=2_000_000, purchased_at=now - timedelta(days=10),
                                 expires_at=now + timedelta(days=300))
        people = [
            ("super", None, "root@steward.test", Role.super_admin.value),
            ("alpha_admin", alpha.id, "admin@alpha.test", "admin"),
            ("alpha_admin_new", alpha.id, "newadmin@alpha.test", "admin"),  # MFA not enrolled yet
            ("alpha_finance", alpha.id, "finance@alpha.test", "finance"),
            ("alpha_member", alpha.id, "member@alpha.test", "member"),
            ("alpha_member2", alpha.id, "alice@alpha.test", "member"),
            ("beta_admin", beta.id, "admin@beta.test", "admin"),
            ("beta_admin2", beta.id, "second-admin@beta.test", "admin"),
            ("beta_member", beta.id, "carol@beta.test", "member"),
            ("beta_admin_reset", beta.id, "reset-admin@beta.test", "admin"),  # its MFA is reset by a test
        ]
        for key, org_id, email, role in people:
            actor = system_actor(org_id)
            user = accounts.create_user(s, actor=actor, email=email, role=role, password=PASSWORD, verified=True,
                                     paid=True).value
            w.ids[key], w.emails[key], w.org_of[key] = user.id, email, org_id
        s.flush()
        for key, _org, _email, role in people:
            if role == "member" or key == "alpha_admin_new":
                continue
            enrol_mfa(s, w.ids[key])
        s.commit()
    eng.dispose()
    return w
