"""`/enterprise/request`: any signed-in user asks for an enterprise account, with the rules checked as they
type; they invite unregistered colleagues and follow the status of their requests and its notifications."""

import reflex as rx

from admin_panel.runtime.guard import MemberArea
from admin_panel.shell.handler import Outcome, as_actor
from admin_panel.ui import formatting as fmt
from services.core import notifications
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

    async def _refresh_lists(self) -> Outcome:
        def read(db, actor):
            return (enterprise.my_requests(db, actor=actor), notifications.my_notifications(db, actor=actor))

        got = await as_actor(self, read, read=True)
        if not got:
            return got
        mine, inbox = got.value
        self.requests = [{"id": str(r["id"]), "org_name": r["org_name"], "status": r["status"],
                          "status_label": r["status_label"], "users": str(r["users"]),
                          "tokens": f"{r['tokens']:,}", "reason": r["reason"], "created": fmt_date(r["created_at"])}
                         for r in mine]
        self.notes_inbox = [{"title": n["title"], "body": n["body"], "when": fmt_date(n["created_at"]),
                             "read": "yes" if n["read"] else ""} for n in inbox]
        return got

    @rx.event
    async def load(self):
        self.error = ""
        return (await self._refresh_lists()).reply

    async def _validate(self) -> Outcome:
        form = self._form()
        got = await as_actor(self, lambda db, actor: enterprise.validate(db, actor=actor, data=form), read=True)
        if not got:
            return got
        check = got.value
        self.messages = {f: " ".join(check.messages[f]) for f in FIELDS}
        self.unregistered = check.unregistered
        self.valid, self.checked = check.ok, True
        return got

    @rx.event
    async def edit(self, field: str, value: str):
        """One field changed (debounced in the browser): keep the text, re-run the rules."""
        if field not in FIELDS or not isinstance(value, str):
            return None
        setattr(self, field, value[:MAX_TEXT])
        self.notice = ""
        return (await self._validate()).reply

    @rx.event
    async def invite(self):
        """Invite the e-mails the rules found unregistered (taken from the server's last check, not the browser)."""
        targets = list(self.unregistered)
        if not targets:
            return None
        got = await as_actor(self, lambda db, actor: invitations.invite(db, actor=actor, emails=targets))
        if got:
            out = got.value
            got = await self._validate()
        if not got:
            return got.reply
        self.invites = [{"email": o["email"], "status": "mailed" if o["sent"] else o["status"], "link": o["link"]}
                        for o in out]
        self.error = ""
        return None

    @rx.event
    async def submit(self):
        form = self._form()
        got = await self._validate()
        if not got:
            return got.reply
        if not self.valid:
            self.error = "Fix the messages below first."
            return None
        got = await as_actor(self, lambda db, actor: enterprise.submit(db, actor=actor, data=form))
        if got:
            r = got.value.value
            got = await self._refresh_lists()
        if not got:
            return got.reply
        for f in FIELDS:
            setattr(self, f, "")
        self.messages, self.checked, self.valid = dict(EMPTY_MESSAGES), False, False
        self.unregistered, self.invites, self.error = [], [], ""
        self.notice = f"Request #{r.id} for {r.org_name} was sent. You will be notified when its status changes."
        return None

    @rx.event
    async def mark_read(self):
        got = await as_actor(self, lambda db, actor: notifications.mark_all_read(db, actor=actor))
        if got:
            got = await self._refresh_lists()
        return got.reply
