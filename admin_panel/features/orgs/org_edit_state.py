"""Organizations page: edit an organization (fields, monthly caps, allowed models) and "work in" it."""

from typing import ClassVar

import reflex as rx

from admin_panel.features.orgs.state import OrgsState, _text
from admin_panel.runtime.guard import AdminArea
from admin_panel.runtime.ids import browser_id
from admin_panel.shell.handler import as_actor, as_session
from services.auth import sessions
from services.orgs import catalog, organizations
from services.orgs.org_listing import org_detail
from services.orgs.organizations import ORG_FIELDS

SUPER = ("super_admin",)
CAPS = ("monthly_token_cap", "monthly_training_cap")


def _cap(form: dict, name: str):
    raw = _text(form, name).strip().replace(",", "").replace("_", "")
    return raw or None  # the service validates (whole, non-negative, 64-bit)


class OrgEditState(AdminArea, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = SUPER

    is_open: bool = False
    org: dict[str, str] = {}
    models: list[dict[str, str]] = []  # id, name, provider, allowed ("yes"/"no")
    error: str = ""
    _org_id: int | None = None

    @rx.event
    async def open_edit(self, org_id: str):
        oid = browser_id(org_id)
        got = await as_actor(self, lambda db, actor: org_detail(db, actor=actor, org_id=oid), read=True)
        if not got:
            if got.error:
                self.is_open = False
            return got.reply
        d = got.value
        self._org_id = d["id"]
        self.org = {k: ("" if d[k] is None else (f"{d[k]:,}" if k in CAPS else str(d[k])))
                    for k in ORG_FIELDS + CAPS}
        self.models = [{"id": str(m["id"]), "name": m["name"], "provider": m["provider"],
                        "allowed": "yes" if m["allowed"] else "no"} for m in d["models"]]
        self.error, self.is_open = "", True
        return None

    @rx.event
    def set_open(self, value: bool):
        if value is not True:
            self.is_open, self.error, self._org_id = False, "", None

    @rx.event
    def toggle_model(self, model_id: str, on: bool):
        self.models = [{**m, "allowed": ("yes" if on is True else "no")} if m["id"] == model_id else m
                       for m in self.models]

    @rx.event
    async def save(self, form: dict):
        if self._org_id is None or not isinstance(form, dict):
            return None
        org_id = self._org_id
        data = {f: _text(form, f) for f in ORG_FIELDS}
        data.update({c: _cap(form, c) for c in CAPS})
        model_ids = [int(m["id"]) for m in self.models if m["allowed"] == "yes"]

        def write(db, actor):
            organizations.update_org(db, actor=actor, org_id=org_id, **data)
            catalog.set_allowed_models(db, actor=actor, org_id=org_id, model_ids=model_ids)

        got = await as_actor(self, write)
        if not got:
            return got.reply
        self.is_open, self.error, self._org_id = False, "", None
        return OrgsState.load

    @rx.event
    async def work_in(self, org_id: str):
        """Make this organization the working one (kept on the session) and open its User Management."""
        oid = browser_id(org_id)
        if oid is None:
            self.error = "Organization not found."
            return None
        got = await as_session(self, lambda db, info: sessions.set_active_org(
            db, actor=info.actor(), session_id=info.session_id, org_id=oid))
        if not got:
            return got.reply
        return rx.redirect("/admin/users")
