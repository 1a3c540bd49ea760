"""Sign-in: argon2 passwords, bans, sign-in history, DB-stored throttling, sessions."""

from datetime import timedelta

import pytest
from sqlmodel import select

from models import AuthSession, SignInEvent, utcnow
from services.auth import devices, sessions, signin
from services.core import settings
from services.core.passwords import hash_password


@pytest.fixture
def alice(world, session):
    world.alice.password_hash = hash_password("alice-password")
    world.admin.password_hash = hash_password("admin-password")
    session.add_all([world.alice, world.admin])
    session.commit()
    return world.alice


def test_member_signs_in_and_gets_an_opaque_token(alice, session):
    r = signin.sign_in(session, email=" ALICE@a.test ", password="alice-password", ip="1.2.3.4", user_agent="ua")
    session.commit()
    assert r.ok and r.next_step == "member" and len(r.token) >= 40
    row = session.exec(select(AuthSession)).one()
    assert row.token_hash != r.token and len(row.token_hash) == 64  # only the hash is stored
    info = sessions.resolve(session, r.token)
    assert info.user_id == alice.id and info.role == "member" and not info.mfa_ok
    ev = session.exec(select(SignInEvent)).one()
    assert ev.success and ev.ip == "1.2.3.4" and ev.user_id == alice.id


def test_admin_is_sent_to_mfa_enrolment(alice, world, session):
    r = signin.sign_in(session, email="admin@a.test", password="admin-password")
    assert r.ok and r.next_step == "enrol_mfa"


def test_wrong_password_and_unknown_account_look_the_same(alice, session):
    a = signin.sign_in(session, email="alice@a.test", password="nope-nope", ip="9.9.9.9")
    b = signin.sign_in(session, email="ghost@a.test", password="nope-nope", ip="9.9.9.8")
    session.commit()
    assert not a.ok and not b.ok and a.message == b.message == signin.BAD_LOGIN
    reasons = [e.reason for e in session.exec(select(SignInEvent)).all()]
    assert reasons == ["bad_credentials", "bad_credentials"]


def test_banned_user_cannot_sign_in_until_the_ban_ends(alice, session):
    now = utcnow()
    alice.banned, alice.ban_reason, alice.banned_until = True, "Policy breach", now + timedelta(days=1)
    session.add(alice)
    session.commit()
    r = signin.sign_in(session, email="alice@a.test", password="alice-password", now=now)
    assert not r.ok and "banned until" in r.message and "Policy breach" in r.message
    later = signin.sign_in(session, email="alice@a.test", password="alice-password", now=now + timedelta(days=2))
    assert later.ok


def _wait(result) -> int:
    assert not result.ok and result.retry_after, result
    return result.retry_after


def test_repeated_failures_slow_down_exponentially_and_never_lock(alice, session):
    t = utcnow()
    for _ in range(settings.THROTTLE_ACCOUNT_FREE):
        assert signin.sign_in(session, email="alice@a.test", password="bad-guess", now=t).message == signin.BAD_LOGIN
    session.commit()
    slowed = signin.sign_in(session, email="alice@a.test", password="alice-password", now=t)
    assert _wait(slowed) == 2 and "Wait 2 seconds" in slowed.message  # even the right password waits
    waits = []
    for _ in range(12):  # keep failing, each time just after the required wait
        t += timedelta(seconds=waits[-1] if waits else 2)
        assert signin.sign_in(session, email="alice@a.test", password="bad-guess", now=t).message == signin.BAD_LOGIN
        waits.append(_wait(signin.sign_in(session, email="alice@a.test", password="alice-password", now=t)))
    session.commit()
    assert waits[:5] == [4, 8, 16, 32, 64] and max(waits) == settings.THROTTLE_ACCOUNT_MAX_DELAY
    assert "minutes" in signin.sign_in(session, email="alice@a.test", password="x", now=t).message
    # The waits live in the database (another worker sees them); after the last one, the right password works.
    assert _wait(signin.sign_in(session, email="alice@a.test", password="alice-password", now=t + timedelta(seconds=1)))
    assert signin.sign_in(session, email="alice@a.test", password="alice-password",
                        now=t + timedelta(seconds=settings.THROTTLE_ACCOUNT_MAX_DELAY)).ok


