"""Creating users with the enterprise rules (role the actor may grant, unique email, default allocation)."""

from typing import Any

from sqlmodel import Session

from models import Role, User
from models.dto import Result
from services.core import audit, settings, validation
from services.core.actor import Actor
from services.core.errors import Conflict, Forbidden, Invalid
from services.core.passwords import hash_password
from services.core.permissions import MANAGE, require_role, scoped_org_id
from services.core.user_records import find_by_email, user_snapshot
from services.tokens.allocation import bounds_for, clamp, policy_for

ROLES = tuple(r.value for r in Role)


def grantable_roles(actor: Actor) -> tuple[str, ...]:
    if actor.is_super:
        return ROLES
    if actor.role == Role.admin.value:
        return (Role.member.value, Role.finance.value, Role.admin.value)
    return ()


def create_user(
    session: Session,
    *,
    actor: Actor,
    email: str,
    name: str = "",
    role: str = Role.member.value,
    org_id: int | None = None,
    paid: bool = True,
    verified: bool = False,
    max_tokens=None,
    max_training_tokens=None,
    password: str | None = None,
    password_hash: str | None = None,
    audit_later: list | None = None,
) -> Result[User]:
    """Create a user in the actor's org (super admins: in the org given, or none for super admins).

    `audit_later`: append the audit entry's arguments to this list instead of writing it now; the caller
    writes it (`audit.record(session, actor, *args, **kw)`) before its commit. Bulk imports use it so the
    audit chain's lock is held only for the final writes, not for the whole batch."""
    require_role(actor, MANAGE, "add users")
    email = validation.email(email)
    name = validation.text(name, "name", max_len=200)
    if role not in ROLES:
        raise Invalid(f"Role must be one of: {', '.join(ROLES)}.", field="role")
    if role not in grantable_roles(actor):
        raise Forbidden(f"You are not allowed to grant the role {role}.")
    paid = validation.flag(paid, "paid")
    verified = validation.flag(verified, "verified")
    if role == Role.super_admin.value and org_id is None and actor.org_id is None:
        target_org = None
    else:
        target_org = scoped_org_id(session, actor, org_id)
    caps = {}
    for kind, value, fld in (("tokens", max_tokens, "max_tokens"),
                             ("training", max_training_tokens, "max_training_tokens")):
        caps[kind] = None if value in (None, "") else validation.token_amount(value, fld)
    if find_by_email(session, email) is not None:
        raise Conflict(f"A user with the email {email} already exists.", field="email")
    if password_hash is None and password is not None:
        password_hash = hash_password(password)

    warnings: list[str] = []
    user = User(email=email, name=name, role=role, org_id=target_org, paid=paid, verified=verified,
                password_hash=password_hash)
    if target_org is not None:
        defaults = {"tokens": settings.DEFAULT_ALLOCATION if paid else 0,
                    "training": settings.DEFAULT_TRAIN_ALLOCATION if paid else 0}
        for kind, fld in (("tokens", "max_tokens"), ("training", "max_training_tokens")):
            cap = caps[kind]
            value = cap if cap is not None else defaults[kind]
            final, note = clamp(value, bounds_for(user, kind, policy_for(session, target_org, kind)))
            if note and (caps[kind] is not None or paid):
                warnings.append(f"{fld.replace('_', ' ').capitalize()} {value:,} {note}.")
            setattr(user, fld, final if (paid or caps[kind] is not None) else 0)
        if paid and user.max_tokens < settings.MIN_TOKENS_PER_USER:
            warnings.append(
                f"Below the enterprise minimum of {settings.MIN_TOKENS_PER_USER:,} tokens per user.")
    session.add(user)
    session.flush()
    entry: tuple[tuple[str], dict[str, Any]] = (
        ("user.create",), dict(org_id=target_org, target_type="user", target_id=user.id, after=user_snapshot(user)))
    if audit_later is not None:
        audit_later.append(entry)
    else:
        audit.record(session, actor, *entry[0], **entry[1])
    return Result(user, warnings)
