"""Role and org-scope checks shared by every service."""

from datetime import timedelta

from sqlmodel import Session

from models import INT64_MAX, Organization, Role, User, utcnow
from services.core import settings
from services.core.actor import Actor
from services.core.errors import Forbidden, Invalid, NotFound, StepUpRequired

MANAGE = (Role.admin.value, Role.super_admin.value)
READ_STATS = (Role.finance.value, Role.admin.value, Role.super_admin.value)


def require_role(actor: Actor, roles: tuple[str, ...], what: str = "do this") -> None:
    if actor.role not in roles:
        raise Forbidden(f"You are not allowed to {what}.")


def require_super(actor: Actor, what: str = "do this") -> None:
    require_role(actor, (Role.super_admin.value,), what)


def scoped_org_id(session: Session, actor: Actor, org_id: int | None = None) -> int:
    """The org an action applies to. Org admins: always their own. Super admins: the one given or chosen."""
    if actor.is_super:
        target = org_id if org_id is not None else actor.org_id
        if target is None:
            raise Invalid("Choose an organization first.", field="org_id")
    else:
        if actor.org_id is None:
            raise Forbidden("You do not belong to an organization.")
        if org_id is not None and org_id != actor.org_id:
            raise NotFound("Organization not found.")
        target = actor.org_id
    if not isinstance(target, int) or isinstance(target, bool) or not 0 < target <= INT64_MAX \
            or session.get(Organization, target) is None:
        raise NotFound("Organization not found.")
    return target


def user_in_scope(session: Session, actor: Actor, user_id, *, for_update: bool = False) -> User:
    """A user the actor may see. Another org's user is answered exactly like a missing one."""
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id <= INT64_MAX:
        raise NotFound("User not found.")
    user = session.get(User, user_id, with_for_update=for_update)
    if user is None:
        raise NotFound("User not found.")
    if actor.is_super and actor.org_id is None:
        return user
    if user.org_id is None or user.org_id != actor.org_id:
        raise NotFound("User not found.")
    return user


def require_step_up(actor: Actor, now=None) -> None:
    """Sensitive actions need MFA verified within the last STEP_UP_MINUTES."""


    if actor.is_system:
        return
    now = now or utcnow()
    if actor.mfa_verified_at is None or now - actor.mfa_verified_at > timedelta(minutes=settings.STEP_UP_MINUTES):
        raise StepUpRequired("Confirm with a fresh MFA code to continue.")
