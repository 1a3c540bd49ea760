"""Public pages around accounts: accept an invitation (`/invite?token=`), register (`/register`) and confirm
an e-mail address (`/verify-email?token=`)."""

import asyncio
import time

import reflex as rx

from admin_panel.features.signin.state import _field
from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import LOGIN_ROUTE, Public
from models import Organization
from services.auth import registration
from services.core.errors import DomainError
from services.users import invitations


def _token(state: rx.State) -> str:
    token = state.router.url.query_parameters.get("token", "")
    return token if isinstance(token, str) else ""


class InviteState(Public, rx.State):
    """Set a password with a single-use invitation link, then go to the sign-in page."""

    email: str = ""
    error: str = ""

    @rx.event
    async def load(self):
        token = _token(self)
        self.email, self.error = "", ""
        try:
            self.email = await in_db(lambda db: invitations.peek(db, token=token), read=True)
        except DomainError as e:
            self.error = e.message

    @rx.event
    async def accept(self, form_data: dict):
        token = _token(self)
        password, confirm = _field(form_data, "password"), _field(form_data, "confirm")
        if password != confirm:
            self.error = "The two passwords do not match."
            return None
        try:
            await in_db(lambda db: invitations.accept(db, token=token, password=password))
        except DomainError as e:
            self.error = e.message
            return None
        self.error = ""
        return [rx.toast.success("Your password is set. Sign in to continue."), rx.redirect(LOGIN_ROUTE)]


class RegisterState(Public, rx.State):
    """Create an account; the answer is the same whether or not the address already had one."""

    message: str = ""
    error: str = ""
    field: str = ""

    @rx.event
    def clear(self):
        self.message, self.error, self.field = "", "", ""

    @rx.event
    async def register(self, form_data: dict):
        values = {f: _field(form_data, f) for f in ("email", "name", "password", "confirm")}
        if values["password"] != values["confirm"]:
            self.error, self.field = "The two passwords do not match.", "confirm"
            return
        ip = self.router.session.client_ip or ""
        started = time.monotonic()
        try:
            message = await in_db(lambda db: registration.register(
                db, email=values["email"], name=values["name"], password=values["password"], ip=ip))
        except DomainError as e:
            self.error, self.field = e.message, e.field or ""
            return
        # The same answer after the same time whether or not the address had an account (outside the transaction).
        await asyncio.sleep(registration.answer_delay(time.monotonic() - started))
        self.message, self.error, self.field = message, "", ""


class VerifyEmailState(Public, rx.State):
    """Confirm an address with the link from the e-mail (a button press, so link scanners do not use it)."""

    message: str = ""
    error: str = ""

    @rx.event
    def clear(self):
        self.message, self.error = "", ""

    @rx.event
    async def confirm(self):
        token = _token(self)
        try:
            joined = await in_db(lambda db: _confirm(db, token))
        except DomainError as e:
            self.error = e.message
            return
        self.error = ""
        self.message = (f"Your e-mail address is confirmed. You joined {joined}; an administrator will activate "
                        f"your account." if joined else
                        "Your e-mail address is confirmed. An administrator will add you to your organization.")


def _confirm(db, token) -> str:
    user = registration.verify_email(db, token=token)
    org = db.get(Organization, user.org_id) if user.org_id is not None else None
    return org.name if org is not None else ""
