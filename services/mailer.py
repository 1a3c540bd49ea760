"""Outgoing mail over SMTP when configured; otherwise the message is written to the server log."""

import logging
import smtplib
from email.message import EmailMessage

from services import settings

log = logging.getLogger("steward.mail")


def send(to: str, subject: str, body: str) -> bool:
    """Send one plain-text message. Returns True if it went to an SMTP server, False if only logged."""
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
