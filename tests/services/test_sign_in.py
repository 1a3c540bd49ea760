"""Sign-in: argon2 passwords, bans, sign-in history, DB-stored throttling, sessions."""

from datetime import timedelta

import pytest
from sqlmodel import select

from models import AuthSession, SignInEvent, utcnow
from services import auth, sessions, settings
from services.passwords import hash_password


@pytest.fixture
def alice(world, session):
    world.alice.password_hash = hash_password("alice-password")
    world.admin.password_hash = hash_password("admin-password")
    session.add_all([world.alice, world.admin])
    session.commit()
    return world.alice


def test_member_signs_in_and_gets_an_opaque_token(alice, session):
    r = auth.sign_in(session, email=" ALICE@a.test ", password="alice-password", ip="1.2.3.4", user_agent="ua")
    session.commit()
    assert r.ok and r.next_step == "member" and len(r.token) >= 40
    row = session.exec(select(AuthSession)).one()
    assert row.token_hash != r.token and len(row.token_hash) == 64  # only the hash is stored
    info = sessions.resolve(session, r.token)
    assert info.user_id == alice.id and info.role == "member" and not info.mfa_ok
    ev = session.exec(select(SignInEvent)).one()
    assert ev.success and ev.ip == "1.2.3.4" and ev.user_id == alice.id


def test_admin_is_sent_to_mfa_enrolment(alice, world, session):
    r = auth.sign_in(session, email="admin@a.test", password="admin-password")
    assert r.ok and r.next_step == "enrol_mfa"


def test_wrong_password_and_unknown_account_look_the_same(alice, session):
    a = auth.sign_in(session, email="alice@a.test", password="nope-nope", ip="9.9.9.9")
    b = auth.sign_in(session, email="ghost@a.test", password="nope-nope", ip="9.9.9.8")
    session.commit()
    assert not a.ok and not b.ok and a.message == b.message == auth.BAD_LOGIN
    reasons = [e.reason for e in session.exec(select(SignInEvent)).all()]
    assert reasons == ["bad_credentials", "bad_credentials"]


def test_banned_user_cannot_sign_in_until_the_ban_ends(alice, session):
    now = utcnow()
    alice.banned, alice.ban_reason, alice.banned_until = True, "Policy breach", now + timedelta(days=1)
    session.add(alice)
    session.commit()
    r = auth.sign_in(session, email="alice@a.test", password="alice-password", now=now)
    assert not r.ok and "banned until" in r.message and "Policy breach" in r.message
    later = auth.sign_in(session, email="alice@a.test", password="alice-password", now=now + timedelta(days=2))
    assert later.ok


def test_repeated_failures_slow_down_then_lock_and_the_lock_is_in_the_db(alice, session):
    t = utcnow()
    for i in range(settings.THROTTLE_SLOW_AFTER):
        assert auth.sign_in(session, email="alice@a.test", password="bad-guess", now=t).message == auth.BAD_LOGIN
    session.commit()
    slowed = auth.sign_in(session, email="alice@a.test", password="alice-password", now=t)
    assert not slowed.ok and slowed.retry_after and "Wait" in slowed.message  # even the right password waits
    # keep failing, each after the required wait, until locked
    for _ in range(settings.THROTTLE_LOCK_AFTER):
        t += timedelta(seconds=61)
        r = auth.sign_in(session, email="alice@a.test", password="bad-guess", now=t)
    session.commit()
    locked = auth.sign_in(session, email="alice@a.test", password="alice-password", now=t + timedelta(seconds=61))
    assert not locked.ok and "minutes" in locked.message
    # the lock lifts by itself
    free = auth.sign_in(session, email="alice@a.test", password="alice-password",
                        now=t + timedelta(minutes=settings.THROTTLE_LOCK_MINUTES + 1))
    assert free.ok


def test_sessions_expire_idle_and_absolute_and_can_be_revoked(alice, session):
    t = utcnow()
    tok = auth.sign_in(session, email="alice@a.test", password="alice-password", now=t).token
    session.commit()
    assert sessions.resolve(session, tok, now=t + timedelta(minutes=settings.SESSION_IDLE_MINUTES - 1))
    assert sessions.resolve(session, tok, now=t + timedelta(minutes=settings.SESSION_IDLE_MINUTES * 2 - 2))
    assert sessions.resolve(session, tok, now=t + timedelta(hours=settings.SESSION_ABSOLUTE_HOURS, minutes=1)) is None
    idle = t + timedelta(minutes=settings.SESSION_IDLE_MINUTES * 5)
    assert sessions.resolve(session, tok, now=idle) is None
    tok2 = auth.sign_in(session, email="alice@a.test", password="alice-password").token
    sessions.revoke(session, tok2)
    assert sessions.resolve(session, tok2) is None
    assert sessions.resolve(session, tok2[:-1] + ("A" if tok2[-1] != "A" else "B")) is None  # tampered
    assert sessions.resolve(session, "x" * 500) is None and sessions.resolve(session, None) is None


def test_guessing_many_accounts_from_one_address_locks_that_address(alice, session):
    """Password spraying: one failure per account never locks an account, but the address is locked."""
    t = utcnow()
    for i in range(settings.THROTTLE_LOCK_AFTER):
        t += timedelta(seconds=61)  # past every slow-down wait
        r = auth.sign_in(session, email=f"nobody{i}@a.test", password="guess", ip="203.0.113.9", now=t)
        assert r.message == auth.BAD_LOGIN
    session.commit()
    t += timedelta(seconds=61)
    locked = auth.sign_in(session, email="alice@a.test", password="alice-password", ip="203.0.113.9", now=t)
    assert not locked.ok and "minutes" in locked.message  # even a right password, from that address
    other = auth.sign_in(session, email="alice@a.test", password="alice-password", ip="198.51.100.7", now=t)
    assert other.ok  # the account itself is not locked
    unknown = auth.sign_in(session, email="alice@a.test", password="alice-password", ip="", now=t)
    assert unknown.ok  # no address known: no shared "empty address" key to lock everyone out
    later = t + timedelta(minutes=settings.THROTTLE_LOCK_MINUTES + 1)
    assert auth.sign_in(session, email="alice@a.test", password="alice-password", ip="203.0.113.9", now=later).ok
