"""Analytics → Activity Logs: usage, sign-ins and audit trail tabs with keyset paging, CSV export, and the
audit-chain check for super admins. Only the current page of rows is held; cursors stay on the server."""

import asyncio
from typing import ClassVar

import reflex as rx

from admin_panel.features.activity.throttled_state import ThrottledState
from admin_panel.runtime.export_job import LogExport
from admin_panel.runtime.guard import LOGIN_ROUTE, AdminArea, current_session
from admin_panel.shell.handler import as_actor, signed_in_actor
from admin_panel.ui import formatting as fmt
from services.analytics import activity_logs, audit_log, logs_filter
from services.analytics import statistics as st
from services.core.db import read_scope
from services.core.errors import DomainError
from services.core.permissions import MANAGE

TAB_LABELS = {"usage": "Usage", "signins": "Sign-ins", "audit": "Audit trail"}
THROTTLED_TAB = "throttled"  # super admins: Throttled sign-ins (state/throttled.py)
FILTER_KEYS = ("user", "action", "model", "kind", "start", "end", "text", "outcome")
PAGE_SIZES = tuple(str(n) for n in logs_filter.PAGE_SIZES)


def log_filter(db, actor, f: dict) -> logs_filter.LogFilter:
    """The service filter from the page's filter strings (validated by the services)."""
    uid = st.find_user(db, actor=actor, email=f.get("user", "")) if f.get("user") else None
    return logs_filter.make_filter(
        db, actor, user_id=uid, action=f.get("action") or None, model_id=f.get("model") or None,
        kind=f.get("kind") or None, start=f.get("start") or None, end=f.get("end") or None,
        text=f.get("text", ""), outcome=f.get("outcome") or None)


def _cell(value) -> str:
    """Display text of a log cell: token counts with thousands separators."""
    if isinstance(value, int) and not isinstance(value, bool):
        return fmt.number(value)
    return str(value)


class ActivityState(AdminArea, LogExport, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = MANAGE

    tab: str = "usage"
    filters: dict[str, str] = dict.fromkeys(FILTER_KEYS, "")
    page_size: str = "50"
    columns: list[str] = []
    rows: list[dict[str, str]] = []
    page_no: int = 1
    has_next: bool = False
    has_prev: bool = False
    note: str = ""  # free-text search: how far this page searched
    actions: list[str] = []
    model_options: list[dict[str, str]] = []
    is_super: bool = False
    loaded: bool = False
    error: str = ""
    verify_running: bool = False
    verify_result: str = ""
    verify_ok: bool = True
    _next: str | None = None
    _prev: str | None = None

    @rx.event
    async def load(self):
        got = await as_actor(self, lambda db, actor: (audit_log.audit_actions(db, actor=actor),
                                                      st.model_options(db), actor.is_super), read=True)
        if not got:
            return got.reply
        self.actions, models, self.is_super = got.value
        self.model_options = [{"id": str(i), "name": n} for i, n in models]
        if self.tab == THROTTLED_TAB:
            if self.is_super:
                return ThrottledState.load
            self.tab = "usage"
        return await self._fetch(None, "next", reset=True)

    async def _fetch(self, cursor, direction, *, reset=False):
        tab, limit, filters = self.tab, int(self.page_size), dict(self.filters)

        def read(db, actor):
            return activity_logs.log_page(db, actor=actor, tab=tab, flt=log_filter(db, actor, filters), cursor=cursor,
                                     direction=direction, limit=limit)

        got = await as_actor(self, read, read=True)
        if not got:
            return got.reply
        page = got.value
        self.error = ""
        self.columns = page.columns
        self.rows = [{k: _cell(v) for k, v in r.items()} for r in page.rows]
        self._next, self._prev = page.next_cursor, page.prev_cursor
        self.has_next, self.has_prev = page.next_cursor is not None, page.prev_cursor is not None
        self.note = page.note
        if reset:
            self.page_no = 1
        elif direction == "next":
            self.page_no += 1
        else:
            self.page_no = max(1, self.page_no - 1)
        self.loaded = True
        return None

    @rx.event
    async def set_tab(self, tab: str):
        actor = await signed_in_actor(self)
        if actor is None:
            return rx.redirect(LOGIN_ROUTE)
        if tab == THROTTLED_TAB:  # super admins only (the service checks too)
            if not actor.is_super:
                self.error = "Unknown log."
                return None
            self.tab, self.error = tab, ""
            return ThrottledState.load
        if tab not in TAB_LABELS:
            self.error = "Unknown log."
            return None
        self.tab = tab
        if not self.export_running:  # the last export's message belongs to the tab it came from
            self.export_message, self.export_ready = "", False
        return await self._fetch(None, "next", reset=True)

    @rx.event
    async def apply_filters(self, form: dict):
        if not isinstance(form, dict) or any(not isinstance(form.get(k, ""), str) or len(form.get(k, "")) > 320
                                             for k in FILTER_KEYS + ("page_size",)):
            self.error = "Those filters are not valid."
            return None
        size = form.get("page_size") or self.page_size
        if size not in PAGE_SIZES:
            self.error = "Page size must be 25, 50 or 100."
            return None
        self.filters = {k: (form.get(k) or "").strip() for k in FILTER_KEYS}
        for k in ("model", "kind", "outcome", "action"):
            if self.filters[k] == "all":
                self.filters[k] = ""
        self.page_size = size
        return await self._fetch(None, "next", reset=True)

    @rx.event
    async def clear_filters(self):
        self.filters = dict.fromkeys(FILTER_KEYS, "")
        return await self._fetch(None, "next", reset=True)

    @rx.event
    async def next_page(self):
        if self._next is None:
            return None
        return await self._fetch(self._next, "next")

    @rx.event
    async def prev_page(self):
        if self._prev is None:
            return None
        return await self._fetch(self._prev, "prev")

    @rx.event
    async def first_page(self):
        return await self._fetch(None, "next", reset=True)

    # ------------------------------------------------------------------------------------ verify chain
    @rx.event(background=True)
    async def verify_chain(self):
        """Super admins: walk the whole hash chain (a minute at a million entries) and report."""
        async with self:
            if self.verify_running:
                return None
            info = await current_session(self)
            if info is None:
                return rx.redirect(LOGIN_ROUTE)
            self.verify_running, self.verify_result = True, "Verifying the audit chain…"
        actor = info.actor()

        def run():
            with read_scope() as db:
                return audit_log.verify_audit_chain(db, actor=actor)

        try:
            report = await asyncio.to_thread(run)
            text, ok = str(report).capitalize(), report.intact
        except DomainError as e:
            text, ok = e.message, False
        async with self:
            self.verify_running, self.verify_result, self.verify_ok = False, text, ok
        return None

    # ------------------------------------------------------------------------------------------- export
    @rx.event(background=True)
    async def export_log(self):
        def inputs():
            filters = dict(self.filters)
            return self.tab, lambda db, actor: log_filter(db, actor, filters)

        return await self._start_export(inputs)
