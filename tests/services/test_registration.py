"""Self-registration: e-mail verification, joining the org of the domain, throttling, super-admin assignment."""

import email
import email.policy
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from models import AuditEvent, User, utcnow
from services.auth import registration, signin
from services.core import settings
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from tests.conftest import snapshot

from .test_password_reset import smtp  # noqa: F401  (a real local SMTP server)

PW = "a-good-long-password"


def _link_token(raw: str) -> str:
    body = email.message_from_string(raw, policy=email.policy.default).get_content()
    return re.search(r"verify-email\?token=([\w-]+)", body).group(1)


def _user(session, addr) -> User:
    return session.exec(select(User).where(User.email == addr)).one()


def test_registration_sends_a_link_and_verifying_joins_the_org_of_the_domain(world, session, smtp):  # noqa: F811
    msg = registration.register(session, email="New@A.test", name="Nia", password=PW, ip="10.0.0.1")
    session.commit()
    assert msg == registration.ANSWER
    u = _user(session, "new@a.test")
    assert (u.org_id, u.verified, u.paid, u.role) == (None, False, False, "member")
    session.commit()  # mail leaves after the commit; the sender needs the write lock
    [(rcpt, raw)] = smtp.messages
    assert rcpt == ["new@a.test"]
    token = _link_token(raw)
    registration.verify_email(session, token=token)
    session.commit()
    u = _user(session, "new@a.test")
    assert (u.org_id, u.verified, u.paid, u.max_tokens) == (world.org.id, True, False, 0)
    ev = session.exec(select(AuditEvent).where(AuditEvent.action == "user.verify_email")).one()
    assert ev.org_id == world.org.id and ev.after["org_id"] == world.org.id
    with pytest.raises(Invalid, match="invalid, was already used"):
        registration.verify_email(session, token=token)


def test_unknown_domain_stays_unassigned_until_a_super_admin_assigns(world, session, smtp):  # noqa: F811
    for addr in ("solo@gmail.test", "t@sub.a.test"):
        registration.register(session, email=addr, name="X", password=PW)
    session.commit()
    for (_, raw) in smtp.messages:
        registration.verify_email(session, token=_link_token(raw))
    session.commit()
    solo = _user(session, "solo@gmail.test")
    assert solo.org_id is None and solo.verified and _user(session, "t@sub.a.test").org_id is None
    su = world.actor(world.super_user)
    listed = [r["email"] for r in registration.unassigned_users(session, actor=su)]
    assert "solo@gmail.test" in listed and "root@steward.test" not in listed
    with pytest.raises(Forbidden):
        registration.assign_to_org(session, actor=world.actor(world.admin), user_id=solo.id, org_id=world.org.id)
    with pytest.raises(Forbidden):
        registration.unassigned_users(session, actor=world.actor(world.admin))
    registration.assign_to_org(session, actor=su, user_id=solo.id, org_id=world.other_org.id)
    session.commit()
    solo = _user(session, "solo@gmail.test")
    assert (solo.org_id, solo.paid) == (world.other_org.id, False)
    ev = session.exec(select(AuditEvent).where(AuditEvent.action == "user.assign_org")).one()
    assert ev.before["org_id"] is None and ev.after["org_id"] == world.other_org.id
    with pytest.raises(Conflict, match="already belongs"):
        registration.assign_to_org(session, actor=su, user_id=solo.id, org_id=world.org.id)
    for bad in ({"user_id": "1", "org_id": world.org.id}, {"user_id": 10**9, "org_id": world.org.id},
                {"user_id": 10**12, "org_id": world.org.id},
                {"user_id": solo.id, "org_id": 2**63},
                {"user_id": solo.id, "org_id": 10**9}, {"user_id": True, "org_id": world.org.id}):
        with pytest.raises(NotFound):
            registration.assign_to_org(session, actor=su, **bad)
    with pytest.raises(Invalid, match="Super admins"):
        registration.assign_to_org(session, actor=su, user_id=world.super_user.id, org_id=world.org.id)


def test_an_existing_address_gets_the_same_answer_and_a_notice_not_a_second_account(world, session, smtp):  # noqa: F811
    assert registration.register(session, email="alice@a.test", name="A", password=PW) == registration.ANSWER
    session.commit()
    [(rcpt, raw)] = smtp.messages
    body = email.message_from_string(raw, policy=email.policy.default).get_content()
    assert rcpt == ["alice@a.test"] and "already has a Steward account" in body
    assert len(session.exec(select(User).where(User.email == "alice@a.test")).all()) == 1


@pytest.mark.parametrize("kwargs,message", [
    ({"email": "bad", "name": "N", "password": PW}, "not a valid email"),
    ({"email": "n@a.test", "name": "", "password": PW}, "Name is required"),
    ({"email": "n@a.test", "name": "=cmd()", "password": PW}, "must not start"),
    ({"email": "n@a.test", "name": "N", "password": "short"}, "at least"),
    ({"email": ["n@a.test"], "name": "N", "password": PW}, "Enter an email"),
    ({"email": "n@a.test", "name": {"x": 1}, "password": None}, "must be text"),
])
def test_bad_registration_input_changes_nothing(world, session, engine, kwargs, message):
    before = snapshot(engine)
    with pytest.raises(Invalid, match=message):
        registration.register(session, **kwargs)
    session.rollback()
    assert snapshot(engine) == before


def test_registrations_are_throttled_per_ip(world, session):
    now = utcnow()
    for i in range(settings.THROTTLE_REGISTER_FREE):
        registration.register(session, email=f"r{i}@x.test", name="R", password=PW, ip="10.9.9.9", now=now)
    session.commit()
    with pytest.raises(Conflict, match="Too many registrations"):
        registration.register(session, email="r9@x.test", name="R", password=PW, ip="10.9.9.9", now=now)
    session.rollback()
    registration.register(session, email="r9@x.test", name="R", password=PW, ip="10.1.1.1", now=now)
    registration.register(session, email="r10@x.test", name="R", password=PW, ip="10.9.9.9",
                          now=now + timedelta(minutes=20))


def test_verification_link_expires_and_cannot_reset_a_password(world, session, smtp):  # noqa: F811
    now = utcnow()
    registration.register(session, email="late@x.test", name="L", password=PW, now=now)
    session.commit()
    token = _link_token(smtp.messages[0][1])
    with pytest.raises(Invalid):
        signin.reset_password(session, token=token, new_password="another-long-password", now=now)
    with pytest.raises(Invalid):
        registration.verify_email(session, token=token, now=now + timedelta(hours=49))
    for junk in (None, 5, "short", "x" * 500):
        with pytest.raises(Invalid):
            registration.verify_email(session, token=junk)
    registration.verify_email(session, token=token, now=now + timedelta(hours=47))