def test_spraying_from_one_address_slows_that_address_down_but_never_shuts_it(alice, session):
    """Password spraying: one failure per account never slows an account, but the address is slowed down, at
    most THROTTLE_ADDRESS_MAX_DELAY seconds at a time (an office behind one NAT shares it)."""
    t = utcnow()
    for i in range(settings.THROTTLE_ADDRESS_FREE + 10):
        r = signin.sign_in(session, email=f"nobody{i}@a.test", password="guess", ip="203.0.113.9", now=t)
        assert r.message == signin.BAD_LOGIN
        t += timedelta(seconds=settings.THROTTLE_ADDRESS_MAX_DELAY)  # past every wait
    session.commit()
    t -= timedelta(seconds=1)
    slowed = signin.sign_in(session, email="alice@a.test", password="alice-password", ip="203.0.113.9", now=t)
    assert 0 < _wait(slowed) <= settings.THROTTLE_ADDRESS_MAX_DELAY
    other = signin.sign_in(session, email="alice@a.test", password="alice-password", ip="198.51.100.7", now=t)
    assert other.ok  # the account itself is not slowed
    unknown = signin.sign_in(session, email="alice@a.test", password="alice-password", ip="", now=t)
    assert unknown.ok  # no address known: no shared "empty address" key to slow everyone down
    later = t + timedelta(seconds=settings.THROTTLE_ADDRESS_MAX_DELAY)
    assert signin.sign_in(session, email="alice@a.test", password="alice-password", ip="203.0.113.9", now=later).ok


def test_a_trusted_browser_is_never_slowed_down_by_anyone_elses_guesses(alice, session):
    t = utcnow()
    first = signin.sign_in(session, email="alice@a.test", password="alice-password", ip="203.0.113.9", now=t)
    assert first.ok and first.device_token  # a member's sign-in is complete: this browser is trusted
    session.commit()
    for _ in range(40):  # an attacker hammers the account and the office's address, past every wait
        t += timedelta(seconds=settings.THROTTLE_ACCOUNT_MAX_DELAY)
        signin.sign_in(session, email="alice@a.test", password="guess", ip="203.0.113.9", now=t)
    session.commit()
    assert _wait(signin.sign_in(session, email="alice@a.test", password="alice-password", ip="203.0.113.9", now=t))
    trusted = signin.sign_in(session, email="alice@a.test", password="alice-password", ip="203.0.113.9",
                           device_token=first.device_token, now=t)
    assert trusted.ok and trusted.device_token
    row = session.exec(select(AuthSession).order_by(AuthSession.id.desc())).first()
    assert row.device_id and row.device_id in devices.device_of(trusted.device_token, alice.id, t)
    reasons = [e.reason for e in session.exec(select(SignInEvent).order_by(SignInEvent.id)).all()]
    assert reasons[-1] == "password_ok_trusted"


def test_a_trusted_browser_counts_its_own_failures_and_a_foreign_or_forged_token_is_not_trusted(alice, world,
                                                                                               session):
    t = utcnow()
    device = signin.sign_in(session, email="alice@a.test", password="alice-password", now=t).device_token
    for _ in range(settings.THROTTLE_DEVICE_FREE):
        signin.sign_in(session, email="alice@a.test", password="typo", device_token=device, now=t)
    session.commit()
    assert _wait(signin.sign_in(session, email="alice@a.test", password="alice-password", device_token=device, now=t))
    assert signin.sign_in(session, email="alice@a.test", password="alice-password", now=t).ok  # the account is not
    for _ in range(settings.THROTTLE_ACCOUNT_FREE):  # someone else slows the account down
        signin.sign_in(session, email="alice@a.test", password="guess", now=t)
    for token in (device[:-2] + ("AA" if device[-2:] != "AA" else "BB"), "forged", None,
                  devices.issue(world.bob.id, None, t),  # another account's browser
                  devices.issue(alice.id, None, t - timedelta(days=settings.DEVICE_TRUST_DAYS, seconds=1))):
        assert _wait(signin.sign_in(session, email="alice@a.test", password="alice-password", device_token=token,
                                  now=t)), token


def test_sessions_expire_idle_and_absolute_and_can_be_revoked(alice, session):
    t = utcnow()
    tok = signin.sign_in(session, email="alice@a.test", password="alice-password", now=t).token
    session.commit()
    assert sessions.resolve(session, tok, now=t + timedelta(minutes=settings.SESSION_IDLE_MINUTES - 1))
    assert sessions.resolve(session, tok, now=t + timedelta(minutes=settings.SESSION_IDLE_MINUTES * 2 - 2))
    assert sessions.resolve(session, tok, now=t + timedelta(hours=settings.SESSION_ABSOLUTE_HOURS, minutes=1)) is None
    idle = t + timedelta(minutes=settings.SESSION_IDLE_MINUTES * 5)
    assert sessions.resolve(session, tok, now=idle) is None
    tok2 = signin.sign_in(session, email="alice@a.test", password="alice-password").token
    sessions.revoke(session, tok2)
    assert sessions.resolve(session, tok2) is None
    assert sessions.resolve(session, tok2[:-1] + ("A" if tok2[-1] != "A" else "B")) is None  # tampered
    assert sessions.resolve(session, "x" * 500) is None and sessions.resolve(session, None) is None
