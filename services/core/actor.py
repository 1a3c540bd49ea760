"""Who is acting. Built on the server from the database (never from values sent by a browser)."""

from dataclasses import dataclass
from datetime import datetime

from models import Role


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


