"""Management → Organizations → Unassigned users (super admins): people who registered with an e-mail domain
no organization claims wait here until a super admin puts them into an organization (as unpaid members)."""

from typing import ClassVar

import reflex as rx

from admin_panel.features.orgs.state import SUPER, _date, _id
from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import LOGIN_ROUTE, AdminArea, current_session
from services.auth import registration
from services.core.errors import DomainError
from services.orgs import organizations

LIMIT = 200  # newest first; the count says when there are more


class UnassignedState(AdminArea, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = SUPER

    users: list[dict[str, str]] = []
    org_options: list[dict[str, str]] = []
    error: str = ""
    notice: str = ""

    @rx.var
    def count(self) -> int:
        return len(self.users)

    async def _reload(self, actor) -> None:
        def read(db):
            return (registration.unassigned_users(db, actor=actor, limit=LIMIT),
                    [(o.id, o.name) for o in organizations.list_orgs(db, actor=actor)])

        rows, options = await in_db(read, read=True)
        self.users = [{"id": str(r["id"]), "email": r["email"], "name": r["name"] or "—",
                       "verified": "yes" if r["verified"] else "no", "registered": _date(r["created_at"])}
                      for r in rows]
        self.org_options = [{"id": str(i), "name": n} for i, n in options]

    @rx.event
    async def load(self):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        try:
            await self._reload(info.actor())
            self.error = ""
        except DomainError as e:
            self.error = e.message
        return None

    @rx.event
    async def assign(self, form: dict):
        """One row's form: the user's id and the chosen organization (the service re-checks both)."""
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        form = form if isinstance(form, dict) else {}
        user_id, org_id = _id(form.get("user")), _id(form.get("org"))
        if user_id is None:
            self.error = "User not found."
            return None
        if org_id is None:
            self.error = "Choose an organization first."
            return None
        actor = info.actor()
        try:
            user = await in_db(lambda db: registration.assign_to_org(db, actor=actor, user_id=user_id,
                                                                      org_id=org_id))
        except DomainError as e:
            self.error = e.message
            return None
        org = next((o["name"] for o in self.org_options if o["id"] == str(org_id)), "the organization")
        self.error = ""
        self.notice = f"{user.email} joined {org} as an unpaid member: set them paid in User Management."
        await self._reload(actor)
        return None
