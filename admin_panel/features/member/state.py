"""`/me`: the signed-in user's own allocation (the full member page comes with the requests issue)."""

import reflex as rx

from admin_panel.runtime.guard import MemberArea
from admin_panel.shell.handler import as_actor, as_session
from admin_panel.ui import formatting as fmt
from models import utcnow
from services.tokens import budget, member_overview, requests
from services.tokens.pool import next_month_start

REASONS = {
    "ok": "",
    "banned": "Your account is banned.",
    "not_paid": "Your account is not on a paid plan yet.",
    "no_organization": "You do not belong to an organization.",
    "monthly_cap_reached": "You have used your allocation for this month.",
    "org_pool_exhausted": "Your organization's token pool is used up.",
    "org_monthly_cap_reached": "Your organization has reached its monthly cap.",
}


fmt_tokens = fmt.number


class MemberState(MemberArea, rx.State):
    """Display data only: formatted numbers of the actor's own budget."""

    name: str = ""
    email: str = ""
    is_admin: bool = False
    allocation: str = ""
    used: str = ""
    remaining: str = ""
    held: str = ""  # tokens held by open reservations, already taken out of `remaining`
    resets_on: str = ""
    used_percent: int = 0
    notice: str = ""
    error: str = ""
    loaded: bool = False
    run_out: str = ""
    training_allocation: str = ""
    training_used: str = ""
    my_requests: list[dict[str, str]] = []
    has_pending: bool = False
    req_kind: str = "tokens"
    req_error: str = ""
    req_notice: str = ""

    @rx.event
    async def load(self):
        got = await as_session(self, lambda db, info: (info, budget.remaining_budget(db, actor=info.actor(),
                                                                                    user_id=info.user_id)), read=True)
        if not got:
            return got.reply
        info, b = got.value
        self.name, self.email = info.name or info.email, info.email
        self.is_admin = info.role != "member"
        self.allocation, self.used = fmt_tokens(b.cap), fmt_tokens(b.used_this_month)
        self.remaining = fmt_tokens(b.left)
        self.held = f"{fmt_tokens(b.held)} held for requests in progress" if b.held else ""
        self.used_percent = min(100, round(100 * b.used_this_month / b.cap)) if b.cap else 0
        self.resets_on = fmt.day(next_month_start(utcnow()))
        self.notice = REASONS.get(b.reason, "")
        self.error, self.loaded = "", True
        await self._load_more()
        return None

    async def _load_more(self) -> None:
        def read(db, actor):
            return member_overview.overview(db, actor=actor), requests.my_requests(db, actor=actor, limit=20)

        got = await as_actor(self, read, read=True)
        if not got:
            return
        ov, mine = got.value
        t = ov["tokens"]
        self.run_out = fmt.day(t.run_out) if t.run_out else t.run_out_note
        self.training_allocation = fmt_tokens(ov["training"].allocation)
        self.training_used = fmt_tokens(ov["training"].used)
        self.my_requests = [{
            "id": str(r["id"]), "date": fmt.iso_day(r["created_at"]), "amount": fmt_tokens(r["amount"]),
            "kind": r["kind"], "reason": r["reason"],
            "status": r["status"] + (" (auto)" if r["auto_approved"] else "")
            + (f" · {r['approved_amount']:,}" if r["approved_amount"] not in (None, r["amount"]) else "")
            + (f" · until {fmt.iso_day(r['grant_expires_at'])}" if r["grant_expires_at"] else ""),
            "note": r["review_note"]} for r in mine]
        self.has_pending = any(r["status"] == "pending" for r in mine)

    @rx.event
    def set_req_kind(self, kind: str):
        if kind in ("tokens", "training"):
            self.req_kind = kind

    @rx.event
    async def submit_request(self, form_data: dict):
        """The request form: amount, kind, reason (≤ 500 characters). The service checks everything."""
        form = form_data if isinstance(form_data, dict) else {}
        amount, reason, kind = form.get("amount", ""), form.get("reason", ""), self.req_kind
        got = await as_actor(self, lambda db, actor: requests.submit_request(db, actor=actor, kind=kind,
                                                                             amount=amount, reason=reason),
                             error="req_error")
        if not got:
            if got.error:
                self.req_notice = ""
            return got.reply
        r = got.value
        self.req_error = ""
        self.req_notice = ("Approved automatically: your allocation is raised." if r.status == "approved"
                           else "Request sent. An admin will review it.")
        return MemberState.load
