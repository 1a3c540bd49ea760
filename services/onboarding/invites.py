"""Registration invitations for the e-mails of an enterprise request that have no account yet.

An invitation creates the account (member, no organization, not verified, no password) and a single-use
`invite` link to the password page (`/reset-password?token=…`); choosing a password there registers the
account (`services.auth.signin.reset_password` marks invited accounts verified). With SMTP configured the link is
mailed; otherwise it is returned for the requester to pass on.
"""

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from models import PasswordReset, Role, User, utcnow
from services.auth.signin import _new_reset
from services.core import audit, mailer, settings
from services.core.actor import Actor
from services.core.errors import Forbidden, Invalid
from services.core.user_records import find_by_email
from services.onboarding.rules import is_registered, parse_emails


def invite(session: Session, *, actor: Actor, emails, now=None) -> list[dict]:
    """[{"email", "sent": bool, "link": str ("" when mailed), "status": "invited" | "registered"}]."""
    if actor.user_id is None:
        raise Forbidden("Sign in first.")
    now = now or utcnow()
    addresses, msgs = parse_emails(emails, "Invitations")
    if msgs:
        raise Invalid(msgs[0], field="emails")
    if not addresses:
        raise Invalid("Enter the e-mail addresses to invite.", field="emails")
    recent = session.exec(select(func.count()).select_from(PasswordReset).where(
        PasswordReset.purpose == "invite", PasswordReset.created_by == actor.user_id,
        PasswordReset.created_at > now - timedelta(days=1))).one()
    if recent + len(addresses) > settings.ONBOARDING_MAX_EMAILS:
        raise Invalid(f"You can send at most {settings.ONBOARDING_MAX_EMAILS:,} invitations a day "
                      f"({recent:,} sent in the last 24 hours).", field="emails")
    out = []
    mail = settings.smtp() is not None
    for email in addresses:
        user = find_by_email(session, email)
        if user is not None and is_registered(user):
            out.append({"email": email, "sent": False, "link": "", "status": "registered"})
            continue
        if user is None:
            user = User(email=email, role=Role.member.value, org_id=None, paid=False, verified=False)
            session.add(user)
            session.flush()
        link = _new_reset(session, user, purpose="invite", created_by=actor.user_id, now=now,
                          minutes=settings.INVITE_DAYS * 24 * 60)
        audit.record(session, actor, "user.invite", target_type="user", target_id=user.id, after={"email": email})
        sent = False
        if mail:
            sent = mailer.queue(session, email, "You are invited to Steward",
                               f"{actor.email} is setting up an enterprise account on Steward and listed you as "
                               f"a user. Open this link within {settings.INVITE_DAYS} days to choose a password "
                               f"and register:\n\n{link}\n", now=now)
        out.append({"email": email, "sent": sent, "link": "" if sent else link, "status": "invited"})
    return out
