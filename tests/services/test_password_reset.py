"""Forgot password: single-use links that expire, sent over a real local SMTP server; admin reset links."""

import email
import email.policy
import re
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from models import PasswordReset, utcnow
from services.auth import sessions, signin
from services.core import mailer
from services.core.errors import Forbidden, Invalid
from services.core.passwords import hash_password, verify_password


class _Inbox:
    """What reached the real local SMTP server. Mail leaves through the outbox after the commit
    (services/core/mailer.py): reading `messages` first runs the sender once, as the app's sender thread would."""

    def __init__(self, engine):
        self.engine = engine
        self.received = []

    @property
    def messages(self):
        mailer.deliver_due(self.engine)
        return self.received

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch, engine):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox(engine)
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    monkeypatch.setenv("STEWARD_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("STEWARD_SMTP_PORT", str(port))
    monkeypatch.setenv("STEWARD_SMTP_STARTTLS", "0")
    yield inbox
    ctl.stop()


def _token(raw: str) -> str:
    body = email.message_from_string(raw, policy=email.policy.default).get_content()
    return re.search(r"reset-password\?token=([\w-]+)", body).group(1)


def test_reset_by_email_is_single_use_and_signs_out_other_sessions(world, session, smtp):
    world.alice.password_hash = hash_password("old-password")
    session.add(world.alice)
    other = sessions.create(session, world.alice)
    session.commit()
    msg = signin.request_reset(session, email="alice@a.test")
    session.commit()
    assert "If an account exists" in msg
    session.commit()  # mail leaves after the commit; the sender needs the write lock
    [(rcpt, body)] = smtp.messages
    assert rcpt == ["alice@a.test"] and "Reset your Steward password" in body
    token = _token(body)
    signin.reset_password(session, token=token, new_password="brand-new-password")
    session.commit()
    assert verify_password(world.alice.password_hash, "brand-new-password")
    assert sessions.resolve(session, other) is None
    with pytest.raises(Invalid, match="invalid or has expired"):
        signin.reset_password(session, token=token, new_password="another-password")


def test_unknown_address_gets_the_same_answer_and_no_mail(world, session, smtp):
    assert signin.request_reset(session, email="nobody@a.test") == signin.request_reset(session, email="alice@a.test")
    session.commit()
    assert [m[0] for m in smtp.messages] == [["alice@a.test"]]


def test_link_expires_after_an_hour(world, session, smtp):
    now = utcnow()
    signin.request_reset(session, email="alice@a.test", now=now)
    session.commit()
    token = _token(smtp.messages[0][1])
    with pytest.raises(Invalid):
        signin.reset_password(session, token=token, new_password="brand-new-password", now=now + timedelta(minutes=61))


def test_weak_password_is_refused_and_the_link_stays_usable(world, session, smtp):
    signin.request_reset(session, email="alice@a.test")
    session.commit()
    token = _token(smtp.messages[0][1])
    with pytest.raises(Invalid, match="at least 8"):
        signin.reset_password(session, token=token, new_password="short")
    session.rollback()
    signin.reset_password(session, token=token, new_password="long-enough-now")


def test_without_smtp_the_link_goes_to_the_log(world, session, caplog, monkeypatch):
    monkeypatch.delenv("STEWARD_SMTP_HOST", raising=False)
    with caplog.at_level("WARNING", logger="steward.mail"):
        signin.request_reset(session, email="alice@a.test")
    assert "reset-password?token=" in caplog.text


def test_super_admin_creates_an_audited_reset_link(world, session):
    link = signin.admin_reset_link(session, actor=world.actor(world.super_user), user_id=world.bob.id)
    assert "/reset-password?token=" in link
    with pytest.raises(Forbidden):
        signin.admin_reset_link(session, actor=world.actor(world.admin), user_id=world.bob.id)


def test_a_new_link_ends_the_older_ones(world, session, smtp):
    now = utcnow()
    signin.request_reset(session, email="alice@a.test", now=now)
    admin_link = signin.admin_reset_link(session, actor=world.actor(world.super_user), user_id=world.alice.id, now=now)
    session.commit()
    signin.request_reset(session, email="alice@a.test", now=now)
    session.commit()
    first, last = _token(smtp.messages[0][1]), _token(smtp.messages[1][1])
    for old in (first, admin_link.rpartition("token=")[2]):
        with pytest.raises(Invalid, match="invalid or has expired"):
            signin.reset_password(session, token=old, new_password="brand-new-password", now=now)
        session.rollback()
    signin.reset_password(session, token=last, new_password="brand-new-password", now=now)


def test_a_completed_reset_ends_every_other_link(world, session, smtp):
    """Two links issued in the same instant (say, by two super admins): using one ends the other."""
    now = utcnow()
    sup = world.actor(world.super_user)
    links = [signin.admin_reset_link(session, actor=sup, user_id=world.bob.id, now=now) for _ in range(2)]
    session.commit()
    # The second issue ended the first; make the first usable again to test what a completed reset ends.
    session.exec(update(PasswordReset).values(expires_at=now + timedelta(minutes=60)))
    session.commit()
    a, b = (link.rpartition("token=")[2] for link in links)
    signin.reset_password(session, token=b, new_password="brand-new-password", now=now)
    session.commit()
    with pytest.raises(Invalid, match="invalid or has expired"):
        signin.reset_password(session, token=a, new_password="another-password-1", now=now)
