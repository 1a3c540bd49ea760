"""Management → Organizations → Unassigned users (super admins): people who registered with an e-mail domain
no organization claims wait here until a super admin puts them into an organization (as unpaid members)."""

from typing import ClassVar

import reflex as rx

from admin_panel.features.orgs.state import SUPER, _date
from admin_panel.runtime.guard import AdminArea
from admin_panel.runtime.ids import browser_id
from admin_panel.shell.handler import Outcome, as_actor
from services.auth import registration
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

    async def _reload(self) -> Outcome:
        def read(db, actor):
            return (registration.unassigned_users(db, actor=actor, limit=LIMIT),
                    [(o.id, o.name) for o in organizations.list_orgs(db, actor=actor)])

        got = await as_actor(self, read, read=True)
        if not got:
            return got
        rows, options = got.value
        self.users = [{"id": str(r["id"]), "email": r["email"], "name": r["name"] or "—",
                       "verified": "yes" if r["verified"] else "no", "registered": _date(r["created_at"])}
                      for r in rows]
        self.org_options = [{"id": str(i), "name": n} for i, n in options]
        return got

    @rx.event
    async def load(self):
        got = await self._reload()
        if got:
            self.error = ""
        return got.reply

    @rx.event
    async def assign(self, form: dict):
        """One row's form: the user's id and the chosen organization (the service re-checks both)."""
        form = form if isinstance(form, dict) else {}
        user_id, org_id = browser_id(form.get("user")), browser_id(form.get("org"))
        if user_id is None:
            self.error = "User not found."
            return None
        if org_id is None:
            self.error = "Choose an organization first."
            return None
        got = await as_actor(self, lambda db, actor: registration.assign_to_org(db, actor=actor, user_id=user_id,
                                                                                org_id=org_id))
        if not got:
            return got.reply
        user = got.value
        org = next((o["name"] for o in self.org_options if o["id"] == str(org_id)), "the organization")
        self.error = ""
        self.notice = f"{user.email} joined {org} as an unpaid member: set them paid in User Management."
        await self._reload()
        return None
