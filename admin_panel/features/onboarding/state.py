"""`/enterprise/request`: any signed-in user asks for an enterprise account, with the rules checked as they
type; they invite unregistered colleagues and follow the status of their requests and its notifications."""

import reflex as rx

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import LOGIN_ROUTE, MemberArea, current_session
from admin_panel.ui import formatting as fmt
from services.core import notifications
from services.core.errors import DomainError
from services.onboarding import enterprise
from services.onboarding import invites as invitations
from services.onboarding.rules import FIELDS

MAX_TEXT = 200_000  # characters kept per field; the rules explain anything longer than they accept
EMPTY_MESSAGES = dict.fromkeys(FIELDS, "")


fmt_date = fmt.day


class EnterpriseRequestState(MemberArea, rx.State):
    """The form's text, the per-field messages and the requester's own requests. Nothing else."""

    org_name: str = ""
    billing_address: str = ""
    user_emails: str = ""
    admin_emails: str = ""
    tokens: str = ""
    training_tokens: str = ""
    notes: str = ""
    messages: dict[str, str] = dict(EMPTY_MESSAGES)
    checked: bool = False  # the rules ran on the current values
    valid: bool = False
    unregistered: list[str] = []
    invites: list[dict[str, str]] = []  # [{"email", "status", "link"}] of the last invitation run
    requests: list[dict[str, str]] = []
    notes_inbox: list[dict[str, str]] = []
    error: str = ""
    notice: str = ""

    def _form(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS}

    async def _refresh_lists(self, info) -> None:
        actor = info.actor()

        def read(db):
            return (enterprise.my_requests(db, actor=actor), notifications.my_notifications(db, actor=actor))

        mine, inbox = await in_db(read, read=True)
        self.requests = [{"id": str(r["id"]), "org_name": r["org_name"], "status": r["status"],
                          "status_label": r["status_label"], "users": str(r["users"]),
                          "tokens": f"{r['tokens']:,}", "reason": r["reason"], "created": fmt_date(r["created_at"])}
                         for r in mine]
        self.notes_inbox = [{"title": n["title"], "body": n["body"], "when": fmt_date(n["created_at"]),
                             "read": "yes" if n["read"] else ""} for n in inbox]

    @rx.event
    async def load(self):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        self.error = ""
        try:
            await self._refresh_lists(info)
        except DomainError as e:
            self.error = e.message
        return None

    async def _validate(self, info) -> None:
        form = self._form()
        check = await in_db(lambda db: enterprise.validate(db, actor=info.actor(), data=form), read=True)
        self.messages = {f: " ".join(check.messages[f]) for f in FIELDS}
        self.unregistered = check.unregistered
        self.valid, self.checked = check.ok, True

    @rx.event
    async def edit(self, field: str, value: str):
        """One field changed (debounced in the browser): keep the text, re-run the rules."""
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        if field not in FIELDS or not isinstance(value, str):
            return None
        setattr(self, field, value[:MAX_TEXT])
        self.notice = ""
        try:
            await self._validate(info)
        except DomainError as e:
            self.error = e.message
        return None

    @rx.event
    async def invite(self):
        """Invite the e-mails the rules found unregistered (taken from the server's last check, not the browser)."""
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        targets = list(self.unregistered)
        if not targets:
            return None
        try:
            out = await in_db(lambda db: invitations.invite(db, actor=info.actor(), emails=targets))
            await self._validate(info)
        except DomainError as e:
            self.error = e.message
            return None
        self.invites = [{"email": o["email"], "status": "mailed" if o["sent"] else o["status"], "link": o["link"]}
                        for o in out]
        self.error = ""
        return None

    @rx.event
    async def submit(self):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        form = self._form()
        try:
            await self._validate(info)
            if not self.valid:
                self.error = "Fix the messages below first."
                return None
            r = (await in_db(lambda db: enterprise.submit(db, actor=info.actor(), data=form))).value
            await self._refresh_lists(info)
        except DomainError as e:
            self.error = e.message
            return None
        for f in FIELDS:
            setattr(self, f, "")
        self.messages, self.checked, self.valid = dict(EMPTY_MESSAGES), False, False
        self.unregistered, self.invites, self.error = [], [], ""
        self.notice = f"Request #{r.id} for {r.org_name} was sent. You will be notified when its status changes."
        return None

    @rx.event
    async def mark_read(self):
        info = await current_session(self)
        if info is None:
            return rx.redirect(LOGIN_ROUTE)
        try:
            await in_db(lambda db: notifications.mark_all_read(db, actor=info.actor()))
            await self._refresh_lists(info)
        except DomainError as e:
            self.error = e.message
        return None
