"""The shell's state: who is signed in, the working organization, the sidebar entries, the drawer."""

import reflex as rx

from admin_panel.runtime.guard import LOGIN_ROUTE, MEMBER_ROUTE, AdminArea, current_session
from admin_panel.shell.handler import as_session, shown
from admin_panel.shell.nav import BY_KEY, home_route, visible_items
from admin_panel.shell.registry import available_keys
from models import Organization
from services.auth import sessions
from services.orgs import organizations

ROLE_LABELS = {"super_admin": "Super admin", "admin": "Org admin", "finance": "Finance", "member": "Member"}
ALL_ORGS = "All organizations"
MAX_QUERY = 100


class ShellState(AdminArea, rx.State):
    """Display data of the shell. Everything is resolved from the session on the server."""

    name: str = ""
    email: str = ""
    role: str = ""
    role_label: str = ""
    is_super: bool = False
    org_name: str = ""
    has_org: bool = False
    nav_keys: list[str] = []  # the sidebar entries this role may use
    nav_sections: list[str] = []
    orgs: list[dict[str, str]] = []  # super admins only: [{"id": "3", "name": "Acme Corp"}]
    org_query: str = ""
    drawer_open: bool = False
    error: str = ""

    @rx.var
    def filtered_orgs(self) -> list[dict[str, str]]:
        q = self.org_query.strip().lower()
        return [o for o in self.orgs if q in o["name"].lower()] if q else self.orgs

    @rx.event
    async def load(self, nav_key: str = ""):
        """First on_load of every admin page: fills the shell; sends a role elsewhere if the page is not its."""
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        item = BY_KEY.get(nav_key) if isinstance(nav_key, str) else None
        if item is None or info.role not in item.roles:
            return rx.redirect(home_route(info.role, available_keys()) or MEMBER_ROUTE)
        actor = info.actor()

        def read(db):
            org = db.get(Organization, info.org_id) if info.org_id is not None else None
            listing = organizations.list_orgs(db, actor=actor) if actor.is_super else []
            return (org.name if org else None), [{"id": str(o.id), "name": o.name} for o in listing]

        got = await shown(self, read, read=True)
        if not got:
            return None
        org_name, listing = got.value
        self.name, self.email = info.name or info.email, info.email
        self.role, self.role_label = info.role, ROLE_LABELS.get(info.role, info.role)
        self.is_super = actor.is_super
        self.has_org = org_name is not None
        self.org_name = org_name or (ALL_ORGS if actor.is_super else "No organization")
        self.orgs = listing
        items = visible_items(info.role, available_keys())
        self.nav_keys = [i.key for i in items]
        self.nav_sections = sorted({i.section for i in items})
        self.drawer_open = False
        self.error = ""
        return None

    @rx.event
    async def land(self):
        """`/admin`: the first page the role may use."""
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        return rx.redirect(home_route(info.role, available_keys()) or MEMBER_ROUTE)

    @rx.event
    def set_org_query(self, value: str):
        self.org_query = value[:MAX_QUERY] if isinstance(value, str) else ""

    @rx.event
    def set_drawer(self, is_open: bool):
        self.drawer_open = is_open is True

    @rx.event
    async def switch_org(self, org_id: str):
        """Super admins choose the working org (kept in the session); the page then loads again in that org: a
        navigation to itself (hydration and the page's on_load run again), not `rx.call_script`, whose string the
        browser would have to eval (the Content-Security-Policy allows no 'unsafe-eval')."""
        if org_id in ("", None, "all"):
            target = None
        else:
            try:
                target = int(org_id) if isinstance(org_id, (str, int)) and not isinstance(org_id, bool) \
                    and len(str(org_id)) <= 18 else None
            except ValueError:
                target = None
            if target is None:
                self.error = "Organization not found."
                return None
        got = await as_session(self, lambda db, info: sessions.set_active_org(
            db, actor=info.actor(), session_id=info.session_id, org_id=target))
        if not got:
            return got.reply
        self.org_query = ""
        url = self.router.url
        return rx.redirect((url.path or "/admin") + (f"?{url.query}" if url.query else ""), replace=True)


