"""TOTP enrolment, verification once per code, recovery codes, throttled guesses, super-admin reset."""

from datetime import timedelta
from urllib.parse import unquote

import pyotp
import pytest
from sqlmodel import select

from models import AuditEvent, RecoveryCode, utcnow
from services.auth import mfa, sessions
from services.core import settings
from services.core.errors import Conflict, Forbidden, StepUpRequired


def _enrol(session, user, now):
    e = mfa.begin_enrolment(session, user_id=user.id)
    codes = mfa.confirm_enrolment(session, user_id=user.id, code=pyotp.TOTP(e.secret).at(now), now=now)
    session.commit()
    return e.secret, codes


def test_enrolment_shows_a_qr_code_and_stores_the_secret_encrypted(world, session):
    e = mfa.begin_enrolment(session, user_id=world.admin.id)
    session.commit()
    assert e.qr_data_uri.startswith("data:image/svg+xml")
    svg = unquote(e.qr_data_uri.split(",", 1)[1])
    assert svg.startswith("<svg") and "http://www.w3.org/2000/svg" in svg  # browsers need the namespace
    assert "issuer=Steward" in e.uri and "admin%40a.test" in e.uri
    assert world.admin.mfa_secret_enc and e.secret not in world.admin.mfa_secret_enc
    assert mfa.begin_enrolment(session, user_id=world.admin.id).secret == e.secret  # same pending secret


def test_wrong_first_code_does_not_enable(world, session):
    now = utcnow()
    e = mfa.begin_enrolment(session, user_id=world.admin.id)
    wrong = f"{(int(pyotp.TOTP(e.secret).at(now)) + 1) % 1_000_000:06d}"
    assert mfa.confirm_enrolment(session, user_id=world.admin.id, code=wrong, now=now) == []
    assert not world.admin.mfa_enabled


def test_confirmed_enrolment_gives_ten_single_use_recovery_codes(world, session):
    now = utcnow()
    _, codes = _enrol(session, world.admin, now)
    assert world.admin.mfa_enabled and len(codes) == 10 and len(set(codes)) == 10
    stored = session.exec(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert mfa.verify(session, user_id=world.admin.id, code=codes[3], now=now + timedelta(minutes=5))
    assert not mfa.verify(session, user_id=world.admin.id, code=codes[3], now=now + timedelta(minutes=6))
    with pytest.raises(Conflict):
        mfa.begin_enrolment(session, user_id=world.admin.id)


def test_a_code_is_accepted_once(world, session):
    now = utcnow()
    secret, _ = _enrol(session, world.admin, now - timedelta(minutes=2))
    code = pyotp.TOTP(secret).at(now)
    assert mfa.verify(session, user_id=world.admin.id, code=code, now=now)
    session.commit()
    assert not mfa.verify(session, user_id=world.admin.id, code=code, now=now + timedelta(seconds=5))
    nxt = now + timedelta(seconds=30)
    assert mfa.verify(session, user_id=world.admin.id, code=pyotp.TOTP(secret).at(nxt), now=nxt)


def test_guesses_are_throttled(world, session):
    now = utcnow()
    secret, _ = _enrol(session, world.admin, now - timedelta(minutes=2))
    good = pyotp.TOTP(secret).at(now)
    bad = f"{(int(good) + 7) % 1_000_000:06d}"
    for _ in range(settings.THROTTLE_MFA_FREE):
        assert not mfa.verify(session, user_id=world.admin.id, code=bad, now=now)
    session.commit()
    with pytest.raises(Conflict, match="Wait 2 seconds"):
        mfa.verify(session, user_id=world.admin.id, code=good, now=now)
    # The owner's session from a browser that completed a sign-in before counts on its own key: not slowed.
    assert mfa.verify(session, user_id=world.admin.id, code=good, device_id="owner-browser", now=now)
    later = now + timedelta(seconds=30)
    for _ in range(settings.THROTTLE_MFA_FREE):
        assert not mfa.verify(session, user_id=world.admin.id, code=bad, device_id="owner-browser", now=later)
    with pytest.raises(Conflict):
        mfa.verify(session, user_id=world.admin.id, code=pyotp.TOTP(secret).at(later), device_id="owner-browser",
                   now=later)


def test_super_admin_resets_mfa_with_step_up(world, session):
    now = utcnow()
    _enrol(session, world.admin, now)
    sup = world.actor(world.super_user, org_id=world.org.id)
    with pytest.raises(StepUpRequired):
        mfa.reset_mfa(session, actor=sup, user_id=world.admin.id)
    fresh = type(sup)(sup.user_id, sup.role, sup.org_id, email=sup.email, mfa_verified_at=utcnow())
    mfa.reset_mfa(session, actor=fresh, user_id=world.admin.id)
    session.commit()
    assert not world.admin.mfa_enabled and world.admin.mfa_secret_enc is None
    assert session.exec(select(RecoveryCode)).all() == []
    with pytest.raises(Forbidden):
        mfa.reset_mfa(session, actor=world.actor(world.admin), user_id=world.alice.id)


def test_reset_mfa_ends_every_session_of_the_user(world, session):
    """A signed-in session of the user must not survive the reset: it could enrol a new secret on /mfa/setup
    without the password. The user signs in with the password again, then enrols."""
    now = utcnow()
    _enrol(session, world.admin, now)
    signed_in = sessions.create(session, world.admin)
    other = sessions.create(session, world.admin)
    session.commit()
    sup = world.actor(world.super_user, org_id=world.org.id)
    fresh = type(sup)(sup.user_id, sup.role, sup.org_id, email=sup.email, mfa_verified_at=utcnow())
    mfa.reset_mfa(session, actor=fresh, user_id=world.admin.id)
    session.commit()
    assert sessions.resolve(session, signed_in) is None and sessions.resolve(session, other) is None
    entry = session.exec(select(AuditEvent).where(AuditEvent.action == "mfa.reset")).one()
    assert entry.after["sessions_revoked"] == 2
