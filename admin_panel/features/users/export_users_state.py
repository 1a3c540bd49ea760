"""User Management → Export CSV: basic or full (with usage), sent to the requesting browser only."""

import asyncio
from typing import ClassVar

import reflex as rx

from admin_panel.runtime.db import in_db
from admin_panel.runtime.export_job import download_event
from admin_panel.runtime.guard import AdminArea, current_session
from services.analytics import export_jobs
from services.core.errors import DomainError
from services.core.permissions import MANAGE
from services.users import user_export

KINDS = ("basic", "full")


class ExportUsersState(AdminArea, rx.State):
    """The CSV is built on the server in a read-only transaction (users read in pages), the export is
    audited, and the file goes to this user only, over HTTP through a single-use link
    (services/analytics/export_jobs.py), so a large organization's file does not pass through the websocket."""

    required_roles: ClassVar[tuple[str, ...]] = MANAGE

    exporting: bool = False
    error: str = ""

    @rx.event(background=True)
    async def export(self, kind: str):
        full = kind == "full"
        async with self:
            if self.exporting:
                return None
            if kind not in KINDS:
                self.error = "Choose a basic or a full export."
                return None
            info = await current_session(self)
            if info is None:
                return None
            self.exporting, self.error = True, ""
        actor = info.actor()
        try:
            text, count = await in_db(lambda db: user_export.export_csv(db, actor=actor, full=full), read=True)
            await in_db(lambda db: user_export.record_export(db, actor=actor, full=full, users=count))
        except DomainError as e:
            async with self:
                self.exporting, self.error = False, e.message
            return None
        name = user_export.filename(f"org-{actor.org_id}", full)
        job = await asyncio.to_thread(export_jobs.store, owner_id=info.user_id, filename=name, text=text)
        async with self:
            self.exporting = False
        return download_event(job.id, info.user_id)
