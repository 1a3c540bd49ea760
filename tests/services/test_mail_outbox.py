"""Mail leaves through an outbox after the commit (services/core/mailer.py), against a real local SMTP server: nothing
is sent for a rolled-back change, a failing server never undoes the change and is retried with backoff, and the
sender thread is woken by the commit."""

import socket
import time
from datetime import timedelta

from sqlmodel import select

from models import MailOutbox, User, utcnow
from services.auth import registration, signin
from services.core import mailer, settings
from services.core.passwords import hash_password

from .test_password_reset import smtp  # noqa: F401  (a real local SMTP server)

PW = "a-long-enough-password"


def test_mail_waits_for_the_commit_and_a_rolled_back_change_sends_nothing(world, session, smtp):  # noqa: F811
    signin.request_reset(session, email="alice@a.test")
    session.rollback()
    session.commit()  # mail leaves after the commit; the sender needs the write lock
    assert smtp.messages == []
    signin.request_reset(session, email="alice@a.test")
    session.commit()
    assert [m[0] for m in smtp.messages] == [["alice@a.test"]]
    assert session.exec(select(MailOutbox)).one().status == "sent"
    session.commit()  # SQLite: every transaction holds the write lock (services/core/db.py), the sender needs it
    assert len(smtp.messages) == 1  # sent once


def test_a_failing_smtp_server_never_undoes_the_change_and_is_retried(world, session, engine, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("STEWARD_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("STEWARD_SMTP_PORT", str(port))
    monkeypatch.setenv("STEWARD_SMTP_STARTTLS", "0")
    monkeypatch.setattr(settings, "MAIL_MAX_ATTEMPTS", 2)
    t0 = utcnow()
    assert registration.register(session, email="new@x.test", name="N", password=PW, now=t0) == registration.ANSWER
    session.commit()
    assert session.exec(select(User).where(User.email == "new@x.test")).one()  # the account is there
    session.commit()
    assert mailer.deliver_due(engine, now=t0) == {"sent": 0, "pending": 1, "failed": 0}
    row = session.exec(select(MailOutbox)).one()
    assert row.attempts == 1 and "ConnectionRefused" in row.last_error
    assert row.next_attempt_at == t0 + timedelta(seconds=settings.MAIL_BACKOFF_SECONDS)
    session.commit()
    assert mailer.deliver_due(engine, now=t0 + timedelta(seconds=1)) == {"sent": 0, "pending": 0, "failed": 0}
    assert mailer.deliver_due(engine, now=t0 + timedelta(minutes=5))["failed"] == 1
    session.expire_all()
    assert session.exec(select(MailOutbox)).one().status == "failed"


def test_the_sender_thread_is_woken_by_the_commit(world, session, engine, smtp, monkeypatch):  # noqa: F811
    monkeypatch.setattr(settings, "MAIL_POLL_SECONDS", 3600)  # only the commit can wake it in time
    world.alice.password_hash = hash_password("x-password-1")
    session.add(world.alice)
    session.commit()
    mailer.start_worker(engine)
    try:
        signin.request_reset(session, email="alice@a.test")
        session.commit()
        deadline = time.monotonic() + 15
        while not smtp.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m[0] for m in smtp.received] == [["alice@a.test"]]
    finally:
        mailer.stop_worker()


def test_without_smtp_nothing_is_queued(world, session, monkeypatch, caplog):
    monkeypatch.delenv("STEWARD_SMTP_HOST", raising=False)
    with caplog.at_level("WARNING", logger="steward.mail"):
        signin.request_reset(session, email="alice@a.test")
    session.commit()
    assert session.exec(select(MailOutbox)).all() == [] and "reset-password?token=" in caplog.text
