"""`/admin`: who is signed in, the working organization and, for super admins, the org switcher."""

import reflex as rx

from models import Organization
from services import orgs, sessions
from services.errors import DomainError

from ..guard import LOGIN_ROUTE, AdminArea, current_session
from .db import in_db

ROLE_LABELS = {"super_admin": "Super admin", "admin": "Org admin", "finance": "Finance", "member": "Member"}
ALL_ORGS = "All organizations"
MAX_QUERY = 100


class AdminState(AdminArea, rx.State):
    """Display data for the admin landing page; the org list is loaded for super admins only."""

    name: str = ""
    email: str = ""
    role_label: str = ""
    is_super: bool = False
    org_name: str = ""
    orgs: list[dict[str, str]] = []  # [{"id": "3", "name": "Acme Corp"}]
    org_query: str = ""
    error: str = ""

    @rx.var
    def filtered_orgs(self) -> list[dict[str, str]]:
        q = self.org_query.strip().lower()
        return [o for o in self.orgs if q in o["name"].lower()] if q else self.orgs

    @rx.event
    async def load(self):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        actor = info.actor()

        def read(db):
            org = db.get(Organization, info.org_id) if info.org_id is not None else None
            listing = orgs.list_orgs(db, actor=actor) if actor.is_super else []
            return (org.name if org else None), [{"id": str(o.id), "name": o.name} for o in listing]

        try:
            org_name, listing = await in_db(read, read=True)
        except DomainError as e:
            self.error = e.message
            return None
        self.name, self.email = info.name or info.email, info.email
        self.role_label = ROLE_LABELS.get(info.role, info.role)
        self.is_super = actor.is_super
        self.org_name = org_name or (ALL_ORGS if actor.is_super else "No organization")
        self.orgs = listing
        self.error = ""
        return None

    @rx.event
    def set_org_query(self, value: str):
        self.org_query = value[:MAX_QUERY] if isinstance(value, str) else ""

    @rx.event
    async def switch_org(self, org_id: str):
        """Super admins choose the working org; the service checks role and that the org exists."""
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        if org_id in ("", None, "all"):
            target = None
        elif not isinstance(org_id, (str, int)) or isinstance(org_id, bool) or len(str(org_id)) > 18:
            self.error = "Organization not found."
            return None
        else:
            try:
                target = int(org_id)
            except (TypeError, ValueError):
                self.error = "Organization not found."
                return None

        try:
            await in_db(lambda db: sessions.set_active_org(db, actor=info.actor(), session_id=info.session_id,
                                                           org_id=target))
        except DomainError as e:
            self.error = e.message
            return None
        self.org_query = ""
        return AdminState.load
