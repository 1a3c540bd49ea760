"""Status and role changes on users, with the protection rules:

- org admins act only inside their org (another org's user looks missing);
- nobody bans or demotes themself; org admins never act on super admins;
- the last super admin can never be banned or demoted;
- promotion to super admin requires that the person already has MFA;
- bans and role changes need a fresh MFA code (step-up).
"""

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from models import Role, User, utcnow
from models.base import stored_id
from models.dto import Result
from services.auth.sessions import revoke_all
from services.core import audit, settings, validation
from services.core.actor import Actor
from services.core.errors import Forbidden, Invalid
from services.core.permissions import MANAGE, require_role, require_step_up, user_in_scope
from services.core.user_records import user_snapshot
from services.tokens.allocation import CAP_FIELD, bounds_for, clamp, policy_for
from services.tokens.distribution.lock import ensure_unlocked
from services.users.accounts import grantable_roles


def _target(session: Session, actor: Actor, user_id) -> User:
    require_role(actor, MANAGE, "manage users")
    user = user_in_scope(session, actor, user_id, for_update=True)
    if user.role == Role.super_admin.value and not actor.is_super:
        raise Forbidden("Only a super admin can change a super admin.")
    return user


def _other_super_admins(session: Session, user: User, now: datetime) -> int:
    return session.exec(select(func.count(col(User.id))).where(
        User.role == Role.super_admin.value, User.id != user.id, User.banned == False)).one()  # noqa: E712


def set_ban(session: Session, *, actor: Actor, user_id: int, banned: bool, reason: str = "",
            until: datetime | None = None, now: datetime | None = None) -> User:
    now = now or utcnow()
    banned = validation.flag(banned, "banned")
    user = _target(session, actor, user_id)
    if banned:
        if actor.user_id == user.id:
            raise Forbidden("You cannot ban yourself.")
        reason = validation.text(reason, "reason", max_len=500, required=True)
        if until is not None and (not isinstance(until, datetime) or until <= now):
            raise Invalid("The ban must end in the future (or leave the end date empty).", field="until")
        if user.role == Role.super_admin.value and _other_super_admins(session, user, now) == 0:
            raise Forbidden("The last super admin cannot be banned.")
    require_step_up(actor, now)
    before = {"banned": user.banned, "ban_reason": user.ban_reason, "banned_until": user.banned_until}
    user.banned = banned
    user.ban_reason = reason if banned else ""
    user.banned_until = until if banned else None
    session.add(user)
    after = {"banned": user.banned, "ban_reason": user.ban_reason, "banned_until": user.banned_until}
    audit.record(session, actor, "user.ban" if banned else "user.unban", org_id=user.org_id, target_type="user",
                 target_id=user.id, before=before, after=after)
    if banned:

        revoke_all(session, stored_id(user), now=now)
    return user


def set_role(session: Session, *, actor: Actor, user_id: int, role: str, now: datetime | None = None) -> User:
    now = now or utcnow()
    if role not in {r.value for r in Role}:
        raise Invalid("Unknown role.", field="role")
    user = _target(session, actor, user_id)
    if role == user.role:
        return user
    if role not in grantable_roles(actor):
        raise Forbidden(f"You are not allowed to grant the role {role}.")
    if actor.user_id == user.id:
        raise Forbidden("You cannot change your own role.")
    if user.role == Role.super_admin.value and _other_super_admins(session, user, now) == 0:
        raise Forbidden("The last super admin cannot be demoted.")
    if role == Role.super_admin.value and not user.mfa_enabled:
        raise Forbidden("Only someone who has set up MFA can be made a super admin.")
    require_step_up(actor, now)
    before = user_snapshot(user)
    user.role = role
    session.add(user)
    audit.record(session, actor, "user.role", org_id=user.org_id, target_type="user", target_id=user.id,
                 before={"role": before["role"]}, after={"role": role})
    return user


def _status(user: User) -> dict:
    return {"paid": user.paid, "verified": user.verified, "max_tokens": user.max_tokens,
            "max_training_tokens": user.max_training_tokens}


def set_paid(session: Session, *, actor: Actor, user_id: int, paid: bool) -> Result[User]:
    """Paid on/off. Turning it on gives the default allocation (clamped into the policy) to a kind at 0."""

    paid = validation.flag(paid, "paid")
    user = _target(session, actor, user_id)
    if user.paid == paid:
        return Result(user, [])
    if user.org_id is not None:  # who is paid, and the default allocation, are what a run distributes over
        ensure_unlocked(session, user.org_id)
    before = _status(user)
    warnings: list[str] = []
    user.paid = paid
    if paid and user.org_id is not None:
        defaults = {"tokens": settings.DEFAULT_ALLOCATION, "training": settings.DEFAULT_TRAIN_ALLOCATION}
        for kind, fld in CAP_FIELD.items():
            if getattr(user, fld) == 0 and defaults[kind] > 0:
                final, note = clamp(defaults[kind], bounds_for(user, kind, policy_for(session, user.org_id, kind)))
                if note:
                    warnings.append(f"Default {fld.replace('_', ' ')} {defaults[kind]:,} {note}.")
                setattr(user, fld, final)
    session.add(user)
    audit.record(session, actor, "user.paid" if paid else "user.unpaid", org_id=user.org_id, target_type="user",
                 target_id=user.id, before=before, after=_status(user))
    return Result(user, warnings)


def disable(session: Session, *, actor: Actor, user_id: int) -> User:
    """One click: not paid, both caps at the minimum (0), so the user can no longer spend."""
    user = _target(session, actor, user_id)
    if actor.user_id == user.id:
        raise Forbidden("You cannot disable yourself.")
    if user.org_id is not None:
        ensure_unlocked(session, user.org_id)
    before = _status(user)
    user.paid, user.max_tokens, user.max_training_tokens = False, 0, 0
    session.add(user)
    audit.record(session, actor, "user.disable", org_id=user.org_id, target_type="user", target_id=user.id,
                 before=before, after=_status(user))
    return user


def set_verified(session: Session, *, actor: Actor, user_id: int) -> User:
    """Mark the e-mail address verified (admins vouch for it)."""
    user = _target(session, actor, user_id)
    if user.verified:
        return user
    before = _status(user)
    user.verified = True
    session.add(user)
    audit.record(session, actor, "user.verify_email", org_id=user.org_id, target_type="user", target_id=user.id,
                 before=before, after=_status(user))
    return user
