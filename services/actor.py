"""Who is acting. Built on the server from the database (never from values sent by a browser)."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from models import Role, User
from services.errors import Forbidden, NotFound


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    role: str
    org_id: int | None  # the org the actor works in (super admins: the org chosen in the switcher, or None)
    email: str = ""
    mfa_verified_at: datetime | None = None
    ip: str = ""

    @property
    def is_super(self) -> bool:
        return self.role == Role.super_admin.value

    @property
    def is_system(self) -> bool:
        return self.user_id is None and self.role == Role.super_admin.value


SYSTEM = Actor(user_id=None, role=Role.super_admin.value, org_id=None, email="system")


def system_actor(org_id: int | None = None) -> Actor:
    """The scheduler / CLI acting with full rights (audited as 'system')."""
    return Actor(user_id=None, role=Role.super_admin.value, org_id=org_id, email="system")


def actor_for_user(
    session: Session,
    user_id: int,
    *,
    active_org_id: int | None = None,
    mfa_verified_at: datetime | None = None,
    ip: str = "",
) -> Actor:
    """Load the acting user and derive role and org scope from the database."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("Your account no longer exists.")
    if user.banned:
        raise Forbidden("Your account is banned.")
    org_id = active_org_id if user.role == Role.super_admin.value else user.org_id
    return Actor(
        user_id=user.id, role=user.role, org_id=org_id, email=user.email, mfa_verified_at=mfa_verified_at, ip=ip
    )
