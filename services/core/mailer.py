"""Outgoing mail: written to an outbox in the transaction of the change that causes it, sent after the commit.

`queue(session, …)` adds a `mail_outbox` row (nothing slow happens while the database transaction is open: an
SMTP server that hangs for its 10 s timeout no longer holds SQLite's write lock). After the commit, the process's
sender thread is woken at once (a SQLAlchemy `after_commit` hook) and sends what is due: it claims each row with
a conditional UPDATE (several workers never send the same mail), sends outside any transaction and records the
outcome; a failure is retried after 30 s, 60 s, 120 s … up to MAIL_MAX_ATTEMPTS, then the row is `failed` (kept
with its error). The sender also polls every MAIL_POLL_SECONDS, so mail queued by another process goes out too.

Without SMTP (`STEWARD_SMTP_HOST` unset) nothing is queued: the message, links included, is written to the
server log at once, as the embedded demo expects.
"""

import logging
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import event
from sqlmodel import Session, col, select, update

from models import MailOutbox, utcnow
from services.core import settings
from services.core.db import session_scope
from services.core.workers import Worker

log = logging.getLogger("steward.mail")
LEASE = timedelta(seconds=60)  # a claimed row is not picked again for this long (a sender died mid-send)
_QUEUED = "steward_mail_queued"


def send_now(to: str, subject: str, body: str) -> bool:
    """Send one plain-text message right away (never inside a transaction). True if it went to an SMTP server,
    False if it was only logged (no SMTP configured)."""
    cfg = settings.smtp()
    if cfg is None:
        log.warning("SMTP not configured; mail to %s — %s\n%s", to, subject, body)
        return False
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = cfg["sender"], to, subject
    msg.set_content(body)
    with smtplib.SMTP(cfg["host"], cfg["port"], timeout=10) as smtp:
        if cfg["starttls"]:
            smtp.starttls()
        if cfg["user"]:
            smtp.login(cfg["user"], cfg["password"] or "")
        smtp.send_message(msg)
    return True


def queue(session: Session, to: str, subject: str, body: str, now: datetime | None = None) -> bool:
    """Mail to send once this transaction commits. True when queued for SMTP, False when only logged."""
    if settings.smtp() is None:
        return send_now(to, subject, body)
    session.add(MailOutbox(to_addr=to[:320], subject=subject[:300], body=body, next_attempt_at=now or utcnow()))
    session.info[_QUEUED] = True
    return True


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session) -> None:
    if session.info.pop(_QUEUED, False):
        SENDER.wake()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session) -> None:
    session.info.pop(_QUEUED, None)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(86_400, settings.MAIL_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


def _claim(engine, now: datetime, limit: int) -> list[tuple[int, str, str, str]]:
    out = []
    with session_scope(engine) as s:
        due = s.exec(select(MailOutbox).where(MailOutbox.status == "pending", MailOutbox.next_attempt_at <= now)
                     .order_by(col(MailOutbox.next_attempt_at), col(MailOutbox.id)).limit(limit)).all()
        for m in due:
            if m.id is None:  # a stored row always has its id
                continue
            took = s.exec(update(MailOutbox).where(col(MailOutbox.id) == m.id, col(MailOutbox.status) == "pending",
                                                   col(MailOutbox.next_attempt_at) == m.next_attempt_at)
                          .values(next_attempt_at=now + LEASE))
            if took.rowcount:
                out.append((m.id, m.to_addr, m.subject, m.body))
    return out


def _finish(engine, mail_id: int, error: str, now: datetime) -> str:
    with session_scope(engine) as s:
        m = s.get(MailOutbox, mail_id, with_for_update=True)
        if m is None:
            raise LookupError(f"Mail {mail_id} was claimed but no longer exists.")
        m.attempts += 1
        if not error:
            m.status, m.sent_at, m.last_error = "sent", now, ""
        else:
            m.last_error = error[:300]
            if m.attempts >= settings.MAIL_MAX_ATTEMPTS:
                m.status = "failed"
            else:
                m.next_attempt_at = now + backoff(m.attempts)
        s.add(m)
        return m.status


def deliver_due(engine=None, *, now: datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Send every due mail once; how many were sent, will be retried, or failed for good."""
    now = now or utcnow()
    counts = {"sent": 0, "pending": 0, "failed": 0}
    for mail_id, to, subject, body in _claim(engine, now, limit):
        error = ""
        try:
            send_now(to, subject, body)
        except Exception as exc:  # noqa: BLE001 — any SMTP or network failure is recorded and retried
            error = f"{type(exc).__name__}: {exc}"
            log.warning("mail %s to %s failed: %s", mail_id, to, error)
        counts[_finish(engine, mail_id, error, now)] += 1
    return counts


SENDER = Worker("mail", deliver_due, lambda: settings.MAIL_POLL_SECONDS)


def start_worker(engine=None) -> None:
    """A daemon thread per process that sends due mail when woken after a commit, and every poll interval."""
    SENDER.start(engine)


def stop_worker(timeout: float = 10.0) -> None:
    """Stop the sender thread after its current round (tests; a process that shuts down)."""
    SENDER.stop(timeout)
