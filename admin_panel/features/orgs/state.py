"""Management → Organizations (super admins): the organizations with their pool, creating one, recording a
purchase, and the queue of enterprise requests (review, reject, awaiting payment, activate). The tab of
unassigned users has its own state (unassigned.py)."""

from datetime import UTC, datetime, time
from typing import ClassVar

import reflex as rx

from admin_panel.runtime.guard import AdminArea
from admin_panel.runtime.ids import browser_id
from admin_panel.shell.handler import Outcome, as_actor
from admin_panel.ui import formatting as fmt
from services.onboarding import enterprise
from services.onboarding.rules import FIELDS
from services.orgs import organizations
from services.orgs.org_listing import PAGE, org_rows

SUPER = ("super_admin",)
TABS = ("orgs", "requests", "unassigned")
ACTIONS = {"reject": "Reject", "awaiting": "Mark awaiting payment", "activate": "Activate"}
MAX_FIELD = 1000
LABELS = {"org_name": "Organization name", "billing_address": "Billing address", "user_emails": "Users",
          "admin_emails": "Admins", "tokens": "Tokens", "training_tokens": "Training tokens", "notes": "Notes"}


def _text(form, name: str) -> str:
    value = form.get(name, "") if isinstance(form, dict) else ""
    return value if isinstance(value, str) and len(value) <= MAX_FIELD else ""


_date = fmt.day


