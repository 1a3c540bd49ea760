"""Invitation links: a new user (added by an admin, one by one or from a CSV) sets a password with a single-use
link that expires after INVITE_DAYS. The link carries the token, the database only its SHA-256 (the
`password_reset` table, purpose "invite"). Accepting marks the e-mail verified.

Mail goes out after the transaction that created the user committed (`deliver`), so a slow or failing SMTP
server never holds database locks nor undoes the creation: the admin still sees the link and can copy it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import PasswordReset, User, utcnow
from models.base import stored_id
from services.auth.signin import end_password_links, set_password_from_link
from services.core import audit, mailer, settings
from services.core.actor import Actor
from services.core.crypto import new_token, token_hash
from services.core.errors import Conflict, Invalid, NotFound
from services.core.passwords import check_strength
from services.core.permissions import MANAGE, require_role, user_in_scope

log = logging.getLogger("steward.invitations")

INVITE_DAYS = 7
PURPOSE = "invite"
INVALID_LINK = "This invitation link is invalid, was already used or has expired. Ask your administrator for a new one."


@dataclass(frozen=True)
class Invite:
    email: str
    name: str
    link: str


def invite_link(token: str) -> str:
    return f"{settings.public_url()}/invite?token={token}"


def issue(session: Session, user: User, *, created_by: int | None, now: datetime | None = None,
          new_user: bool = False) -> Invite:
    """A fresh invitation for `user`; earlier unused invitations of the user stop working (`new_user`: the
    user was created in this transaction, so there are none to end)."""
    now = now or utcnow()
    if not new_user:
        end_password_links(session, stored_id(user), now, purposes=(PURPOSE,))
    raw = new_token()
    session.add(PasswordReset(token_hash=token_hash(raw), user_id=stored_id(user), purpose=PURPOSE, created_at=now,
                              created_by=created_by, expires_at=now + timedelta(days=INVITE_DAYS)))
    session.flush()
    return Invite(user.email, user.name, invite_link(raw))


def message(invite: Invite) -> tuple[str, str]:
    hello = f"Hello {invite.name}," if invite.name else "Hello,"
    return ("You are invited to Steward",
            f"{hello}\n\nAn administrator created a Steward account for {invite.email}. Open this link within "
            f"{INVITE_DAYS} days to choose your password:\n\n{invite.link}\n\nThe link works once.")


def deliver(invites: list[Invite]) -> int:
    """E-mail invitations (call it after the commit). Returns how many reached an SMTP server; 0 when SMTP is
    not configured (the messages are logged) or the server fails (the admin copies the links instead)."""
    if settings.smtp() is None or not invites:
        return 0
    sent = 0
    for invite in invites:
        subject, body = message(invite)
        try:
            sent += bool(mailer.send_now(invite.email, subject, body))
        except Exception as e:  # noqa: BLE001 — any SMTP/network failure: the link stays in the result
            log.warning("Invitation mail to %s failed: %s", invite.email, e)
    return sent


def _row(session: Session, token, now: datetime, *, lock: bool = True) -> PasswordReset:
    if not isinstance(token, str) or not (20 <= len(token) <= 100):
        raise Invalid(INVALID_LINK, field="token")
    query = select(PasswordReset).where(PasswordReset.token_hash == token_hash(token))
    row = session.exec(query.with_for_update() if lock else query).first()
    if row is None or row.purpose != PURPOSE or row.used_at is not None or row.expires_at <= now:
        raise Invalid(INVALID_LINK, field="token")
    return row


def peek(session: Session, *, token, now: datetime | None = None) -> str:
    """The e-mail address an unused, unexpired invitation is for (shown on the invitation page)."""
    row = _row(session, token, now or utcnow(), lock=False)
    user = session.get(User, row.user_id)
    if user is None:
        raise Invalid(INVALID_LINK, field="token")
    return user.email


def accept(session: Session, *, token, password, now: datetime | None = None) -> User:
    """Use an invitation once: set the password and mark the e-mail verified."""
    now = now or utcnow()
    row = _row(session, token, now)
    check_strength(password)
    user = session.get(User, row.user_id, with_for_update=True)
    if user is None:
        raise Invalid(INVALID_LINK, field="token")
    before = {"verified": user.verified, "has_password": user.password_hash is not None}
    set_password_from_link(session, user, row, password, now, verify=True)
    audit.record(session, Actor(user.id, user.role, user.org_id, email=user.email), "user.invite_accepted",
                 org_id=user.org_id, target_type="user", target_id=user.id, before=before,
                 after={"verified": True, "has_password": True})
    return user


def reissue(session: Session, *, actor: Actor, user_id, now: datetime | None = None) -> Invite:
    """A new invitation link for a user of the actor's org who has not set a password yet (the old links stop
    working). Audited; deliver it with `deliver` after the commit."""

    require_role(actor, MANAGE, "invite users")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id < 2**31:

        raise NotFound("User not found.")
    user = user_in_scope(session, actor, user_id, for_update=True)
    if user.password_hash is not None:
        raise Conflict("This user has already set a password.")
    invite = issue(session, user, created_by=actor.user_id, now=now)
    audit.record(session, actor, "user.invite", org_id=user.org_id, target_type="user", target_id=user.id)
    return invite
