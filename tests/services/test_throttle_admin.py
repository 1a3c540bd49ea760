"""Super admins see the keys that slow sign-ins down (accounts, addresses, trusted browsers, MFA codes,
registrations) and clear them; audited; nobody else may."""

from datetime import timedelta

import pytest
from sqlmodel import select

from models import AuditEvent, LoginThrottle, utcnow
from services.auth import signin, throttle
from services.core import settings
from services.core.errors import Forbidden, NotFound
from services.core.passwords import hash_password


def test_super_admins_see_throttled_sign_ins_and_unlock_them(world, session):
    world.alice.password_hash = hash_password("alice-password")
    session.add(world.alice)
    session.commit()
    t = utcnow()
    for _ in range(settings.THROTTLE_ACCOUNT_FREE + 1):  # the last one is refused before it is counted
        signin.sign_in(session, email="alice@a.test", password="guess", ip="203.0.113.9", now=t)
    session.commit()
    sup = world.actor(world.super_user)
    rows = {r["key"]: r for r in throttle.throttled(session, actor=sup, now=t)}
    acct, addr = rows["login:acct:alice@a.test"], rows["login:ip:203.0.113.9"]
    assert (acct["kind"], acct["subject"], acct["failures"], acct["slowed"]) == ("account", "alice@a.test", 5, True)
    assert acct["wait_seconds"] == 2 and (addr["kind"], addr["slowed"], addr["wait_seconds"]) == ("address", False, 0)
    assert not signin.sign_in(session, email="alice@a.test", password="alice-password", ip="198.51.100.1", now=t).ok

    assert throttle.unlock(session, actor=sup, key="login:acct:alice@a.test") == 5
    session.commit()
    assert signin.sign_in(session, email="alice@a.test", password="alice-password", ip="198.51.100.1", now=t).ok
    entry = session.exec(select(AuditEvent).where(AuditEvent.action == "signin.unlock")).one()
    assert entry.actor_id == world.super_user.id and entry.before["failures"] == 5
    assert entry.target_id == "login:acct:alice@a.test"
    with pytest.raises(NotFound):  # gone already
        throttle.unlock(session, actor=sup, key="login:acct:alice@a.test")
    for bad in ("", None, 5, "x" * 500, "other:key", ["login:ip:203.0.113.9"]):
        with pytest.raises(NotFound):
            throttle.unlock(session, actor=sup, key=bad)
    # Failures older than their policy's memory are no longer listed (and no longer count).
    later = t + timedelta(hours=settings.THROTTLE_FORGET_HOURS, seconds=1)
    assert throttle.throttled(session, actor=sup, now=later) == []


@pytest.mark.parametrize("who", ["admin", "finance", "alice"])
def test_nobody_else_sees_or_unlocks_throttled_sign_ins(world, session, who):
    throttle.fail(session, ["login:ip:203.0.113.9"])
    session.commit()
    actor = world.actor(getattr(world, who))
    with pytest.raises(Forbidden):
        throttle.throttled(session, actor=actor)
    with pytest.raises(Forbidden):
        throttle.unlock(session, actor=actor, key="login:ip:203.0.113.9")
    assert session.get(LoginThrottle, "login:ip:203.0.113.9") is not None