class OrgsState(AdminArea, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = SUPER

    tab: str = "orgs"
    orgs: list[dict[str, str]] = []
    org_total: int = 0
    org_page: int = 0
    open_count: int = 0
    requests: list[dict[str, str]] = []
    error: str = ""
    notice: str = ""
    # create org / record purchase dialogs
    create_open: bool = False
    create_error: str = ""
    purchase_open: bool = False
    purchase_org: str = ""
    purchase_error: str = ""
    _purchase_org_id: int | None = None
    # review dialog
    review_open: bool = False
    review: dict[str, str] = {}
    review_users: list[str] = []
    review_admins: list[str] = []
    review_messages: list[dict[str, str]] = []  # [{"field", "message"}] of the rules re-run now
    review_ok: bool = False
    reason: str = ""
    confirm_action: str = ""  # "", reject, awaiting, activate
    review_error: str = ""
    _review_id: int | None = None

    @rx.var
    def confirm_label(self) -> str:
        return ACTIONS.get(self.confirm_action, "")

    async def _reload(self, error: str = "error") -> Outcome:
        offset = self.org_page * PAGE

        def read(db, actor):
            rows, total = org_rows(db, actor=actor, offset=offset)
            return rows, total, enterprise.count_open(db, actor=actor), enterprise.list_requests(db, actor=actor)

        got = await as_actor(self, read, error=error, read=True)
        if not got:
            return got
        rows, total, n_open, reqs = got.value
        self.orgs = [{"id": str(r["id"]), "name": r["name"], "users": f"{r['users']:,}",
                      "pool": f"{r['pool_tokens']:,}", "pool_training": f"{r['pool_training']:,}",
                      "domain": r["domain"], "assigned": f"{r['assigned_tokens']:,}",
                      "assigned_training": f"{r['assigned_training']:,}",
                      "over": "yes" if r["assigned_tokens"] > r["pool_tokens"] else "no",
                      "expiry": _date(r["closest_expiry"])} for r in rows]
        self.org_total, self.open_count = total, n_open
        self.requests = [{"id": str(r["id"]), "org_name": r["org_name"], "requester": r["requester"],
                          "status": r["status"], "status_label": r["status_label"], "users": str(r["users"]),
                          "tokens": f"{r['tokens']:,}", "created": _date(r["created_at"])} for r in reqs]
        return got

    @rx.event
    async def load(self):
        got = await self._reload()
        if got:
            self.error = ""
        return got.reply

    @rx.event
    def set_tab(self, tab: str):
        self.tab = tab if tab in TABS else "orgs"

    @rx.event
    async def page(self, delta: int):
        if delta not in (-1, 1):
            return None
        last = max(0, (self.org_total - 1) // PAGE)
        self.org_page = min(last, max(0, self.org_page + delta))
        return (await self._reload()).reply

    # ------------------------------------------------------------------------------------- organizations
    @rx.event
    def set_create_open(self, value: bool):
        self.create_open, self.create_error = value is True, ""

    @rx.event
    async def create_org(self, form: dict):
        data = {k: _text(form, k) for k in ("name", "billing_address", "email", "email_domain")}
        got = await as_actor(self, lambda db, actor: organizations.create_org(db, actor=actor, **data),
                             error="create_error")
        if got:
            org = got.value
            got = await self._reload(error="create_error")
        if not got:
            return got.reply
        self.create_open, self.create_error = False, ""
        self.notice = f"Organization {org.name} created."
        return None

    @rx.event
    def open_purchase(self, org_id: str):
        row = next((o for o in self.orgs if o["id"] == org_id), None) if isinstance(org_id, str) else None
        if row is None:
            return
        self._purchase_org_id, self.purchase_org = int(row["id"]), row["name"]
        self.purchase_open, self.purchase_error = True, ""

    @rx.event
    def set_purchase_open(self, value: bool):
        self.purchase_open, self.purchase_error = value is True, ""

    @rx.event
    async def record_purchase(self, form: dict):
        org_id = self._purchase_org_id
        if org_id is None:
            self.purchase_error = "Choose an organization first."
            return None
        raw_expiry = _text(form, "expires_at")
        try:
            expires = datetime.combine(datetime.strptime(raw_expiry, "%Y-%m-%d").date(), time(), UTC) \
                if raw_expiry else None
        except ValueError:
            self.purchase_error = "The expiration date must be a date (YYYY-MM-DD)."
            return None
        args = dict(tokens=_text(form, "tokens") or "0", training_tokens=_text(form, "training_tokens") or "0",
                    payer_email=_text(form, "payer_email"), comment=_text(form, "comment"), expires_at=expires)
        got = await as_actor(self, lambda db, actor: organizations.record_purchase(db, actor=actor, org_id=org_id,
                                                                                   **args), error="purchase_error")
        if got:
            got = await self._reload(error="purchase_error")
        if not got:
            return got.reply
        self.purchase_open, self.purchase_error = False, ""
        self.notice = f"Purchase recorded for {self.purchase_org}."
        return None

    # ------------------------------------------------------------------------------------------ requests
    @rx.event
    async def open_review(self, request_id: str):
        rid = browser_id(request_id)
        got = await as_actor(self, lambda db, actor: enterprise.review(db, actor=actor, request_id=rid), read=True)
        if not got:
            return got.reply
        detail, check = got.value
        self._review_id = detail["id"]
        self.review = {"id": str(detail["id"]), "org_name": detail["org_name"], "requester": detail["requester"],
                       "status": detail["status"], "status_label": detail["status_label"],
                       "billing_address": detail["billing_address"], "notes": detail["notes"],
                       "tokens": f"{detail['tokens']:,}", "training_tokens": f"{detail['training_tokens']:,}",
                       "created": _date(detail["created_at"])}
        self.review_users, self.review_admins = detail["user_emails"], detail["admin_emails"]
        self.review_messages = [{"field": LABELS[f], "message": m} for f in FIELDS
                                for m in (check.messages[f] if check else [])]
        self.review_ok = bool(check and check.ok)
        self.reason, self.confirm_action, self.review_error = "", "", ""
        self.review_open = True
        return None

    @rx.event
    def set_review_open(self, value: bool):
        if value is not True:
            self.review_open, self.confirm_action, self._review_id = False, "", None

    @rx.event
    def set_reason(self, value: str):
        self.reason = value[:500] if isinstance(value, str) else ""

    @rx.event
    def ask(self, action: str):
        """Open the confirmation for one decision (the decision runs in `confirm`)."""
        if action in ACTIONS and self._review_id is not None:
            self.confirm_action, self.review_error = action, ""

    @rx.event
    def cancel_confirm(self):
        self.confirm_action = ""

    @rx.event
    async def confirm(self):
        action, rid, reason = self.confirm_action, self._review_id, self.reason
        if action not in ACTIONS or rid is None:
            return None
        calls = {"reject": lambda db, actor: enterprise.reject(db, actor=actor, request_id=rid, reason=reason),
                 "awaiting": lambda db, actor: enterprise.mark_awaiting_payment(db, actor=actor, request_id=rid),
                 "activate": lambda db, actor: enterprise.activate(db, actor=actor, request_id=rid)}
        got = await as_actor(self, calls[action], error="review_error", retry=OrgsState.confirm)
        if got:
            result = got.value
            got = await self._reload(error="review_error")
        if not got:
            if got.error:
                self.confirm_action = ""
            return got.reply
        name = self.review.get("org_name", "")
        done = {"reject": f"Request for {name} rejected.", "awaiting": f"Request for {name} is awaiting payment.",
                "activate": f"{name} is active."}[action]
        self.notice = " ".join([done, *result.warnings])
        self.review_open, self.confirm_action, self._review_id = False, "", None
        return None
