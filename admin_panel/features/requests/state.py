"""Token Requests page: tabs with counts, one page of the queue, approve / deny dialogs with the pool warning.
Large grants ask for a fresh MFA code (step-up) and then approve from the server-side copy of the dialog."""

from typing import ClassVar

import reflex as rx

from admin_panel.runtime.guard import AdminArea
from admin_panel.shell.handler import Outcome, as_actor
from admin_panel.ui import formatting as fmt
from services.core.errors import AlreadyReviewed
from services.core.permissions import MANAGE
from services.tokens import requests as tr

PAGE_SIZES = ("25", "50", "100")


_when = fmt.moment


def _display(r: dict) -> dict[str, str]:
    status = r["status"] + (" (auto)" if r["auto_approved"] else "")
    if r["status"] == "approved" and r["approved_amount"] != r["amount"]:
        status += f" · {r['approved_amount']:,}"
    if r["grant_expires_at"]:
        status += f" · until {fmt.iso_day(r['grant_expires_at'])}"
    return {"id": str(r["id"]), "user": r["email"], "amount": f"{r['amount']:,}", "kind": r["kind"],
            "reason": r["reason"] or ("(" + r["source"] + ")" if r["source"] != "member" else ""),
            "source": r["source"], "at_request": f"{r['allocation_at_request']:,} / {r['used_at_request']:,} used",
            "current": f"{r['current_allocation']:,}", "status": status, "raw_status": r["status"],
            "date": _when(r["created_at"]), "reviewer": r["reviewer"], "note": r["review_note"]}


class RequestsState(AdminArea, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = MANAGE

    tab: str = "pending"
    counts: dict[str, int] = {"pending": 0, "approved": 0, "denied": 0, "all": 0}
    rows: list[dict[str, str]] = []
    page: int = 1
    pages: int = 1
    page_size: str = "25"
    error: str = ""
    notice: str = ""
    # dialogs
    approve_open: bool = False
    deny_open: bool = False
    dialog_user: str = ""
    dialog_amount: str = ""
    approve_amount: str = ""
    approve_expires: str = ""
    approve_note: str = ""
    approve_warnings: list[str] = []
    deny_note: str = ""
    dialog_error: str = ""
    _request_id: int = 0

    @rx.event
    async def load(self):
        got = await self._refresh()
        return got.reply

    async def _refresh(self) -> Outcome[dict]:
        tab, page, size = self.tab, self.page, int(self.page_size)
        got = await as_actor(self, lambda db, actor: tr.list_requests(db, actor=actor, tab=tab, page=page,
                                                                      page_size=size), read=True)
        if not got:
            return got
        res = got.value
        self.counts = res["counts"]
        self.pages = max(1, -(-res["total"] // size))
        self.rows = [_display(r) for r in res["rows"]]
        return got

    @rx.event
    async def set_tab(self, tab: str):
        if tab not in tr.TABS:
            return None
        self.tab, self.page, self.notice, self.error = tab, 1, "", ""
        return RequestsState.load

    @rx.event
    async def set_page_size(self, size: str):
        if size in PAGE_SIZES:
            self.page_size, self.page = size, 1
        return RequestsState.load

    @rx.event
    async def goto(self, page: int):
        if isinstance(page, int) and not isinstance(page, bool) and 1 <= page <= self.pages:
            self.page = page
        return RequestsState.load

    # ------------------------------------------------------------------------------------------ approve
    def _row(self, request_id) -> dict | None:
        return next((r for r in self.rows if r["id"] == request_id), None) if isinstance(request_id, str) else None

    @rx.event
    async def open_approve(self, request_id: str):
        row = self._row(request_id)
        if row is None:
            self.error = "Request not found."
            return None
        self._request_id = int(row["id"])
        self.dialog_user, self.dialog_amount = row["user"], row["amount"]
        self.approve_amount, self.approve_expires, self.approve_note = row["amount"].replace(",", ""), "", ""
        self.dialog_error, self.approve_open = "", True
        await self._check()
        return None

    async def _check(self) -> None:
        rid, amount = self._request_id, self.approve_amount
        got = await as_actor(self, lambda db, actor: tr.check_approval(db, actor=actor, request_id=rid,
                                                                       amount=amount),
                             error="dialog_error", read=True)
        if got:
            self.approve_warnings, self.dialog_error = got.value, ""
        elif got.reply is None:  # the error is shown (signed out: nothing changes)
            self.approve_warnings = []

    @rx.event
    async def set_approve_amount(self, value: str):
        self.approve_amount = value[:24] if isinstance(value, str) else ""
        await self._check()

    @rx.event
    def set_approve_expires(self, value: str):
        self.approve_expires = value[:10] if isinstance(value, str) else ""

    @rx.event
    def set_approve_note(self, value: str):
        self.approve_note = value[:500] if isinstance(value, str) else ""

    @rx.event
    async def confirm_approve(self):
        """Approve from the dialog's server-side values (also the step-up retry)."""
        if not self._request_id:
            return None
        rid, amount, expires, note = self._request_id, self.approve_amount, self.approve_expires, self.approve_note
        try:
            got = await as_actor(self, lambda db, actor: tr.approve(db, actor=actor, request_id=rid, amount=amount,
                                                                    expires_on=expires or None, note=note),
                                 error="dialog_error", retry=RequestsState.confirm_approve, passes=(AlreadyReviewed,))
        except AlreadyReviewed as e:  # someone else was first: close the dialog, show the fresh queue
            self.dialog_error = e.message
            self.approve_open, self.error = False, e.message
            await self._refresh()
            return None
        if not got:
            return got.reply
        res = got.value
        self.approve_open, self._request_id, self.dialog_error = False, 0, ""
        extra = (" " + " ".join(res.warnings)) if res.warnings else ""
        self.notice, self.error = f"Approved {res.value.approved_amount:,} tokens for {self.dialog_user}.{extra}", ""
        await self._refresh()
        return None

    @rx.event
    def close_dialogs(self):
        self.approve_open = self.deny_open = False
        self._request_id, self.dialog_error = 0, ""

    @rx.event
    def set_dialog_open(self, value: bool):
        if value is not True:
            self.close_dialogs()

    # --------------------------------------------------------------------------------------------- deny
    @rx.event
    def open_deny(self, request_id: str):
        row = self._row(request_id)
        if row is None:
            self.error = "Request not found."
            return
        self._request_id = int(row["id"])
        self.dialog_user, self.dialog_amount, self.deny_note, self.dialog_error = row["user"], row["amount"], "", ""
        self.deny_open = True

    @rx.event
    def set_deny_note(self, value: str):
        self.deny_note = value[:500] if isinstance(value, str) else ""

    @rx.event
    async def confirm_deny(self):
        if not self._request_id:
            return None
        rid, note = self._request_id, self.deny_note
        got = await as_actor(self, lambda db, actor: tr.deny(db, actor=actor, request_id=rid, note=note),
                             error="dialog_error")
        if not got:
            return got.reply
        self.deny_open, self._request_id, self.dialog_error = False, 0, ""
        self.notice, self.error = f"Denied the request of {self.dialog_user}.", ""
        await self._refresh()
        return None


