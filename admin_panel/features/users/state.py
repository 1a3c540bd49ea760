"""User Management: summary bar, one server-side page of the user table, status actions, inline cap edits.

Only the current page is in state. Pending cap edits live in `edits` (keyed by user id) so they survive
paging, sorting and filtering until "Save changes" commits them all in one transaction.
"""

import asyncio
from typing import ClassVar

import reflex as rx

from admin_panel.features.users import table
from admin_panel.runtime.guard import AdminArea
from admin_panel.shell.handler import Outcome, as_actor, shown, signed_in_actor, signed_out
from admin_panel.ui import formatting as fmt_
from services.core.permissions import MANAGE
from services.tokens import allocation, pool
from services.users import invitations, user_table
from services.users.accounts import grantable_roles

ACTIONS = ("paid_on", "paid_off", "ban", "unban", "disable", "verify", "role", "pin", "unpin", "invite",
           "reset_link", "reset_mfa")
LINK_ACTIONS = ("invite", "reset_link")  # the dialog stays open and shows the link to copy
MAX_EDITS = 10_000


class UsersState(AdminArea, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = MANAGE

    # summary bar
    user_count: str = "0"
    cards: list[dict[str, str]] = []
    closest_expiry: str = ""
    overbooking: list[str] = []
    # table
    rows: list[dict[str, str]] = []
    total: int = 0
    page: int = 1
    pages: int = 1
    page_size: int = 25
    search: str = ""
    paid: str = "any"
    banned: str = "any"
    mfa: str = "any"
    role: str = "any"
    sort: str = "id"
    descending: bool = False
    loading: bool = False
    error: str = ""
    notice: str = ""
    # inline edits: user id → {field: typed text}; bad cells; per-row messages after saving
    edits: dict[str, dict[str, str]] = {}
    bad_cells: list[str] = []  # "<id>:<field>"
    save_warnings: list[str] = []
    # the action dialog
    action: str = ""
    action_user: dict[str, str] = {}
    action_error: str = ""
    action_link: str = ""  # an invitation or reset link just created, shown once in the dialog to copy
    action_link_note: str = ""
    grantable: list[str] = []
    _pending: dict = {}
    _orig: dict = {}  # "<id>:<field>" → the saved value (formatted) of the rows on this page
    _org_id: int | None = None  # the organization the page (and its pending edits) belongs to

    @rx.var
    def edit_count(self) -> int:
        return sum(len(v) for v in self.edits.values())

    @rx.var
    def range_label(self) -> str:
        if self.total == 0:
            return "No users match."
        first = (self.page - 1) * self.page_size + 1
        return f"{first:,}–{min(self.total, first + self.page_size - 1):,} of {self.total:,}"

    # ------------------------------------------------------------------------------------------ loading
    async def _refresh(self, with_summary: bool = False) -> Outcome:
        actor = await signed_in_actor(self)
        if actor is None:
            return signed_out()
        if actor.org_id != self._org_id:  # a super admin switched organization: edits of the other org go
            if self.edits:
                self.notice = "Unsaved cap edits of the previous organization were discarded."
            self.edits, self.bad_cells, self.save_warnings, self.page = {}, [], [], 1
            self._org_id = actor.org_id
        args = dict(search=self.search, paid=self.paid, banned=self.banned, mfa=self.mfa, role=self.role,
                    sort=self.sort, descending=self.descending, page=self.page, page_size=self.page_size)

        def read(db):
            page = user_table.list_users(db, actor=actor, **args)
            s = pool.org_summary(db, actor=actor) if with_summary else None

            return page, s, grantable_roles(actor)

        got = await shown(self, read, read=True)
        if not got:
            return got
        page, s, grantable = got.value
        self.rows = [table.display_row(r, self.edits) for r in page.rows]
        self._orig = {f"{r.id}:{f}": fmt_.number(getattr(r, f)) for r in page.rows for f in table.CAP_FIELDS}
        self.total, self.page, self.pages = page.total, page.page, page.pages
        self.grantable = list(grantable)
        if s is not None:
            self.user_count = fmt_.number(s.users)
            self.cards = table.summary_cards(s)
            # No unexpired purchase: "" hides the line.
            self.closest_expiry = fmt_.day(s.closest_expiry) if s.closest_expiry else ""
            self.overbooking = s.warnings
        self.error = ""
        return got

    @rx.event
    async def load(self):
        self.notice = ""
        return (await self._refresh(with_summary=True)).reply

    @rx.event
    async def reload(self):
        await self._refresh(with_summary=True)

    @rx.event
    async def set_search(self, value: str):
        if not isinstance(value, str):
            return
        self.search = value[: user_table.MAX_SEARCH]
        self.page = 1
        await self._refresh()

    @rx.event
    async def set_filter(self, name: str, value: str):
        allowed = {"paid": user_table.YES_NO, "banned": user_table.YES_NO, "mfa": user_table.YES_NO,
                   "role": user_table.ROLE_FILTERS}
        if name not in allowed or value not in allowed[name]:
            return
        setattr(self, name, value)
        self.page = 1
        await self._refresh()

    @rx.event
    async def sort_by(self, key: str):
        if key not in user_table.SORT_KEYS:
            return
        self.descending = (not self.descending) if key == self.sort else False
        self.sort = key
        await self._refresh()

    @rx.event
    async def go_to(self, page: int):
        if not isinstance(page, int) or isinstance(page, bool):
            return
        self.page = max(1, min(page, self.pages))
        await self._refresh()

    @rx.event
    async def set_page_size(self, value: str):
        if not isinstance(value, str) or not value.isdigit() or int(value) not in user_table.PAGE_SIZES:
            return
        self.page_size, self.page = int(value), 1
        await self._refresh()

    # ------------------------------------------------------------------------------------ inline edits
    @rx.event
    def edit_cell(self, user_id: str, field: str, value: str):
        """A cap typed in the table (on blur). Kept until saved or discarded; only rows on this page change."""
        if field not in table.CAP_FIELDS or table.user_id_of(user_id) is None or not isinstance(value, str):
            return
        row = next((r for r in self.rows if r["id"] == str(user_id)), None)
        if row is None:
            return
        key = f"{user_id}:{field}"
        value = value.strip()[:30]
        edits = dict(self.edits)
        cell = dict(edits.get(str(user_id), {}))
        parsed = table.parse_tokens(value)
        if parsed is None:
            self.bad_cells = sorted(set(self.bad_cells) | {key})
            cell[field] = value
        else:
            self.bad_cells = [c for c in self.bad_cells if c != key]
            cell[field] = fmt_.number(parsed)
        flag = "edited_tokens" if field == "max_tokens" else "edited_training"
        if cell[field] == self._orig.get(key):  # typed back the saved value: no longer an edit
            del cell[field]
            row[flag] = "no"
        else:
            row[flag] = "yes"
        if len(edits) >= MAX_EDITS and str(user_id) not in edits:
            self.error = f"At most {MAX_EDITS:,} rows can be edited before saving."
            return
        if cell:
            edits[str(user_id)] = cell
        else:
            edits.pop(str(user_id), None)
        self.edits = edits
        row[field] = value if parsed is None else fmt_.number(parsed)
        self.rows = list(self.rows)

    @rx.event
    async def discard_edits(self):
        self.edits, self.bad_cells, self.save_warnings = {}, [], []
        await self._refresh()

    @rx.event
    async def save_edits(self):
        if self.bad_cells:
            self.error = "Fix the cells marked in red (whole numbers only) before saving."
            return None
        changes = []
        for uid, cell in self.edits.items():
            change = {"user_id": table.user_id_of(uid)}
            for f, text in cell.items():
                change[f] = table.parse_tokens(text)
            changes.append(change)
        if not changes:
            self.notice = "Nothing to save."
            return None
        # a large raise asks for a fresh code (step-up), then saves the same edits
        got = await as_actor(self, lambda db, actor: allocation.set_allocations(db, actor=actor, changes=changes),
                             retry=UsersState.save_edits)
        if not got:
            return got.reply
        result = got.value
        self.edits, self.error = {}, ""
        self.notice = f"Saved {len(changes):,} user{'s' if len(changes) != 1 else ''}."
        await self._refresh(with_summary=True)
        # per-row warnings; the org-wide ones (overbooking) already stand in the summary's own bar
        self.save_warnings = [w for w in result.warnings if w not in self.overbooking]
        return None

    # ------------------------------------------------------------------------------------------ actions
    @rx.event
    def open_action(self, action: str, user_id: str):
        row = next((r for r in self.rows if r["id"] == str(user_id)), None)
        if action not in ACTIONS or row is None:
            return
        self.action, self.action_user, self.action_error, self.action_link = action, row, "", ""

    @rx.event
    def close_action(self):
        self.action, self.action_user, self.action_error, self._pending = "", {}, "", {}
        self.action_link = self.action_link_note = ""

    @rx.event
    def set_action_open(self, value: bool):
        if value is not True:
            self.close_action()

    @rx.event
    async def confirm_action(self, form_data: dict):
        if not self.action or not isinstance(form_data, dict):
            return None
        self._pending = {"action": self.action, "user_id": self.action_user.get("id", ""),
                         "reason": form_data.get("reason", ""), "until": form_data.get("until", ""),
                         "role": form_data.get("role", "")}
        return UsersState.apply_pending

    @rx.event
    async def apply_pending(self):
        """Runs the confirmed action (again after a step-up code, from the server-side copy of the form)."""
        p = dict(self._pending)
        uid = table.user_id_of(p.get("user_id"))
        if not p or uid is None:
            return None
        action = p["action"]
        try:
            until = table.ban_until(p) if action == "ban" else None
        except ValueError:
            self.action_error = "The end date is not a valid date."
            return None
        got = await as_actor(self, lambda db, actor: table.run_action(db, actor, action, uid, p, until),
                             error="action_error", retry=UsersState.apply_pending)
        if not got:
            return got.reply
        out = got.value
        if action in LINK_ACTIONS:
            await self._show_link(out)
            return None
        warnings = out
        email = self.action_user.get("email", "")
        self.close_action()
        self.notice = f"Done: {email}." + (" " + " ".join(warnings) if warnings else "")
        await self._refresh(with_summary=True)
        return None

    async def _show_link(self, out) -> None:
        """An invitation (e-mailed too when SMTP is configured) or a reset link: shown once to copy."""
        self._pending = {}
        mailed = isinstance(out, invitations.Invite) and bool(await asyncio.to_thread(invitations.deliver, [out]))
        self.action_link, self.action_link_note = table.link_and_note(out, mailed)
        self.notice = f"New link for {self.action_user.get('email', '')}."


# After a user is added or a CSV imported, the table and summary reload.
from admin_panel.features.users.add_users_state import AFTER_CHANGE  # noqa: E402

AFTER_CHANGE.append(UsersState.reload)
