"""In-app notifications for one user, mirrored by e-mail when SMTP is configured."""

import logging

from sqlmodel import Session, col, select

from models import Notification, User, utcnow
from services.core import mailer, settings
from services.core.actor import Actor
from services.core.errors import Forbidden

log = logging.getLogger("steward.notifications")
SHOWN = 20


def notify(session: Session, user: User, title: str, body: str) -> Notification:
    """Store the notification; send it by mail only when SMTP is configured (a mail failure never undoes the
    change that caused it: it is logged and the in-app copy stays)."""
    if user.id is None:
        raise ValueError("Only a stored user can be notified.")
    note = Notification(user_id=user.id, title=title[:200], body=body[:2000])
    session.add(note)
    session.flush()
    if settings.smtp() is not None:  # sent after the commit (services/core/mailer.py); a failure is retried there
        mailer.queue(session, user.email, f"Steward: {title}", f"{body}\n\n{settings.public_url()}/enterprise/request")
    return note


def my_notifications(session: Session, *, actor: Actor, limit: int = SHOWN) -> list[dict]:
    if actor.user_id is None:
        raise Forbidden("Sign in first.")
    rows = session.exec(select(Notification).where(Notification.user_id == actor.user_id)
                        .order_by(col(Notification.id).desc()).limit(limit)).all()
    return [{"id": n.id, "title": n.title, "body": n.body, "created_at": n.created_at, "read": n.read_at is not None}
            for n in rows]


def mark_all_read(session: Session, *, actor: Actor) -> int:
    if actor.user_id is None:
        raise Forbidden("Sign in first.")
    rows = session.exec(select(Notification).where(Notification.user_id == actor.user_id,
                                                   col(Notification.read_at).is_(None))).all()
    now = utcnow()
    for n in rows:
        n.read_at = now
        session.add(n)
    return len(rows)
